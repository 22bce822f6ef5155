"""Local envelope encryption, shaped like KMS: data keys (AES-256-GCM) wrapped by a master key.

`MasterKeyring.generate_data_key(context)` / `decrypt_data_key(wrapped, context)` mirror KMS
GenerateDataKey / Decrypt, with the context (an object key, "state.db") as associated data, so a
wrapped key or a ciphertext moved to another object fails to decrypt instead of yielding garbage.

The master key lives outside the home folder: `INVENTORY_MASTER_KEY` (base64 of 32 bytes), or the
file `INVENTORY_MASTER_KEY_FILE` (default `$XDG_CONFIG_HOME/inventory/master.key`, created 0600 on
first use). The file is a keyring: rotation adds a key, re-wraps every data key, then drops the old one.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
import struct
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class EncryptionError(Exception):
    """A missing or wrong key: one clear sentence, never garbage data."""


def default_key_file() -> Path:
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "inventory" / "master.key"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise EncryptionError(f"{what} is not valid base64") from None


@dataclass
class MasterKeyring:
    keys: dict[str, bytes]
    active: str
    path: Path | None = None

    # ------------------------------------------------------------------ loading

    @classmethod
    def load(cls, key_b64: str | None, key_file: Path | None, create: bool) -> MasterKeyring:
        if key_b64:
            key = _unb64(key_b64, "INVENTORY_MASTER_KEY")
            if len(key) != 32:
                raise EncryptionError("INVENTORY_MASTER_KEY must be 32 bytes, base64-encoded")
            return cls({"env": key}, "env")
        path = key_file or default_key_file()
        if not path.exists():
            if not create:
                raise EncryptionError(f"no master key at {path}; this home was encrypted with a key that is not here")
            kid = secrets.token_hex(8)
            ring = cls({kid: AESGCM.generate_key(bit_length=256)}, kid, path)
            try:
                ring.save(exclusive=True)
            except FileExistsError:
                pass  # another process created it first: use theirs, so both seal with the same key
            else:
                return ring
        return cls.read(path)

    @classmethod
    def read(cls, path: Path) -> MasterKeyring:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            keys = {kid: _unb64(value, f"key {kid} in {path}") for kid, value in raw["keys"].items()}
            active = raw["active"]
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            raise EncryptionError(f"the master key file {path} is unreadable or malformed") from None
        if active not in keys or any(len(k) != 32 for k in keys.values()):
            raise EncryptionError(f"the master key file {path} is malformed")
        return cls(keys, active, path)

    def save(self, exclusive: bool = False) -> None:
        """Write the keyring atomically (0600); `exclusive` fails with FileExistsError if one exists."""
        if self.path is None:
            raise EncryptionError(
                "a master key given in INVENTORY_MASTER_KEY cannot be rotated here; rotate the file key"
            )
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".master-")  # created 0600
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"active": self.active, "keys": {k: _b64(v) for k, v in self.keys.items()}}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            if exclusive:
                os.link(tmp, self.path)  # atomic, and fails if another process wrote the file first
            else:
                os.replace(tmp, self.path)
        finally:
            Path(tmp).unlink(missing_ok=True)

    def add_key(self) -> str:
        kid = secrets.token_hex(8)
        self.keys[kid] = AESGCM.generate_key(bit_length=256)
        self.active = kid
        self.save()
        return kid

    def retire_others(self) -> None:
        self.keys = {self.active: self.keys[self.active]}
        self.save()

    def _key(self, kid: str) -> bytes:
        if kid not in self.keys and self.path is not None and self.path.exists():
            # Another process may have rotated the key: reload before giving up, so reads go on.
            fresh = MasterKeyring.read(self.path)
            self.keys, self.active = fresh.keys, fresh.active
        try:
            return self.keys[kid]
        except KeyError:
            raise EncryptionError(
                "data was encrypted under a master key that is not available (wrong master key?)"
            ) from None

    # ------------------------------------------------------------------ KMS-like operations

    def generate_data_key(self, context: str) -> tuple[bytes, bytes]:
        """A fresh data key: (plaintext, wrapped) — the wrapped form is stored beside the data."""
        data_key = AESGCM.generate_key(bit_length=256)
        return data_key, self.wrap(data_key, context)

    def wrap(self, data_key: bytes, context: str) -> bytes:
        nonce = secrets.token_bytes(12)
        kid = self.active.encode()
        sealed = AESGCM(self._key(self.active)).encrypt(nonce, data_key, context.encode())
        return struct.pack(">B", len(kid)) + kid + nonce + sealed

    def decrypt_data_key(self, wrapped: bytes, context: str) -> bytes:
        try:
            (kid_len,) = struct.unpack_from(">B", wrapped)
            kid = wrapped[1 : 1 + kid_len].decode()
            nonce = wrapped[1 + kid_len : 13 + kid_len]
            sealed = wrapped[13 + kid_len :]
        except (struct.error, UnicodeDecodeError):
            raise EncryptionError(f"the wrapped key of {context} is damaged") from None
        try:
            return AESGCM(self._key(kid)).decrypt(nonce, sealed, context.encode())
        except InvalidTag:
            raise EncryptionError(
                f"cannot decrypt {context}: wrong master key, or the data was tampered with"
            ) from None

    def key_id(self, wrapped: bytes) -> str:
        return wrapped[1 : 1 + wrapped[0]].decode(errors="replace")


# ---------------------------------------------------------------------- objects: streaming envelope

MAGIC = b"INVENC1\n"
SEGMENT = 1024 * 1024


@dataclass(frozen=True)
class Sealed:
    header: dict[str, object]
    body_offset: int


class ObjectCipher:
    """Encrypts an object in 1 MiB segments, each authenticated with the object key, its index and
    whether it is the last, so a segment cannot be reordered, dropped or moved to another object."""

    def __init__(self, keyring: MasterKeyring) -> None:
        self.keyring = keyring

    def encrypt(self, context: str, data: bytes, meta: dict[str, object]) -> bytes:
        return b"".join(self.encrypt_stream(context, [data], meta))

    def encrypt_stream(self, context: str, chunks: Iterable[bytes], meta: dict[str, object]) -> Iterator[bytes]:
        data_key, wrapped = self.keyring.generate_data_key(context)
        prefix = secrets.token_bytes(8)
        header = json.dumps({"wrapped": _b64(wrapped), "prefix": _b64(prefix), **meta}).encode()
        yield MAGIC + struct.pack(">I", len(header)) + header
        aead = AESGCM(data_key)
        pending = b""
        index = 0
        for chunk in chunks:
            pending += chunk
            while len(pending) > SEGMENT:
                yield self._seal(aead, context, prefix, index, pending[:SEGMENT], last=False)
                pending = pending[SEGMENT:]
                index += 1
        yield self._seal(aead, context, prefix, index, pending, last=True)

    @staticmethod
    def _seal(aead: AESGCM, context: str, prefix: bytes, index: int, data: bytes, last: bool) -> bytes:
        nonce = prefix + struct.pack(">I", index)
        sealed = aead.encrypt(nonce, data, _segment_aad(context, index, last))
        return struct.pack(">I?", len(sealed), last) + sealed

    @staticmethod
    def read_header(head: bytes, context: str) -> Sealed:
        if not head.startswith(MAGIC) or len(head) < len(MAGIC) + 4:
            raise EncryptionError(f"{context} is not encrypted by this system (or is damaged)")
        (length,) = struct.unpack_from(">I", head, len(MAGIC))
        start = len(MAGIC) + 4
        try:
            header = json.loads(head[start : start + length])
        except ValueError:
            raise EncryptionError(f"the header of {context} is damaged") from None
        return Sealed(header, start + length)

    def decrypt_stream(self, context: str, chunks: Iterable[bytes]) -> Iterator[bytes]:
        buffer = b""
        iterator = iter(chunks)
        sealed: Sealed | None = None
        aead: AESGCM | None = None
        prefix = b""
        index = 0
        finished = False
        for chunk in iterator:
            buffer += chunk
            if sealed is None:
                if len(buffer) < len(MAGIC) + 4:
                    continue
                (length,) = struct.unpack_from(">I", buffer, len(MAGIC))
                if len(buffer) < len(MAGIC) + 4 + length:
                    continue
                sealed = self.read_header(buffer, context)
                data_key = self.keyring.decrypt_data_key(_unb64(str(sealed.header["wrapped"]), context), context)
                aead = AESGCM(data_key)
                prefix = _unb64(str(sealed.header["prefix"]), context)
                buffer = buffer[sealed.body_offset :]
            while aead is not None and len(buffer) >= 5:
                size, last = struct.unpack_from(">I?", buffer)
                if len(buffer) < 5 + size:
                    break
                nonce = prefix + struct.pack(">I", index)
                try:
                    plain = aead.decrypt(nonce, buffer[5 : 5 + size], _segment_aad(context, index, last))
                except InvalidTag:
                    raise EncryptionError(f"{context} failed authentication: damaged or tampered with") from None
                buffer = buffer[5 + size :]
                index += 1
                yield plain
                if last:
                    finished = True
        if sealed is None:
            raise EncryptionError(f"{context} is not encrypted by this system (or is damaged)")
        if not finished or buffer:
            raise EncryptionError(f"{context} is truncated or has trailing data")

    def rewrap(self, context: str, head: bytes) -> bytes:
        """A new header for the same ciphertext, its data key wrapped under the active master key."""
        sealed = self.read_header(head, context)
        data_key = self.keyring.decrypt_data_key(_unb64(str(sealed.header["wrapped"]), context), context)
        header = dict(sealed.header)
        header["wrapped"] = _b64(self.keyring.wrap(data_key, context))
        text = json.dumps(header).encode()
        return MAGIC + struct.pack(">I", len(text)) + text


def _segment_aad(context: str, index: int, last: bool) -> bytes:
    return context.encode() + struct.pack(">I?", index, last)
