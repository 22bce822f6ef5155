/* The inventory parser's fast path in C: plain lines summed per (warehouse, item).
 *
 * Why C: the Python fast path spends its time inside str and dict methods (mypyc gained nothing), and
 * ingest of a 1M-row file has to stay near the csv module's own speed. This module takes only lines it
 * is sure about and hands every other line back, by number, to the Python parser (services/ingest/
 * parsing.py), which stays the one judge of bad rows. A line is taken only when Python's fast path would
 * take it with the same result:
 *   - valid UTF-8 (strict, as Python decodes), at most max_line_bytes, exactly n TAB-separated fields (a
 *     final CR of a CRLF line is dropped, as Python's strip() drops it from the last field), no column
 *     starting with '"' (Python's slow path takes a line with a '"' and gives the same row unless it
 *     unquotes a column, which it does only to one written "...");
 *   - Timestamp exactly YYYY-MM-DDTHH:MM:SS, optionally .fff or .ffffff, then Z, +HH:MM, -HH:MM or
 *     nothing (UTC), year 0002-9998 (no overflow once moved to UTC);
 *   - StockLevelChange an optional '-' and 1-9 ASCII digits;
 *   - WarehouseName and ItemId non-empty, at most safe_name characters; those two and ItemName all
 *     printable (Py_UNICODE_ISPRINTABLE, what str.isprintable uses) and not starting or ending with a
 *     space (the only printable whitespace), so strip() would not change them.
 * The sums keep, per pair, the name of the row with the greatest (timestamp, line): the same as folding
 * the rows in file order, whatever order the Python parser adds its rows in.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    uint64_t hash;
    size_t key;       /* offset of the item id in the arena */
    size_t name;      /* offset of the name in the arena */
    uint32_t key_len;
    uint32_t name_len;
    uint32_t name_cap;
    uint32_t warehouse; /* index into the warehouse list; UINT32_MAX marks a free slot */
    int64_t change;
    int64_t name_time;
    int64_t name_line; /* -1: no name yet */
} Entry;

typedef struct {
    uint64_t hash;
    size_t key;
    uint32_t len;
    uint32_t used;
} WarehouseSlot;

typedef struct {
    PyObject_HEAD
    /* layout of the header */
    Py_ssize_t n_fields, i_ts, i_wh, i_id, i_name, i_change, safe_name, max_line_bytes;
    int64_t no_name_time;
    /* byte arena for keys and names */
    char *arena;
    size_t arena_len, arena_cap;
    /* (warehouse, item) table */
    Entry *entries;
    size_t cap, count;
    /* warehouse table: name -> index */
    WarehouseSlot *wh_slots;
    size_t wh_cap, wh_count;
    size_t *wh_keys; /* index -> arena offset */
    uint32_t *wh_lens;
    size_t wh_list_cap;
    /* counts */
    long long good_rows;
    int64_t total;
} Sums;

#define FREE_SLOT UINT32_MAX

/* One good row, checked and not yet folded in: its text points into the block being fed. */
typedef struct {
    const char *id, *name;
    size_t id_len, name_len;
    int64_t ts, line, change;
    uint32_t warehouse;
    uint64_t hash;
} Row;

static uint64_t hash_bytes(const char *p, size_t n, uint64_t seed) {
    /* Python's own keyed hash of bytes (SipHash with the process's random secret), as its dicts use:
     * item ids come from uploaded files, and a fixed hash would let a crafted file collide every key
     * into one probe chain. The seed (the warehouse's index) keeps equal ids of two warehouses apart. */
    uint64_t h = (uint64_t)_Py_HashBytes(p, (Py_ssize_t)n) ^ (seed * 0x9E3779B97F4A7C15ULL);
    h ^= h >> 32;
    return h * 0xD6E8FEB86659FD93ULL;
}

static int arena_reserve(Sums *s, size_t more) {
    if (s->arena_len + more <= s->arena_cap) return 0;
    size_t cap = s->arena_cap ? s->arena_cap : (1 << 20);
    while (cap < s->arena_len + more) cap *= 2;
    char *a = PyMem_RawRealloc(s->arena, cap);
    if (!a) return -1;
    s->arena = a;
    s->arena_cap = cap;
    return 0;
}

