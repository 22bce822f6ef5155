"""A folder laid out exactly like the bucket's keys."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from adapters.content import content_digest, file_chunks
from adapters.ports import NoSuchObject, ObjectChanged, ObjectInfo
from kms.envelope import ObjectCipher

CHUNK = 1024 * 1024


class FolderObjectStore:
    def __init__(self, root: Path, bucket: str = "inventory-local", cipher: ObjectCipher | None = None) -> None:
        self.root = root
        self.bucket = bucket
        # With a cipher every object is stored sealed (kms.envelope) and only ever decrypted in memory.
        self.cipher = cipher
        # Called after each put, as S3 notifies EventBridge (the local wiring publishes an event).
        self.on_put: Callable[[ObjectInfo], None] | None = None
        root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"key escapes the bucket: {key!r}")
        return path

    def put(self, key: str, data: bytes | Path, digest: tuple[str, int] | None = None) -> ObjectInfo:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        etag, size = digest or content_digest(data)
        chunks: Iterable[bytes] = [data] if isinstance(data, bytes) else file_chunks(data)
        # Write beside the target and rename, so a reader never sees half an object.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as fh:
                if self.cipher is not None:
                    chunks = self.cipher.encrypt_stream(key, chunks, {"sha256": etag, "size": size})
                for chunk in chunks:
                    fh.write(chunk)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        info = ObjectInfo(key, size, etag, self._modified(path))
        if self.on_put is not None:
            self.on_put(info)
        return info

    def head(self, key: str) -> ObjectInfo | None:
        path = self._path(key)
        if not path.is_file():
            return None
        if self.cipher is not None:
            with path.open("rb") as fh:
                head = fh.read(64 * 1024)
            header = self.cipher.read_header(head, key).header
            return ObjectInfo(key, int(str(header["size"])), str(header["sha256"]), self._modified(path))
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            while chunk := fh.read(CHUNK):
                digest.update(chunk)
        return self._info(key, path, digest.hexdigest())

    def digest(self, key: str, etag: str) -> str | None:
        info = self.head(key)
        # Here the etag is the content's SHA-256 already (from the sealed header, or hashed by head).
        return info.etag if info is not None and info.etag == etag else None

    def read(self, key: str) -> bytes:
        return b"".join(self.stream(key))

    def stream(self, key: str, etag: str | None = None) -> Iterator[bytes]:
        if etag is not None:
            info = self.head(key)  # sealed: the header holds the etag; in clear (tests only) it is hashed
            if info is None:
                raise NoSuchObject(key)
            if info.etag != etag:
                raise ObjectChanged(key)
        raw = self._raw_stream(key)
        if self.cipher is None:
            return raw
        return self.cipher.decrypt_stream(key, raw)

    def _raw_stream(self, key: str) -> Iterator[bytes]:
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
        return ObjectInfo(key, path.stat().st_size, etag, self._modified(path))

    @staticmethod
    def _modified(path: Path) -> datetime:
        return datetime.fromtimestamp(path.stat().st_mtime, UTC)

    def rewrap_all(self) -> int:
        """Re-wrap every object's data key under the active master key; the ciphertext is untouched and
        each file is replaced atomically, so readers never see a half-written object."""
        if self.cipher is None:
            return 0
        count = 0
        base = self.root.resolve()
        for path in sorted(p for p in base.rglob("*") if p.is_file() and not p.name.startswith(".upload-")):
            rewrap_file(self.cipher, path, path.relative_to(base).as_posix())
            count += 1
        return count


def rewrap_file(cipher: ObjectCipher, path: Path, context: str) -> None:
    with path.open("rb") as src:
        head = src.read(64 * 1024)
        sealed = cipher.read_header(head, context)
        new_header = cipher.rewrap(context, head)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as dst:
                dst.write(new_header)
                src.seek(sealed.body_offset)
                while chunk := src.read(CHUNK):
                    dst.write(chunk)
                dst.flush()
                os.fsync(dst.fileno())
            stat = path.stat()
            os.utime(tmp, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # the object's time stays its arrival time
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
