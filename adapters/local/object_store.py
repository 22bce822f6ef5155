"""A folder laid out exactly like the bucket's keys."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from adapters.ports import NoSuchObject, ObjectInfo

CHUNK = 1024 * 1024


class FolderObjectStore:
    def __init__(self, root: Path, bucket: str = "inventory-local") -> None:
        self.root = root
        self.bucket = bucket
        # Called after each put, as S3 notifies EventBridge (the local wiring publishes an event).
        self.on_put: Callable[[ObjectInfo], None] | None = None
        root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"key escapes the bucket: {key!r}")
        return path

    def put(self, key: str, data: bytes) -> ObjectInfo:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write beside the target and rename, so a reader never sees half an object.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        info = self._info(key, path, hashlib.sha256(data).hexdigest())
        if self.on_put is not None:
            self.on_put(info)
        return info

    def head(self, key: str) -> ObjectInfo | None:
        path = self._path(key)
        if not path.is_file():
            return None
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            while chunk := fh.read(CHUNK):
                digest.update(chunk)
        return self._info(key, path, digest.hexdigest())

    def read(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise NoSuchObject(key) from None

    def stream(self, key: str) -> Iterator[bytes]:
        path = self._path(key)
        try:
            fh = path.open("rb")
        except FileNotFoundError:
            raise NoSuchObject(key) from None
        with fh:
            while chunk := fh.read(CHUNK):
                yield chunk

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        base = self.root.resolve()
        for path in sorted(base.rglob("*")):
            if not path.is_file() or path.name.startswith(".upload-"):
                continue
            key = path.relative_to(base).as_posix()
            if key.startswith(prefix):
                info = self.head(key)
                if info is not None:
                    yield info

    def _info(self, key: str, path: Path, etag: str) -> ObjectInfo:
        stat = path.stat()
        return ObjectInfo(key, stat.st_size, etag, datetime.fromtimestamp(stat.st_mtime, UTC))
