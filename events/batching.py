"""Split long lists across events so each entry stays within EventBridge's 256 KB limit."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

# EventBridge counts the whole entry; leave room for the envelope and the detail's other fields.
MAX_DETAIL_LIST_BYTES = 200_000


def json_size(item: dict[str, Any]) -> int:
    """An upper bound of len(json.dumps(item)), cheap for the common case of plain ASCII strings."""
    size = 2
    for key, value in item.items():
        size += len(key) + 4
        if isinstance(value, str):
            if value.isascii() and value.isprintable() and '"' not in value and "\\" not in value:
                size += len(value) + 2
            else:
                size += len(json.dumps(value))
        elif isinstance(value, bool) or value is None:
            size += 5
        elif isinstance(value, int):
            size += len(str(value))
        else:
            size += len(json.dumps(value))
    return size


def chunk_by_size(
    items: Iterable[dict[str, Any]], limit: int = MAX_DETAIL_LIST_BYTES
) -> Iterator[list[dict[str, Any]]]:
    """Consecutive chunks whose JSON fits in `limit` bytes; always at least one chunk (maybe empty)."""
    chunk: list[dict[str, Any]] = []
    size = 2
    for item in items:
        item_size = json_size(item) + 1
        if chunk and size + item_size > limit:
            yield chunk
            chunk, size = [], 2
        chunk.append(item)
        size += item_size
    yield chunk


def chunk_counts(sizes: Iterable[int], limit: int = MAX_DETAIL_LIST_BYTES) -> list[int]:
    """How many consecutive items go in each chunk, given each item's (upper bound of its) JSON size."""
    counts: list[int] = []
    count, size = 0, 2
    for item_size in sizes:
        if count and size + item_size + 1 > limit:
            counts.append(count)
            count, size = 0, 2
        count += 1
        size += item_size + 1
    counts.append(count)
    return counts