static int64_t arena_put(Sums *s, const char *p, size_t n, size_t extra) {
    if (arena_reserve(s, n + extra) < 0) return -1;
    size_t off = s->arena_len;
    if (n) memcpy(s->arena + off, p, n);
    s->arena_len += n + extra;
    return (int64_t)off;
}

static int grow_entries(Sums *s) {
    size_t cap = s->cap ? s->cap * 2 : 1024;
    Entry *e = PyMem_RawMalloc(cap * sizeof(Entry));
    if (!e) return -1;
    for (size_t i = 0; i < cap; i++) e[i].warehouse = FREE_SLOT;
    for (size_t i = 0; i < s->cap; i++) {
        if (s->entries[i].warehouse == FREE_SLOT) continue;
        size_t j = s->entries[i].hash & (cap - 1);
        while (e[j].warehouse != FREE_SLOT) j = (j + 1) & (cap - 1);
        e[j] = s->entries[i];
    }
    PyMem_RawFree(s->entries);
    s->entries = e;
    s->cap = cap;
    return 0;
}

static int grow_warehouses(Sums *s) {
    size_t cap = s->wh_cap ? s->wh_cap * 2 : 64;
    WarehouseSlot *w = PyMem_RawCalloc(cap, sizeof(WarehouseSlot));
    if (!w) return -1;
    for (size_t i = 0; i < s->wh_cap; i++) {
        if (!s->wh_slots[i].used) continue;
        size_t j = s->wh_slots[i].hash & (cap - 1);
        while (w[j].used) j = (j + 1) & (cap - 1);
        w[j] = s->wh_slots[i];
    }
    PyMem_RawFree(s->wh_slots);
    s->wh_slots = w;
    s->wh_cap = cap;
    return 0;
}

/* The index of a warehouse name, added if new; -1 on memory error. */
static int64_t warehouse_index(Sums *s, const char *p, size_t n) {
    if ((s->wh_count + 1) * 2 > s->wh_cap && grow_warehouses(s) < 0) return -1;
    uint64_t h = hash_bytes(p, n, 0);
    size_t j = h & (s->wh_cap - 1);
    while (s->wh_slots[j].used) {
        WarehouseSlot *w = &s->wh_slots[j];
        if (w->hash == h && w->len == n && memcmp(s->arena + w->key, p, n) == 0) return w->used - 1;
        j = (j + 1) & (s->wh_cap - 1);
    }
    if (s->wh_count == s->wh_list_cap) {
        size_t cap = s->wh_list_cap ? s->wh_list_cap * 2 : 64;
        size_t *keys = PyMem_RawRealloc(s->wh_keys, cap * sizeof(size_t));
        if (!keys) return -1;
        s->wh_keys = keys;
        uint32_t *lens = PyMem_RawRealloc(s->wh_lens, cap * sizeof(uint32_t));
        if (!lens) return -1;
        s->wh_lens = lens;
        s->wh_list_cap = cap;
    }
    int64_t off = arena_put(s, p, n, 0);
    if (off < 0) return -1;
    s->wh_slots[j].hash = h;
    s->wh_slots[j].key = (size_t)off;
    s->wh_slots[j].len = (uint32_t)n;
    s->wh_slots[j].used = (uint32_t)(s->wh_count + 1);
    s->wh_keys[s->wh_count] = (size_t)off;
    s->wh_lens[s->wh_count] = (uint32_t)n;
    return (int64_t)s->wh_count++;
}

/* A row's warehouse index and key hash; -1 on memory error (a Python exception is set). */
static int locate(Sums *s, const char *wh, size_t wh_len, Row *row) {
    int64_t w = warehouse_index(s, wh, wh_len);
    if (w < 0) {
        PyErr_NoMemory();
        return -1;
    }
    row->warehouse = (uint32_t)w;
    row->hash = hash_bytes(row->id, row->id_len, (uint64_t)w + 1);
    return 0;
}

