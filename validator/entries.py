"""How the checks' carried state is cut into entries of the validator's state store.

Entries must stay small (a DynamoDB item holds at most 400 KB) and a checkpoint must write few of them:
state that only grows between checkpoints (findings, seen transactions, level changes) is saved as
append-only chunks, one set per checkpoint, instead of one entry per transaction.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from validator.state import Change

SEP = "\x1f"  # the parser rejects control characters in every field, so this never occurs in one
CHUNK_ROWS = 2000
MAX_ENTRY_CHARS = 300_000


def dumps(rows: Any) -> str:
    return json.dumps(rows, ensure_ascii=False, separators=(",", ":"))


def join_lines(lines: list[str]) -> str:
    return "\n".join(lines)


def chunks(rows: list[Any], dump: Callable[[list[Any]], str] = dumps) -> list[str]:
    """`rows` as texts (JSON lists, or with `join_lines` lines) of at most CHUNK_ROWS rows and about
    MAX_ENTRY_CHARS characters each.

    Deterministic, so the chunks of a range can be rebuilt later (for a deletion's previous value).
    Lines are for the bulk state (levels, duplicate keys): fields joined with SEP are safe because no
    field holds a control character, and building them costs about half of json.dumps.
    """
    out: list[str] = []
    for start in range(0, len(rows), CHUNK_ROWS):
        out.extend(_fit(rows[start : start + CHUNK_ROWS], dump))
    return out


def _fit(rows: list[Any], dump: Callable[[list[Any]], str]) -> list[str]:
    text = dump(rows)
    if len(text) <= MAX_ENTRY_CHARS or len(rows) == 1:
        return [text]
    half = len(rows) // 2
    return _fit(rows[:half], dump) + _fit(rows[half:], dump)


class Log:
    """An append-only list saved as `<prefix><n><SEP><chunk>` entries: range n holds what was appended
    between two checkpoints. `encode` turns items into JSON rows, `decode` turns a row back; with
    `lines=True` rows are text lines (no newline, no SEP inside a field) instead of JSON."""

    def __init__(
        self,
        prefix: str,
        encode: Callable[[list[Any]], list[Any]] = lambda items: items,
        decode: Callable[[Any], Any] = lambda row: row,
        lines: bool = False,
    ) -> None:
        self.prefix = prefix
        self.encode = encode
        self.decode = decode
        self.dump: Callable[[list[Any]], str] = join_lines if lines else dumps
        self.load: Callable[[str], list[Any]] = (lambda text: text.split("\n")) if lines else json.loads
        self.items: list[Any] = []
        self.saved: list[tuple[int, int, int]] = []  # (n, start, end) of the ranges saved

    def _key(self, n: int, chunk: int) -> str:
        return f"{self.prefix}{n:09d}{SEP}{chunk:05d}"

    def save_new(self, out: dict[str, Change]) -> None:
        """Add the items appended since the last save to `out`."""
        start = self.saved[-1][2] if self.saved else 0
        if len(self.items) <= start:
            return
        n = self.saved[-1][0] + 1 if self.saved else 0
        self.saved.append((n, start, len(self.items)))
        for c, text in enumerate(chunks(self.encode(self.items[start:]), self.dump)):
            key = self._key(n, c)
            # A key deleted and written again in one change set keeps the deletion's previous value.
            out[key] = Change(text, out[key].previous if key in out else None)

    def delete_all(self, out: dict[str, Change]) -> None:
        """Add deletions of every saved entry to `out` (each with its text, for a rollback)."""
        for n, start, end in self.saved:
            for c, text in enumerate(chunks(self.encode(self.items[start:end]), self.dump)):
                key = self._key(n, c)
                # Saved in this same change set: never committed, nothing to restore on rollback.
                out[key] = Change(None, out[key].previous if key in out else text)
        self.saved = []

    def restore(self, entries: Iterable[tuple[str, str]]) -> None:
        """Rebuild from this log's entries (key without the prefix: '<n><SEP><chunk>')."""
        by_range: dict[int, list[tuple[int, str]]] = {}
        for rest, text in entries:
            n_text, chunk_text = rest.split(SEP)
            by_range.setdefault(int(n_text), []).append((int(chunk_text), text))
        for n in sorted(by_range):
            start = len(self.items)
            for _, text in sorted(by_range[n]):
                self.items.extend(self.decode(row) for row in self.load(text))
            self.saved.append((n, start, len(self.items)))
