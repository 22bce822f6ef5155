"""Content identity of bytes or files, shared by services and adapters."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

CHUNK = 1024 * 1024


def file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            yield chunk


def content_digest(data: bytes | Path) -> tuple[str, int]:
    """(SHA-256 hex, size) of bytes or of a file, read in chunks."""
    if isinstance(data, bytes):
        return hashlib.sha256(data).hexdigest(), len(data)
    digest = hashlib.sha256()
    size = 0
    for chunk in file_chunks(data):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size