/* Fold one located row in; -1 on memory error (a Python exception is set), -2 when a sum leaves int64. */
static int fold(Sums *s, const Row *row) {
    const char *id = row->id, *name = row->name;
    size_t id_len = row->id_len, name_len = row->name_len;
    int64_t ts = row->ts, line = row->line, change = row->change;
    uint32_t w = row->warehouse;
    uint64_t h = row->hash;
    if ((s->count + 1) * 10 > s->cap * 7 && grow_entries(s) < 0) {
        PyErr_NoMemory();
        return -1;
    }
    size_t j = h & (s->cap - 1);
    Entry *e;
    for (;;) {
        e = &s->entries[j];
        if (e->warehouse == FREE_SLOT) break;
        if (e->hash == h && e->warehouse == w && e->key_len == id_len &&
            memcmp(s->arena + e->key, id, id_len) == 0)
            break;
        j = (j + 1) & (s->cap - 1);
    }
    if (__builtin_add_overflow(s->total, change, &s->total)) return -2;
    s->good_rows++;
    if (e->warehouse == FREE_SLOT) {
        int64_t key = arena_put(s, id, id_len, 0);
        if (key < 0) {
            PyErr_NoMemory();
            return -1;
        }
        e = &s->entries[j]; /* the arena may have moved, the table has not */
        e->hash = h;
        e->warehouse = w;
        e->key = (size_t)key;
        e->key_len = (uint32_t)id_len;
        e->change = change;
        e->name_len = e->name_cap = 0;
        e->name = 0;
        e->name_time = s->no_name_time;
        e->name_line = -1;
        s->count++;
    } else if (__builtin_add_overflow(e->change, change, &e->change)) {
        return -2;
    }
    if (name_len == 0) return 0;
    if (e->name_line >= 0 && (ts < e->name_time || (ts == e->name_time && line < e->name_line))) return 0;
    e->name_time = ts;
    e->name_line = line;
    if (name_len == e->name_len && memcmp(s->arena + e->name, name, name_len) == 0) return 0;
    if (name_len > e->name_cap) {
        int64_t off = arena_put(s, name, name_len, 0);
        if (off < 0) {
            PyErr_NoMemory();
            return -1;
        }
        e->name = (size_t)off;
        e->name_cap = (uint32_t)name_len;
    } else {
        memcpy(s->arena + e->name, name, name_len);
    }
    e->name_len = (uint32_t)name_len;
    return 0;
}

/* ------------------------------------------------------------------ checks of one line */

/* Length of the valid UTF-8 sequence at p (at most n bytes left), its code point in *cp; 0 if invalid. */
static int utf8_char(const unsigned char *p, size_t n, Py_UCS4 *cp) {
    unsigned char c = p[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        if (n < 2 || (p[1] & 0xC0) != 0x80) return 0;
        *cp = ((Py_UCS4)(c & 0x1F) << 6) | (p[1] & 0x3F);
        return 2;
    }
    if (c >= 0xE0 && c <= 0xEF) {
        if (n < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80) return 0;
        if (c == 0xE0 && p[1] < 0xA0) return 0; /* overlong */
        if (c == 0xED && p[1] > 0x9F) return 0; /* surrogate */
        *cp = ((Py_UCS4)(c & 0x0F) << 12) | ((Py_UCS4)(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (n < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80) return 0;
        if (c == 0xF0 && p[1] < 0x90) return 0; /* overlong */
        if (c == 0xF4 && p[1] > 0x8F) return 0; /* beyond U+10FFFF */
        *cp = ((Py_UCS4)(c & 0x07) << 18) | ((Py_UCS4)(p[1] & 0x3F) << 12) | ((Py_UCS4)(p[2] & 0x3F) << 6) |
              (p[3] & 0x3F);
        return 4;
    }
    return 0;
}

static int valid_utf8(const unsigned char *p, size_t n) {
    size_t i = 0;
    while (i < n) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        Py_UCS4 cp;
        int k = utf8_char(p + i, n - i, &cp);
        if (!k) return 0;
        i += (size_t)k;
    }
    return 1;
}

/* Characters in a printable name that strip() leaves as it is, or -1 (valid UTF-8 is known). */
static Py_ssize_t printable_chars(const unsigned char *p, size_t n) {
    if (n && (p[0] == ' ' || p[n - 1] == ' ')) return -1;
    Py_ssize_t chars = 0;
    size_t i = 0;
    while (i < n) {
        unsigned char c = p[i];
        if (c < 0x80) {
            if (c < 0x20 || c == 0x7F) return -1;
            i++;
        } else {
            Py_UCS4 cp;
            int k = utf8_char(p + i, n - i, &cp);
            if (!k || !Py_UNICODE_ISPRINTABLE(cp)) return -1;
            i += (size_t)k;
        }
        chars++;
    }
    return chars;
}

static int digits(const char *p, int n, int *out) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') return 0;
        v = v * 10 + (p[i] - '0');
    }
    *out = v;
    return 1;
}

