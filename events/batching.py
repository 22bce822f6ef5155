"""Split long lists across events so each entry stays within EventBridge's 256 KB limit."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

# EventBridge counts the whole entry; leave room for the envelope and the detail's other fields.
MAX_DETAIL_LIST_BYTES = 200_000


def chunk_by_size(
    items: Sequence[dict[str, Any]], limit: int = MAX_DETAIL_LIST_BYTES
) -> Iterator[list[dict[str, Any]]]:
    """Consecutive chunks whose JSON fits in `limit` bytes; always at least one chunk (maybe empty)."""
    chunk: list[dict[str, Any]] = []
    size = 2
    for item in items:
        item_size = len(json.dumps(item)) + 1
        if chunk and size + item_size > limit:
            yield chunk
            chunk, size = [], 2
        chunk.append(item)
        size += item_size
    yield chunk
