"""Streaming parser for the TAB-separated inventory files.

Pure: it reads only the byte chunks it is given (UTF-8, or UTF-16 with a byte-order mark). One bad row
never spoils the file; it comes out as a `BadRow` next to the good `Row`s. Only a header that cannot be
read makes the whole file unusable.

The hot loop is written for speed (a million rows should take about a second): whole blocks of lines
are decoded at once, fields are checked with str methods instead of regexes, and the only object
created per good row is the `Row` itself. Ingest's `sum_inventory` goes further: plain lines are summed
in C (`_fastsum.c`, built at install when a compiler is there) and every other line comes back here.
"""

from __future__ import annotations

import codecs
import itertools
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from adapters.limits import MAX_CHANGE, MAX_NAME_BYTES, MAX_NAME_CHARS
from adapters.ports import PairDelta, from_micros, to_micros

if TYPE_CHECKING:
    from services.ingest._fastsum import Sums

_FastSums: type[Sums] | None
try:  # the fast path in C; absent without a compiler at install, and in the Lambda bundle (arm64)
    from services.ingest._fastsum import Sums as _FastSums
except ImportError:  # pragma: no cover - depends on the build
    _FastSums = None

# Whether sum_inventory sums plain lines in C (the pure-Python path gives the same results, slower).
ACCELERATED = _FastSums is not None

MAX_LINE_BYTES = 64 * 1024
RAW_CHARS = 500
VALUE_CHARS = 50

COLUMNS = ("Timestamp", "WarehouseName", "ItemId", "ItemName", "StockLevelChange")
# The name time of a pair whose rows all had an empty ItemName: earlier than any row can be, so the
# state adapters (which keep the name with the newest time) let any real name win over it, from any file.
NO_NAME_TIME = datetime.min.replace(tzinfo=UTC)
NO_NAME_MICROS = to_micros(NO_NAME_TIME)
_BOM = "\ufeff"
# Cc category: C0 controls, DEL and C1 controls. TAB never reaches a field because lines are split on it.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


class UnusableFile(Exception):
    """The whole file cannot be used; str(exc) is one clear sentence."""


@dataclass(slots=True, frozen=True)
class BadRow:
    line: int
    reason: str
    raw: str


class Row(NamedTuple):
    line: int
    ts: datetime
    warehouse: str
    item_id: str
    item_name: str
    change: int


# Moving a parsed datetime to UTC with astimezone() costs about as much as parsing it. For the usual
# "+HH:MM" offsets it is cheaper to parse the same text with "+00:00" and subtract the offset: the text
# keeps its shape, so fromisoformat accepts or rejects it exactly as it would the original.
_OFFSETS = {
    f"{sign}{hours:02d}:{minutes:02d}": (-1 if sign == "-" else 1) * timedelta(hours=hours, minutes=minutes)
    for sign in "+-"
    for hours in range(24)
    for minutes in (0, 15, 30, 45)
}