static int64_t days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* Microseconds since 1970 UTC of a strict timestamp; 0 if the text is not one (see the top comment). */
static int parse_ts(const char *p, size_t n, int64_t *out) {
    static const int month_days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h, mi, sec, frac = 0, oh = 0, om = 0, sign = 0;
    if (n < 19 || p[4] != '-' || p[7] != '-' || p[10] != 'T' || p[13] != ':' || p[16] != ':') return 0;
    if (!digits(p, 4, &y) || !digits(p + 5, 2, &mo) || !digits(p + 8, 2, &d) || !digits(p + 11, 2, &h) ||
        !digits(p + 14, 2, &mi) || !digits(p + 17, 2, &sec))
        return 0;
    size_t i = 19;
    if (i < n && p[i] == '.') {
        size_t start = ++i;
        while (i < n && p[i] >= '0' && p[i] <= '9') i++;
        if (i - start == 3) {
            digits(p + start, 3, &frac);
            frac *= 1000;
        } else if (i - start == 6) {
            digits(p + start, 6, &frac);
        } else {
            return 0;
        }
    }
    if (i < n) {
        if (p[i] == 'Z' && i + 1 == n) {
            /* UTC */
        } else if ((p[i] == '+' || p[i] == '-') && i + 6 == n && p[i + 3] == ':') {
            if (!digits(p + i + 1, 2, &oh) || !digits(p + i + 4, 2, &om) || oh > 23 || om > 59) return 0;
            sign = p[i] == '-' ? -1 : 1;
        } else {
            return 0;
        }
    }
    if (y < 2 || y > 9998 || mo < 1 || mo > 12 || h > 23 || mi > 59 || sec > 59 || d < 1) return 0;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > month_days[mo - 1] + (mo == 2 && leap)) return 0;
    int64_t seconds = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - sign * (oh * 3600 + om * 60);
    *out = seconds * 1000000 + frac;
    return 1;
}

/* The change: an optional '-' and 1-9 digits. */
static int parse_change(const char *p, size_t n, int64_t *out) {
    int negative = n > 0 && p[0] == '-';
    size_t start = negative ? 1 : 0;
    if (n - start < 1 || n - start > 9) return 0;
    int v;
    if (!digits(p + start, (int)(n - start), &v)) return 0;
    *out = negative ? -(int64_t)v : v;
    return 1;
}

#define MAX_FIELDS 64

