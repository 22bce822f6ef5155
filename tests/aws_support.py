"""moto helpers for the validator's AWS tests: the single table with PK/SK string keys."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import uuid4

import pytest

REGION = "eu-central-1"


def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def per_upload_etags(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's ETag is the MD5 of the content; S3 under SSE-KMS (our bucket) gives every upload its own,
    the same bytes included. Make moto do the same, so no test can take an etag for content identity."""
    from moto.s3.models import FakeKey

    content_etag = vars(FakeKey)["etag"].fget  # the property itself, not its value

    def etag(key: Any) -> str:
        if "_upload_etag" not in key.__dict__:
            key.__dict__["_upload_etag"] = hashlib.md5(content_etag(key).encode() + uuid4().bytes).hexdigest()
        return f'"{key.__dict__["_upload_etag"]}"'

    monkeypatch.setattr(FakeKey, "etag", property(etag))


def create_table(client: Any, name: str) -> None:
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "PK", "AttributeType": "S"},
            {"AttributeName": "SK", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


@contextmanager
def mocked_table(monkeypatch: pytest.MonkeyPatch, name: str = "inventory") -> Iterator[tuple[Any, str]]:
    import boto3
    from moto import mock_aws

    aws_env(monkeypatch)
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        create_table(client, name)
        yield client, name
