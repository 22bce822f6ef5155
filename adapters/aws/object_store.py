"""The object store on S3: the data bucket. ETags are returned without their quotes."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from adapters.aws.clients import AwsClients, error_code
from adapters.ports import NoSuchObject, ObjectChanged, ObjectInfo

CHUNK = 1024 * 1024
_MISSING = ("NoSuchKey", "404", "NotFound")
_REPLACED = ("PreconditionFailed", "412")  # an If-Match on an etag the key no longer has


class S3ObjectStore:
    def __init__(self, clients: AwsClients, bucket: str) -> None:
        self.clients = clients
        self.bucket = bucket

    @property
    def s3(self):  # type: ignore[no-untyped-def]
        return self.clients("s3")

    def put(self, key: str, data: bytes | Path, digest: tuple[str, int] | None = None) -> ObjectInfo:
        # S3 then announces the object on EventBridge's default bus (notifications are on).
        if isinstance(data, Path):
            with data.open("rb") as body:  # streamed from the file, never held in memory whole
                self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)
        else:
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=data)
        info = self.head(key)
        if info is None:  # read-after-write is strong on S3; this would be a bug, not a race
            raise RuntimeError(f"{key} was stored but cannot be found")
        return info

    def head(self, key: str) -> ObjectInfo | None:
        try:
            response = self.s3.head_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            if error_code(exc) in _MISSING:
                return None
            raise
        return ObjectInfo(key, int(response["ContentLength"]), _etag(response["ETag"]), _utc(response["LastModified"]))

    def digest(self, key: str, etag: str) -> str | None:
        # Read and hashed here rather than taken from an S3 checksum: other tools upload with other
        # algorithms or none, and a multipart upload's checksum depends on its part size. If-Match makes S3
        # refuse the read once another upload replaced this one, so the digest is always the etag's.
        try:
            response = self.s3.get_object(Bucket=self.bucket, Key=key, IfMatch=f'"{etag}"')
        except Exception as exc:
            if error_code(exc) in (*_MISSING, *_REPLACED):
                return None
            raise
        sha256 = hashlib.sha256()
        body = response["Body"]
        try:
            for chunk in body.iter_chunks(CHUNK):
                sha256.update(chunk)
        finally:
            body.close()
        return sha256.hexdigest()

    def read(self, key: str) -> bytes:
        return b"".join(self.stream(key))

    def stream(self, key: str, etag: str | None = None) -> Iterator[bytes]:
        # If-Match: S3 refuses the read once another upload replaced the one asked for.
        condition = {"IfMatch": f'"{etag}"'} if etag is not None else {}
        try:
            response = self.s3.get_object(Bucket=self.bucket, Key=key, **condition)
        except Exception as exc:
            if error_code(exc) in _MISSING:
                raise NoSuchObject(key) from None
            if error_code(exc) in _REPLACED:
                raise ObjectChanged(key) from None
            raise
        body = response["Body"]
        try:
            yield from body.iter_chunks(CHUNK)
        finally:
            body.close()

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        paginator = self.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                yield ObjectInfo(obj["Key"], int(obj["Size"]), _etag(obj["ETag"]), _utc(obj["LastModified"]))


def _etag(value: str) -> str:
    return value.strip('"')


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