/* 1: a good row, in *row; 2: a blank line (nothing to fold); 0: left to Python; -1 as locate. */
static int check_line(Sums *s, const char *line, size_t len, int64_t line_no, Row *row) {
    if (len > (size_t)s->max_line_bytes) return 0;
    if (len && line[len - 1] == '\r') len--;
    if (len == 0) return 2;
    if (s->n_fields > MAX_FIELDS) return 0;
    const char *start[MAX_FIELDS];
    size_t size[MAX_FIELDS];
    Py_ssize_t f = 0;
    const char *p = line, *end = line + len;
    for (;;) {
        const char *tab = memchr(p, '\t', (size_t)(end - p));
        if (f == s->n_fields) return 0;
        start[f] = p;
        size[f] = (size_t)((tab ? tab : end) - p);
        f++;
        if (!tab) break;
        p = tab + 1;
    }
    if (f != s->n_fields) return 0;
    /* Columns the parser ignores must still be valid UTF-8 (Python decodes the whole line); the three
     * name columns are checked character by character below, Timestamp and change are ASCII by form. */
    for (Py_ssize_t i = 0; i < f; i++) {
        if (i == s->i_ts || i == s->i_wh || i == s->i_id || i == s->i_name || i == s->i_change) continue;
        if (!valid_utf8((const unsigned char *)start[i], size[i])) return 0;
    }
    /* Python's slow path (any '"' in the line) unquotes a column written "...": C takes a '"' inside a
     * name but leaves a column starting with one to Python; by form no '"' is in Timestamp or change. */
    if ((size[s->i_wh] && start[s->i_wh][0] == '"') || (size[s->i_id] && start[s->i_id][0] == '"') ||
        (size[s->i_name] && start[s->i_name][0] == '"'))
        return 0;
    int64_t ts, change;
    if (!parse_ts(start[s->i_ts], size[s->i_ts], &ts) ||
        !parse_change(start[s->i_change], size[s->i_change], &change))
        return 0;
    const unsigned char *wh = (const unsigned char *)start[s->i_wh], *id = (const unsigned char *)start[s->i_id];
    size_t wh_len = size[s->i_wh], id_len = size[s->i_id];
    Py_ssize_t chars = printable_chars(wh, wh_len);
    if (chars < 1 || chars > s->safe_name) return 0;
    chars = printable_chars(id, id_len);
    if (chars < 1 || chars > s->safe_name) return 0;
    if (printable_chars((const unsigned char *)start[s->i_name], size[s->i_name]) < 0) return 0;
    row->id = (const char *)id;
    row->id_len = id_len;
    row->name = start[s->i_name];
    row->name_len = size[s->i_name];
    row->ts = ts;
    row->line = line_no;
    row->change = change;
    return locate(s, (const char *)wh, wh_len, row) < 0 ? -1 : 1;
}

/* Rows are folded in batches: the table is ~10x the CPU's L2 cache, and a row's slot, key and name are
 * three cache misses in a row. Checking a batch prefetches every row's slot, then every slot's key and
 * name, so the misses of a batch overlap instead of following each other. The result is the same as
 * folding each row as it is checked (a pair's sum and newest name do not depend on the order). */
#define BATCH 16

static int fold_batch(Sums *s, const Row *rows, int n) {
    if ((s->count + (size_t)n) * 10 <= s->cap * 7) {
        for (int i = 0; i < n; i++) {
            const Entry *e = &s->entries[rows[i].hash & (s->cap - 1)];
            if (e->warehouse != FREE_SLOT) {
                __builtin_prefetch(s->arena + e->key);
                __builtin_prefetch(s->arena + e->name);
            }
        }
    }
    for (int i = 0; i < n; i++) {
        int r = fold(s, &rows[i]);
        if (r < 0) return r;
    }
    return 0;
}

static PyObject *overflow(void) {
    PyErr_SetString(PyExc_OverflowError, "a summed StockLevelChange is beyond 64 bits");
    return NULL;
}

/* ------------------------------------------------------------------ the Python type */

static int Sums_init(Sums *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"n_fields", "ts",        "warehouse",      "item_id",      "item_name",
                             "change",   "safe_name", "max_line_bytes", "no_name_time", NULL};
    long long no_name_time;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "nnnnnnnnL", kwlist, &self->n_fields, &self->i_ts, &self->i_wh,
                                     &self->i_id, &self->i_name, &self->i_change, &self->safe_name,
                                     &self->max_line_bytes, &no_name_time))
        return -1;
    Py_ssize_t idx[] = {self->i_ts, self->i_wh, self->i_id, self->i_name, self->i_change};
    for (int i = 0; i < 5; i++) {
        if (idx[i] < 0 || idx[i] >= self->n_fields) {
            PyErr_SetString(PyExc_ValueError, "column index outside the header");
            return -1;
        }
    }
    self->no_name_time = no_name_time;
    return 0;
}

