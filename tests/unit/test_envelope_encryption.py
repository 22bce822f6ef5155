"""kms.envelope: sealed objects open only with the right master key and under the right object key."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kms.envelope import SEGMENT, EncryptionError, MasterKeyring, ObjectCipher


@pytest.fixture
def ring(tmp_path: Path) -> MasterKeyring:
    return MasterKeyring.load(None, tmp_path / "cfg" / "master.key", create=True)


def test_key_file_is_created_private(ring: MasterKeyring) -> None:
    assert ring.path is not None and (ring.path.stat().st_mode & 0o777) == 0o600


@pytest.mark.parametrize("size", [0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 3 * SEGMENT + 17])
def test_round_trip_in_any_chunking(ring: MasterKeyring, size: int) -> None:
    cipher = ObjectCipher(ring)
    data = os.urandom(size)
    sealed = cipher.encrypt("inventory_files/a.csv", data, {})
    for step in (1, 7, 4096, len(sealed) + 1):
        chunks = [sealed[i : i + step] for i in range(0, len(sealed), step)] or [b""]
        assert b"".join(cipher.decrypt_stream("inventory_files/a.csv", chunks)) == data


def test_tampering_moving_or_truncating_is_an_error_not_garbage(ring: MasterKeyring) -> None:
    cipher = ObjectCipher(ring)
    sealed = cipher.encrypt("k1", b"Berlin 1\ta123v5" * 100_000, {})
    flipped = bytearray(sealed)
    flipped[-10] ^= 1
    for context, blob, message in [
        ("k1", bytes(flipped), "authentication"),
        ("k2", sealed, "cannot decrypt k2"),
        ("k1", sealed[: len(sealed) // 2], "truncated"),
        ("k1", b"plain text", "not encrypted"),
    ]:
        with pytest.raises(EncryptionError, match=message):
            b"".join(cipher.decrypt_stream(context, [blob]))


def test_another_master_key_cannot_open_it(ring: MasterKeyring, tmp_path: Path) -> None:
    sealed = ObjectCipher(ring).encrypt("k", b"secret", {})
    other = MasterKeyring.load(None, tmp_path / "other.key", create=True)
    with pytest.raises(EncryptionError, match="wrong master key"):
        b"".join(ObjectCipher(other).decrypt_stream("k", [sealed]))


def test_rewrap_keeps_data_readable_and_retires_the_old_key(ring: MasterKeyring) -> None:
    cipher = ObjectCipher(ring)
    sealed = cipher.encrypt("k", b"stock", {"sha256": "x"})
    header = cipher.read_header(sealed, "k")
    ring.add_key()
    rewrapped = cipher.rewrap("k", sealed) + sealed[header.body_offset :]
    ring.retire_others()
    assert b"".join(cipher.decrypt_stream("k", [rewrapped])) == b"stock"
    with pytest.raises(EncryptionError):
        b"".join(cipher.decrypt_stream("k", [sealed]))


@pytest.mark.parametrize("value", ["not base64!", "c2hvcnQ="])
def test_a_bad_env_master_key_is_refused(value: str) -> None:
    with pytest.raises(EncryptionError, match="INVENTORY_MASTER_KEY"):
        MasterKeyring.load(value, None, create=False)