# Names this short are within both name limits whatever their characters (at most 4 UTF-8 bytes each);
# the fast path leaves longer ones to the slow path's exact check.
_SAFE_NAME_CHARS = min(MAX_NAME_CHARS, MAX_NAME_BYTES // 4)

# NamedTuple's generated __new__ is a Python function; tuple.__new__ skips it and is much cheaper.
_new_row = tuple.__new__


def _cut(value: str, limit: int = VALUE_CHARS) -> str:
    return repr(value if len(value) <= limit else value[:limit] + "…")


def _raw(line: str | bytes) -> str:
    """A bad row's text as kept and shown: without its line ending (the CR of a CRLF file would break
    the line it is shown on, in a mail or a terminal), cut to RAW_CHARS. Only bad rows pay for it."""
    text = line.decode("utf-8", errors="replace") if isinstance(line, bytes) else line
    end = len(text) - 1 if text.endswith("\r") else len(text)
    return text[: min(end, RAW_CHARS)]


def _peek(chunks: Iterable[bytes], size: int) -> tuple[bytes, Iterator[bytes]]:
    """At least the first `size` bytes (fewer only if the stream is shorter), and the chunks after them."""
    stream = iter(chunks)
    head = b""
    for chunk in stream:
        head += chunk
        if len(head) >= size:
            break
    return head, stream


def as_utf8(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The stream as UTF-8: a file that starts with a UTF-16 byte-order mark (spreadsheets' "Unicode
    text" export) is transcoded on the fly; anything else passes through untouched.

    Invalid UTF-16 (a lone surrogate, a final odd byte) becomes bytes that are invalid UTF-8, so only
    the lines holding it turn into bad rows, as they would in a UTF-8 file.
    """
    head, stream = _peek(chunks, 4)
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):  # before UTF-16: FF FE starts both
        raise UnusableFile("file is UTF-32 text; save it as UTF-8 or UTF-16")
    if not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        if head:
            yield head
        yield from stream
        return
    decoder = codecs.getincrementaldecoder("utf-16")(errors="surrogatepass")
    for chunk in itertools.chain([head], stream):
        yield decoder.decode(chunk).encode("utf-8", "surrogatepass")
    try:
        yield decoder.decode(b"", final=True).encode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        yield b"\xff"  # the truncated last character


def inventory_bytes(open_stream: Callable[[], Iterable[bytes]]) -> Iterable[bytes]:
    """The file's bytes as the parser reads them, from a function that opens the stream (it may be called
    twice).

    Excel's "Text (Tab delimited)" on Windows writes Windows-1252, not UTF-8: read as UTF-8, only its
    lines with an umlaut would be refused, and the file would be half applied (and counted twice once
    re-sent as UTF-8). So a file with lines that are not UTF-8 and none with UTF-8 beyond ASCII is read
    as Windows-1252 instead. A UTF-8 file with a few broken lines has other non-ASCII lines that are
    valid; those broken lines stay bad rows rather than becoming garbled names.
    """
    if not _legacy_8bit(open_stream()):
        return open_stream()
    return _from_windows_1252(open_stream())


def _legacy_8bit(chunks: Iterable[bytes]) -> bool:
    """Whether some line is not UTF-8 while no line holds UTF-8 beyond ASCII (stops at the first such line)."""
    head, stream = _peek(chunks, 4)
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return False  # UTF-16 (UTF-32 is refused as such): its broken characters stay bad rows
    invalid = False
    for _, block in _iter_blocks(itertools.chain([head], stream), MAX_LINE_BYTES):
        if block is None:
            continue  # an over-long line is refused as such whatever its encoding
        try:
            text = block.decode("utf-8")
        except UnicodeDecodeError:
            for raw in block.split(b"\n"):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError:
                    invalid = True
                    continue
                if not line.isascii():
                    return False
            continue
        if not text.isascii():
            return False
    return invalid


def _from_windows_1252(chunks: Iterable[bytes]) -> Iterator[bytes]:
    # One byte is one character, so chunks can be cut anywhere. The five bytes Windows-1252 leaves
    # undefined come back as they were, so their lines are still refused as not valid text.
    for chunk in chunks:
        yield chunk.decode("cp1252", errors="surrogateescape").encode("utf-8", errors="surrogateescape")


def _iter_blocks(chunks: Iterable[bytes], max_line_bytes: int) -> Iterator[tuple[int, bytes | None]]:
    """Regroup arbitrary chunks into (first line number, complete lines joined by LF).

    A block of None stands for one line that grew past the limit while waiting for its LF; its bytes
    are dropped as they arrive. Lines inside a block may still be over-long when a caller hands in
    huge chunks; consumers check that per line.
    """
    line_no = 1
    parts: list[bytes] = []
    size = 0
    skipping = False  # inside an over-long line: drop bytes up to its LF
    # Small chunks (botocore's default is 1 KiB) are joined first so per-block costs stay negligible.
    target = max(max_line_bytes, 1)
    for chunk in chunks:
        if not chunk:
            continue
        if skipping:
            nl = chunk.find(b"\n")
            if nl < 0:
                continue
            yield line_no, None
            line_no += 1
            skipping = False
            chunk = chunk[nl + 1 :]
            if not chunk:
                continue
        parts.append(chunk)
        size += len(chunk)
        if size < target:
            continue
        data = b"".join(parts) if len(parts) > 1 else parts[0]
        parts.clear()
        size = 0
        cut = data.rfind(b"\n")
        if cut >= 0:
            block = data[:cut]
            yield line_no, block
            line_no += block.count(b"\n") + 1
            data = data[cut + 1 :]
        # +1 leaves room for the CR of a CRLF line that is exactly at the limit.
        if len(data) > max_line_bytes + 1:
            skipping = True
        elif data:
            parts.append(data)
            size = len(data)
    if skipping:
        yield line_no, None
    elif parts:
        data = b"".join(parts)
        # A final LF ends the last line; it does not start an empty one.
        yield line_no, data[:-1] if data.endswith(b"\n") else data


def iter_lines(chunks: Iterable[bytes], max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[tuple[int, bytes | None]]:
    """Split a byte stream into (line number from 1, line without LF/CRLF); None for an over-long line."""
    for start, block in _iter_blocks(chunks, max_line_bytes):
        if block is None:
            yield start, None
            continue
        for line_no, line in enumerate(block.split(b"\n"), start):
            if line.endswith(b"\r"):
                line = line[:-1]
            yield line_no, (None if len(line) > max_line_bytes else line)


def _unquote(field: str) -> str:
    if len(field) >= 2 and field[0] == '"' and field[-1] == '"':
        return field[1:-1].replace('""', '"')
    return field


@dataclass(slots=True, frozen=True)
class _Header:
    names: tuple[str, ...]  # as written, for messages
    ts: int
    warehouse: int
    item_id: int
    item_name: int
    change: int

    @classmethod
    def parse(cls, line_no: int, line: str) -> _Header:
        hint = _header_hint(line)
        # A CR inside the header means the whole file is one line: even with every column found it
        # would silently apply nothing, so it is refused whatever else the header says.
        if hint == _CR_ONLY:
            raise UnusableFile(f"header (line {line_no}) {hint}")
        names = tuple(_unquote(n.strip().strip(_BOM).strip()) for n in line.split("\t"))
        index: dict[str, int] = {}
        for i, name in enumerate(names):
            key = name.casefold()
            if key in index and key in _WANTED:
                raise UnusableFile(f"header (line {line_no}) names column {name} more than once")
            index.setdefault(key, i)
        missing = [c for c in COLUMNS if c.casefold() not in index]
        if missing:
            if hint is not None:
                raise UnusableFile(f"header (line {line_no}) {hint}")
            for separator in (",", ";", "|"):
                found = {_unquote(n.strip()).casefold() for n in line.strip().strip(_BOM).split(separator)}
                if found >= _WANTED:
                    raise UnusableFile(
                        f"header (line {line_no}) is separated by {separator!r}, not TAB: "
                        "export the file as tab-separated text"
                    )
            # Typed by hand, or pasted where TABs became spaces (some or all of them).
            if " " in line and {_unquote(n).casefold() for n in line.strip(_BOM).split()} >= _WANTED:
                raise UnusableFile(
                    f"header (line {line_no}) is separated by spaces, not TAB: "
                    "separate the columns with TAB (or export the file as tab-separated text)"
                )
            raise UnusableFile(
                f"header (line {line_no}) lacks column(s): {', '.join(missing)} (found {_cut(line.strip(), 120)})"
            )
        return cls(names, *(index[c.casefold()] for c in COLUMNS))


_WANTED = frozenset(c.casefold() for c in COLUMNS)


_UTF16 = "looks like UTF-16 without a byte-order mark: save the file as UTF-8 (or UTF-16 with a byte-order mark)"
_CR_ONLY = "runs into the next lines, which end with CR only: save the file with LF or CRLF line ends"


def _header_hint(text: str) -> str | None:
    """Which of two common export mistakes makes this header (or a file's first bytes) unreadable, if any."""
    # UTF-16 of ASCII text is every other byte NUL; a few NULs alone say nothing about the encoding.
    # Checked first: a UTF-16 header also holds a CR before its (NUL-padded) line end.
    if text.count("\x00") * 3 >= len(text) > 0:
        return _UTF16
    if "\r" in text.rstrip():
        return _CR_ONLY
    return None


def _long_header(line_no: int, max_line_bytes: int, head: bytes | bytearray) -> UnusableFile:
    """A header too long to read: usually one of the two export mistakes, seen in the file's first bytes."""
    hint = _header_hint(head.decode("utf-8", errors="replace"))
    if hint is not None:
        return UnusableFile(f"header (line {line_no}) {hint}")
    return UnusableFile(f"header (line {line_no}) is longer than {max_line_bytes} bytes")


def _keep_head(chunks: Iterable[bytes], head: bytearray, size: int = 4096) -> Iterator[bytes]:
    """The stream unchanged, copying its first `size` bytes into `head` (for `_long_header`'s message)."""
    stream = iter(chunks)
    for chunk in stream:
        head += chunk[: size - len(head)]
        yield chunk
        if len(head) >= size:
            break
    yield from stream


def _check_change(text: str) -> int | str:
    """The integer, or the reason it is not acceptable.

    A whole number written with a decimal point and one or two zeros after it ("5.0", "-3.00", "+7.0") is
    that integer: pandas writes an integer column that holds one NaN as floats, and a spreadsheet's
    number format writes "5.00" (threshold files take 25.0 as 25 too). Three zeros are not: "1.000" is
    one thousand where a point groups thousands (German number formats). Anything else with a point, an
    exponent or a comma ("5.5", "1e3", "5.", ".0", "5,0") is not an integer. Only the slow path gets
    here: the fast path takes plain digits only.
    """
    negative = text[:1] == "-"
    digits, point, fraction = (text[1:] if text[:1] in ("+", "-") else text).partition(".")
    # int() alone would also take "1_000", " 5" and non-ASCII digits.
    if not (digits.isascii() and digits.isdigit()) or (point and fraction not in ("0", "00")):
        return f"StockLevelChange is not an integer: {_cut(text)}"
    if len(digits) > 20 and len(digits.lstrip("0")) > 10:
        return f"StockLevelChange out of range: {_cut(text)}"
    value = -int(digits) if negative else int(digits)
    if not -MAX_CHANGE <= value <= MAX_CHANGE:
        return f"StockLevelChange out of range: {_cut(text)}"
    return value


def _align(fields: list[str], names: tuple[str, ...]) -> list[str] | str:
    """A row's fields lined up with the header's, or the reason they cannot be.

    Spreadsheets write trailing empty cells, so a row may lack trailing columns whose header name is
    empty (they carry no data) and may have extra trailing fields that are blank. Anything else means
    misaligned columns, where guessing could silently put a value in the wrong column.
    """
    n = len(names)
    if len(fields) < n:
        named = [i for i in range(len(fields), n) if names[i]]
        if not named:
            return fields + [""] * (n - len(fields))
        missing = (names[i] or f"column {i + 1} (unnamed)" for i in range(len(fields), named[-1] + 1))
        return f"missing column(s): {', '.join(missing)}"
    if any(_unquote(f.strip()).strip() for f in fields[n:]):  # `""` is as empty as nothing
        return f"{len(fields)} fields, header has {n}"
    return fields[:n]


def _slow_row(line_no: int, line: str, h: _Header) -> Row | BadRow:
    """Full checks with precise reasons; the fast path in `_parse_text` defers to this on any doubt."""
    fields = line.split("\t")
    if len(fields) != len(h.names):
        aligned = _align(fields, h.names)
        if isinstance(aligned, str):
            return BadRow(line_no, aligned, _raw(line))
        fields = aligned
    if '"' in line:
        fields = [_unquote(f.strip()) for f in fields]
    ts_text = fields[h.ts].strip()
    try:
        ts = datetime.fromisoformat(ts_text)
    except ValueError:
        return BadRow(line_no, f"Timestamp is not ISO 8601: {_cut(ts_text)}", _raw(line))
    try:
        ts = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
    except OverflowError:
        # e.g. 9999-12-31T23:00:00-05:00 is past the last datetime once moved to UTC
        return BadRow(line_no, f"Timestamp out of range in UTC: {_cut(ts_text)}", _raw(line))
    warehouse = fields[h.warehouse].strip()
    if not warehouse:
        return BadRow(line_no, "WarehouseName is empty", _raw(line))
    item_id = fields[h.item_id].strip()
    if not item_id:
        return BadRow(line_no, "ItemId is empty", _raw(line))
    change = _check_change(fields[h.change].strip())
    if isinstance(change, str):
        return BadRow(line_no, change, _raw(line))
    item_name = fields[h.item_name].strip()
    for column, value in (("WarehouseName", warehouse), ("ItemId", item_id), ("ItemName", item_name)):
        if _CONTROL.search(value):
            return BadRow(line_no, f"control character in {column}", _raw(line))
    for column, value in (("WarehouseName", warehouse), ("ItemId", item_id)):
        if len(value) > MAX_NAME_CHARS or len(value.encode()) > MAX_NAME_BYTES:
            return BadRow(
                line_no, f"{column} is longer than {MAX_NAME_CHARS} characters or {MAX_NAME_BYTES} bytes", _raw(line)
            )
    return _new_row(Row, (line_no, ts, warehouse, item_id, item_name, change))


def _parse_text(start: int, text: str, h: _Header, max_line_bytes: int) -> Iterator[Row | BadRow]:
    """The hot loop: every line of a decoded block, header already known."""
    n = len(h.names)
    i_ts, i_wh, i_id, i_name, i_change = h.ts, h.warehouse, h.item_id, h.item_name, h.change
    # Each char is at most 4 UTF-8 bytes, so shorter lines cannot be over the byte limit.
    safe_chars = max_line_bytes // 4
    safe_name = _SAFE_NAME_CHARS
    fromiso = datetime.fromisoformat
    utc = UTC
    offsets = _OFFSETS
    for line_no, line in enumerate(text.split("\n"), start):
        if not line or line.isspace():
            continue
        if len(line) > safe_chars and len(line.rstrip("\r").encode()) > max_line_bytes:
            yield BadRow(line_no, "line too long", _raw(line))
            continue
        fields = line.split("\t")
        if len(fields) != n or '"' in line:
            yield _slow_row(line_no, line, h)
            continue
        ts_text = fields[i_ts].strip()
        offset = offsets.get(ts_text[-6:])
        try:
            if offset is not None:
                ts = fromiso(ts_text[:-6] + "+00:00") - offset
            else:
                ts = fromiso(ts_text)
                ts = ts.replace(tzinfo=utc) if ts.tzinfo is None else ts.astimezone(utc)
        except (ValueError, OverflowError):
            yield _slow_row(line_no, line, h)
            continue
        change_text = fields[i_change].strip()
        warehouse = fields[i_wh].strip()
        item_id = fields[i_id].strip()
        item_name = fields[i_name].strip()
        # isprintable() is False for every control character (and for some harmless ones such as
        # NBSP, which the slow path then accepts), so it is a cheap gate in front of the exact check.
        if (
            change_text.isdigit()
            and change_text.isascii()
            and len(change_text) < 10
            and 0 < len(warehouse) <= safe_name
            and 0 < len(item_id) <= safe_name
            and warehouse.isprintable()
            and item_id.isprintable()
            and item_name.isprintable()
        ) or (
            change_text[:1] == "-"
            and change_text[1:].isdigit()
            and change_text.isascii()
            and len(change_text) < 11
            and 0 < len(warehouse) <= safe_name
            and 0 < len(item_id) <= safe_name
            and warehouse.isprintable()
            and item_id.isprintable()
            and item_name.isprintable()
        ):
            change = int(change_text)
        else:
            yield _slow_row(line_no, line, h)
            continue
        yield _new_row(Row, (line_no, ts, warehouse, item_id, item_name, change))


def _parse_bytes(start: int, block: bytes, h: _Header, max_line_bytes: int) -> Iterator[Row | BadRow]:
    """A block with some invalid UTF-8: decode line by line so only the broken lines are rejected."""
    for line_no, raw in enumerate(block.split(b"\n"), start):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            yield BadRow(line_no, "line is not valid UTF-8", _raw(raw))
            continue
        yield from _parse_text(line_no, text, h, max_line_bytes)


def _find_header(
    blocks: Iterator[tuple[int, bytes | None]], max_line_bytes: int, head: bytes | bytearray = b""
) -> tuple[_Header, int, bytes] | None:
    """The header and whatever follows it in its block, or None for a file with nothing but blank lines.

    `head` is the start of the stream (filled as the blocks are read), only to explain a header that is
    too long.
    """
    for start, block in blocks:
        if block is None:
            raise _long_header(start, max_line_bytes, head)
        lines = block.split(b"\n")
        for line_no, raw in enumerate(lines, start):
            if len(raw.rstrip(b"\r")) > max_line_bytes:
                raise _long_header(line_no, max_line_bytes, raw[:4096])
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise UnusableFile(f"header (line {line_no}) is not valid UTF-8 (byte {exc.start})") from None
            if line_no == 1:
                text = text.removeprefix(_BOM)
            if not text or text.isspace():
                continue
            header = _Header.parse(line_no, text)
            rest_index = line_no - start + 1
            return header, line_no + 1, b"\n".join(lines[rest_index:]) if rest_index < len(lines) else b""
    return None


def parse_inventory(chunks: Iterable[bytes], max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[Row | BadRow]:
    """Rows and bad rows of an inventory file, in file order.

    Raises UnusableFile before yielding anything if the header cannot be used. An empty or header-only
    file yields nothing.
    """
    head = bytearray()
    blocks = _iter_blocks(_keep_head(as_utf8(chunks), head), max_line_bytes)
    found = _find_header(blocks, max_line_bytes, head)
    if found is None:
        return
    header, start, rest = found
    pending: list[tuple[int, bytes | None]] = [(start, rest)] if rest else []
    for block_start, block in _chain(pending, blocks):
        if block is None:
            yield BadRow(block_start, "line too long", "")
            continue
        try:
            text = block.decode("utf-8")
        except UnicodeDecodeError:
            yield from _parse_bytes(block_start, block, header, max_line_bytes)
        else:
            yield from _parse_text(block_start, text, header, max_line_bytes)


def _chain(
    first: list[tuple[int, bytes | None]], rest: Iterator[tuple[int, bytes | None]]
) -> Iterator[tuple[int, bytes | None]]:
    yield from first
    yield from rest


class PairSums(NamedTuple):
    """A file reduced to one `PairDelta` per (warehouse, item), plus its bad rows: what ingest needs.

    Each pair carries its summed change and its newest name: the one on the row with the latest
    timestamp (the later line on a tie), as when folding the rows of `parse_inventory` in file order.
    An empty ItemName is no name: its change counts, but it never replaces a name; a pair without any
    name carries "" at `NO_NAME_MICROS`. `pairs` are sorted by (warehouse, item_id), as the stock table
    stores them.
    """

    pairs: list[PairDelta]
    bad_rows: list[BadRow]
    good_rows: int
    total: int

    @property
    def by_warehouse(self) -> dict[str, dict[str, list[Any]]]:
        """warehouse -> item -> [summed change, newest name, its time as a datetime]: to read and compare."""
        out: dict[str, dict[str, list[Any]]] = {}
        for warehouse, item_id, name, name_time, change in self.pairs:
            out.setdefault(warehouse, {})[item_id] = [change, name, from_micros(name_time)]
        return out


class _Fold:
    """The pure-Python accumulator: rows folded in file order (the C one compares (timestamp, line))."""

    __slots__ = ("bad_rows", "by_warehouse", "good_rows", "total")

    def __init__(self) -> None:
        # warehouse -> item -> [summed change, newest name, time of that name]
        self.by_warehouse: dict[str, dict[str, list[Any]]] = {}
        self.bad_rows: list[BadRow] = []
        self.good_rows = 0
        self.total = 0

    def add(self, row: Row | BadRow) -> None:
        """One row from the slow path (or any other source), folded in as the fast path does."""
        if type(row) is BadRow:
            self.bad_rows.append(row)
            return
        _, ts, warehouse, item_id, item_name, change = row  # type: ignore[misc]
        self.good_rows += 1
        self.total += change
        items = self.by_warehouse.setdefault(warehouse, {})
        entry = items.get(item_id)
        if entry is None:
            items[item_id] = [change, item_name, ts] if item_name else [change, "", NO_NAME_TIME]
        else:
            entry[0] += change
            if item_name and ts >= entry[2]:
                entry[1] = item_name
                entry[2] = ts

    def result(self) -> PairSums:
        new = tuple.__new__  # PairDelta's generated __new__ is a Python function; this skips it
        pairs = [
            new(PairDelta, (warehouse, item_id, name, to_micros(time), change))
            for warehouse, items in sorted(self.by_warehouse.items())
            for item_id, (change, name, time) in sorted(items.items())
        ]
        return PairSums(pairs, self.bad_rows, self.good_rows, self.total)


def sum_inventory(
    chunks: Iterable[bytes], max_line_bytes: int = MAX_LINE_BYTES, *, accelerated: bool = ACCELERATED
) -> PairSums:
    """`parse_inventory` folded into per-pair sums, without a `Row` per good row.

    Ingest's hot path: the same checks and the same results as folding `parse_inventory` (tests
    compare the two, and the C path with the pure-Python one). Raises UnusableFile as `parse_inventory`
    does.
    """
    head = bytearray()
    blocks = _iter_blocks(_keep_head(as_utf8(chunks), head), max_line_bytes)
    found = _find_header(blocks, max_line_bytes, head)
    if found is None:
        return PairSums([], [], 0, 0)
    header, start, rest = found
    pending: list[tuple[int, bytes | None]] = [(start, rest)] if rest else []
    if accelerated:
        return _sum_blocks_in_c(_chain(pending, blocks), header, max_line_bytes)
    sums = _Fold()
    for block_start, block in _chain(pending, blocks):
        if block is None:
            sums.bad_rows.append(BadRow(block_start, "line too long", ""))
            continue
        try:
            text = block.decode("utf-8")
        except UnicodeDecodeError:
            for row in _parse_bytes(block_start, block, header, max_line_bytes):
                sums.add(row)
        else:
            _sum_text(block_start, text, header, max_line_bytes, sums)
    return sums.result()


def _sum_blocks_in_c(blocks: Iterable[tuple[int, bytes | None]], h: _Header, max_line_bytes: int) -> PairSums:
    """Plain lines summed in C; every line it leaves goes through the Python parser, line by line."""
    assert _FastSums is not None
    sums = _FastSums(
        len(h.names),
        h.ts,
        h.warehouse,
        h.item_id,
        h.item_name,
        h.change,
        _SAFE_NAME_CHARS,
        max_line_bytes,
        NO_NAME_MICROS,
    )
    bad_rows: list[BadRow] = []
    for block_start, block in blocks:
        if block is None:
            bad_rows.append(BadRow(block_start, "line too long", ""))
            continue
        for line_no, raw in sums.feed(block, block_start):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                bad_rows.append(BadRow(line_no, "line is not valid UTF-8", _raw(raw)))
                continue
            for row in _parse_text(line_no, text, h, max_line_bytes):
                if type(row) is BadRow:
                    bad_rows.append(row)
                else:
                    line, ts, warehouse, item_id, item_name, change = row  # type: ignore[misc]
                    sums.add(warehouse, item_id, item_name, to_micros(ts), line, change)
    good_rows, total = sums.good_rows, sums.total
    return PairSums(sums.pairs(PairDelta), bad_rows, good_rows, total)


def _sum_text(start: int, text: str, h: _Header, max_line_bytes: int, sums: _Fold) -> None:
    """`_parse_text` with the per-pair fold inlined; keep the two loops' checks identical."""
    n = len(h.names)
    i_ts, i_wh, i_id, i_name, i_change = h.ts, h.warehouse, h.item_id, h.item_name, h.change
    safe_chars = max_line_bytes // 4
    safe_name = _SAFE_NAME_CHARS
    fromiso = datetime.fromisoformat
    utc = UTC
    offsets = _OFFSETS
    by_warehouse = sums.by_warehouse
    add = sums.add
    no_name_time = NO_NAME_TIME
    good = total = 0
    for line_no, line in enumerate(text.split("\n"), start):
        if not line or line.isspace():
            continue
        if len(line) > safe_chars and len(line.rstrip("\r").encode()) > max_line_bytes:
            add(BadRow(line_no, "line too long", _raw(line)))
            continue
        fields = line.split("\t")
        if len(fields) != n or '"' in line:
            add(_slow_row(line_no, line, h))
            continue
        ts_text = fields[i_ts].strip()
        offset = offsets.get(ts_text[-6:])
        try:
            if offset is not None:
                ts = fromiso(ts_text[:-6] + "+00:00") - offset
            else:
                ts = fromiso(ts_text)
                ts = ts.replace(tzinfo=utc) if ts.tzinfo is None else ts.astimezone(utc)
        except (ValueError, OverflowError):
            add(_slow_row(line_no, line, h))
            continue
        change_text = fields[i_change].strip()
        warehouse = fields[i_wh].strip()
        item_id = fields[i_id].strip()
        item_name = fields[i_name].strip()
        if (
            change_text.isdigit()
            and change_text.isascii()
            and len(change_text) < 10
            and 0 < len(warehouse) <= safe_name
            and 0 < len(item_id) <= safe_name
            and warehouse.isprintable()
            and item_id.isprintable()
            and item_name.isprintable()
        ) or (
            change_text[:1] == "-"
            and change_text[1:].isdigit()
            and change_text.isascii()
            and len(change_text) < 11
            and 0 < len(warehouse) <= safe_name
            and 0 < len(item_id) <= safe_name
            and warehouse.isprintable()
            and item_id.isprintable()
            and item_name.isprintable()
        ):
            change = int(change_text)
        else:
            add(_slow_row(line_no, line, h))
            continue
        good += 1
        total += change
        # Nested by warehouse: two lookups in small dicts that stay in cache beat one in a dict of
        # ~250k pairs (measured: the big dict's cache misses cost more than parsing the line).
        items = by_warehouse.get(warehouse)
        if items is None:
            items = by_warehouse[warehouse] = {}
        entry = items.get(item_id)
        if entry is None:
            items[item_id] = [change, item_name, ts] if item_name else [change, "", no_name_time]
        else:
            entry[0] += change
            if item_name and ts >= entry[2]:
                entry[1] = item_name
                entry[2] = ts
    sums.good_rows += good
    sums.total += total