static void Sums_clear(Sums *self) {
    PyMem_RawFree(self->arena);
    PyMem_RawFree(self->entries);
    PyMem_RawFree(self->wh_slots);
    PyMem_RawFree(self->wh_keys);
    PyMem_RawFree(self->wh_lens);
    self->arena = NULL;
    self->entries = NULL;
    self->wh_slots = NULL;
    self->wh_keys = NULL;
    self->wh_lens = NULL;
    self->arena_len = self->arena_cap = self->cap = self->count = 0;
    self->wh_cap = self->wh_count = self->wh_list_cap = 0;
}

static void Sums_dealloc(Sums *self) {
    Sums_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

PyDoc_STRVAR(feed_doc,
             "feed(block, first_line) -> list of (line number, line bytes)\n\n"
             "Sum the plain lines of a block of LF-separated lines; return the others for the Python parser.");

static PyObject *Sums_feed(Sums *self, PyObject *args) {
    Py_buffer buf;
    long long first_line;
    if (!PyArg_ParseTuple(args, "y*L", &buf, &first_line)) return NULL;
    PyObject *left = PyList_New(0);
    if (!left) {
        PyBuffer_Release(&buf);
        return NULL;
    }
    const char *p = buf.buf, *end = p + buf.len;
    int64_t line_no = first_line;
    Row rows[BATCH];
    int batched = 0;
    for (;;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        int r = check_line(self, p, (size_t)(stop - p), line_no, &rows[batched]);
        if (r == 1) {
            if (self->cap) __builtin_prefetch(&self->entries[rows[batched].hash & (self->cap - 1)]);
            if (++batched == BATCH) {
                int folded = fold_batch(self, rows, batched);
                batched = 0;
                if (folded < 0) r = folded;
            }
        }
        if (r < 0) {
            Py_DECREF(left);
            PyBuffer_Release(&buf);
            return r == -2 ? overflow() : NULL;
        }
        if (r == 0) {
            PyObject *item = Py_BuildValue("Ly#", (long long)line_no, p, (Py_ssize_t)(stop - p));
            if (!item || PyList_Append(left, item) < 0) {
                Py_XDECREF(item);
                Py_DECREF(left);
                PyBuffer_Release(&buf);
                return NULL;
            }
            Py_DECREF(item);
        }
        if (!nl) break;
        p = nl + 1;
        line_no++;
    }
    int r = fold_batch(self, rows, batched);
    PyBuffer_Release(&buf);
    if (r < 0) {
        Py_DECREF(left);
        return r == -2 ? overflow() : NULL;
    }
    return left;
}

PyDoc_STRVAR(add_doc, "add(warehouse, item_id, item_name, name_time, line, change)\n\n"
                      "Fold in a good row the Python parser read (name_time in microseconds since 1970 UTC).");

static PyObject *Sums_add(Sums *self, PyObject *args) {
    const char *wh, *id, *name;
    Py_ssize_t wh_len, id_len, name_len;
    long long ts, line, change;
    if (!PyArg_ParseTuple(args, "s#s#s#LLL", &wh, &wh_len, &id, &id_len, &name, &name_len, &ts, &line, &change))
        return NULL;
    Row row = {id, name, (size_t)id_len, (size_t)name_len, ts, line, change, 0, 0};
    if (locate(self, wh, (size_t)wh_len, &row) < 0) return NULL;
    int r = fold(self, &row);
    if (r == -2) return overflow();
    if (r < 0) return NULL;
    Py_RETURN_NONE;
}

PyDoc_STRVAR(pairs_doc, "pairs(tuple_type) -> list of tuple_type(warehouse, item_id, item_name, name_time, change)\n\n"
                        "The sums, one per pair, sorted by the UTF-8 bytes of (warehouse, item_id) as SQLite's\n"
                        "BINARY collation sorts them (a B-tree then loads them in order); the memory is freed.");

/* qsort has no context argument: the table being sorted, set for the duration of one pairs() call
 * (the GIL is held throughout, so no other call can interleave). */
static const Sums *sorting;
static uint32_t *warehouse_rank;

static int compare_bytes(const char *a, size_t an, const char *b, size_t bn) {
    int c = memcmp(a, b, an < bn ? an : bn);
    return c ? c : (an > bn) - (an < bn);
}

static int compare_warehouses(const void *x, const void *y) {
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return compare_bytes(sorting->arena + sorting->wh_keys[a], sorting->wh_lens[a],
                         sorting->arena + sorting->wh_keys[b], sorting->wh_lens[b]);
}

/* An entry with its sort key: the warehouse's rank in the high bits, then the item id's first bytes
 * (zero-padded). Keys that differ order the entries as the full comparison does; equal keys fall back to
 * it. Sorting these in place touches the arena only on ties, not twice per comparison. */
typedef struct {
    uint64_t key;
    Entry *entry;
} SortKey;

static int compare_entries(const void *x, const void *y) {
    const SortKey *ka = x, *kb = y;
    if (ka->key != kb->key) return ka->key < kb->key ? -1 : 1;
    const Entry *a = ka->entry, *b = kb->entry;
    uint32_t ra = warehouse_rank[a->warehouse], rb = warehouse_rank[b->warehouse];
    if (ra != rb) return ra < rb ? -1 : 1;
    return compare_bytes(sorting->arena + a->key, a->key_len, sorting->arena + b->key, b->key_len);
}

static uint64_t sort_key(const Sums *s, const Entry *e, int rank_bits) {
    int prefix = (64 - rank_bits) / 8;
    uint64_t key = warehouse_rank[e->warehouse];
    const unsigned char *id = (const unsigned char *)s->arena + e->key;
    for (int i = 0; i < prefix; i++) key = (key << 8) | (i < (int)e->key_len ? id[i] : 0);
    return key << (64 - rank_bits - 8 * prefix);
}

/* Entries in (warehouse, item_id) byte order, or NULL (memory error set). */
static Entry **sorted_entries(Sums *self) {
    Entry **order = PyMem_RawMalloc((self->count ? self->count : 1) * sizeof(Entry *));
    SortKey *keys = PyMem_RawMalloc((self->count ? self->count : 1) * sizeof(SortKey));
    uint32_t *by_name = PyMem_RawMalloc((self->wh_count ? self->wh_count : 1) * sizeof(uint32_t));
    uint32_t *rank = PyMem_RawMalloc((self->wh_count ? self->wh_count : 1) * sizeof(uint32_t));
    if (!order || !keys || !by_name || !rank) {
        PyMem_RawFree(order);
        PyMem_RawFree(keys);
        PyMem_RawFree(by_name);
        PyMem_RawFree(rank);
        PyErr_NoMemory();
        return NULL;
    }
    sorting = self;
    for (uint32_t w = 0; w < self->wh_count; w++) by_name[w] = w;
    qsort(by_name, self->wh_count, sizeof(uint32_t), compare_warehouses);
    for (uint32_t r = 0; r < self->wh_count; r++) rank[by_name[r]] = r;
    warehouse_rank = rank;
    int rank_bits = self->wh_count <= (1u << 16) ? 16 : 32;
    size_t k = 0;
    for (size_t i = 0; i < self->cap; i++) {
        Entry *e = &self->entries[i];
        if (e->warehouse == FREE_SLOT) continue;
        keys[k].key = sort_key(self, e, rank_bits);
        keys[k++].entry = e;
    }
    qsort(keys, k, sizeof(SortKey), compare_entries);
    for (size_t i = 0; i < k; i++) order[i] = keys[i].entry;
    PyMem_RawFree(keys);
    sorting = NULL;
    warehouse_rank = NULL;
    PyMem_RawFree(by_name);
    PyMem_RawFree(rank);
    return order;
}

static PyObject *Sums_pairs(Sums *self, PyObject *tuple_type) {
    if (!PyType_Check(tuple_type) || !PyType_IsSubtype((PyTypeObject *)tuple_type, &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "pairs() needs a tuple type");
        return NULL;
    }
    PyTypeObject *type = (PyTypeObject *)tuple_type;
    PyObject *out = PyList_New((Py_ssize_t)self->count);
    PyObject *names = PyList_New((Py_ssize_t)self->wh_count);
    if (!out || !names) goto error;
    for (size_t w = 0; w < self->wh_count; w++) {
        PyObject *name = PyUnicode_DecodeUTF8(self->arena + self->wh_keys[w], self->wh_lens[w], "strict");
        if (!name) goto error;
        PyList_SET_ITEM(names, (Py_ssize_t)w, name);
    }
    Entry **order = sorted_entries(self);
    if (!order) goto error;
    for (size_t k = 0; k < self->count; k++) {
        Entry *e = order[k];
        /* The entries and their text are scattered: fetch ahead, the entry before its text. */
        if (k + 16 < self->count) __builtin_prefetch(order[k + 16]);
        if (k + 8 < self->count) {
            __builtin_prefetch(self->arena + order[k + 8]->key);
            __builtin_prefetch(self->arena + order[k + 8]->name);
        }
        PyObject *item = PyUnicode_DecodeUTF8(self->arena + e->key, e->key_len, "strict");
        PyObject *name = PyUnicode_DecodeUTF8(self->arena + e->name, e->name_len, "strict");
        PyObject *time = PyLong_FromLongLong(e->name_time);
        PyObject *change = PyLong_FromLongLong(e->change);
        PyObject *t = (item && name && time && change) ? type->tp_alloc(type, 5) : NULL;
        if (!t) {
            Py_XDECREF(item);
            Py_XDECREF(name);
            Py_XDECREF(time);
            Py_XDECREF(change);
            PyMem_RawFree(order);
            goto error;
        }
        PyObject *warehouse = PyList_GET_ITEM(names, e->warehouse);
        Py_INCREF(warehouse);
        PyTuple_SET_ITEM(t, 0, warehouse);
        PyTuple_SET_ITEM(t, 1, item);
        PyTuple_SET_ITEM(t, 2, name);
        PyTuple_SET_ITEM(t, 3, time);
        PyTuple_SET_ITEM(t, 4, change);
        PyList_SET_ITEM(out, (Py_ssize_t)k, t);
    }
    PyMem_RawFree(order);
    Py_DECREF(names);
    Sums_clear(self);
    return out;
error:
    Py_XDECREF(out);
    Py_XDECREF(names);
    return NULL;
}

static PyObject *Sums_good_rows(Sums *self, void *closure) { return PyLong_FromLongLong(self->good_rows); }
static PyObject *Sums_total(Sums *self, void *closure) { return PyLong_FromLongLong(self->total); }

static PyMethodDef Sums_methods[] = {
    {"feed", (PyCFunction)Sums_feed, METH_VARARGS, feed_doc},
    {"add", (PyCFunction)Sums_add, METH_VARARGS, add_doc},
    {"pairs", (PyCFunction)Sums_pairs, METH_O, pairs_doc},
    {NULL},
};

static PyGetSetDef Sums_getset[] = {
    {"good_rows", (getter)Sums_good_rows, NULL, "rows summed", NULL},
    {"total", (getter)Sums_total, NULL, "sum of every summed change", NULL},
    {NULL},
};

static PyTypeObject SumsType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "services.ingest._fastsum.Sums",
    .tp_doc = "Per-pair sums of an inventory file's plain lines (see the module's source for what is plain).",
    .tp_basicsize = sizeof(Sums),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Sums_init,
    .tp_dealloc = (destructor)Sums_dealloc,
    .tp_methods = Sums_methods,
    .tp_getset = Sums_getset,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fastsum", "The inventory parser's fast path in C (see parsing.py).", -1, NULL,
};

PyMODINIT_FUNC PyInit__fastsum(void) {
    if (PyType_Ready(&SumsType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    Py_INCREF(&SumsType);
    if (PyModule_AddObject(m, "Sums", (PyObject *)&SumsType) < 0) {
        Py_DECREF(&SumsType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
