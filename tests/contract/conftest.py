"""One backend fixture, two runtimes: `local` (SQLite, a folder, the outbox bus, .eml files) and `aws`
(DynamoDB, S3, EventBridge, SES under moto's mock_aws). Every contract test runs against both."""

from __future__ import annotations

import email
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from adapters.ports import Ports
from adapters.settings import Settings
from tests.aws_support import aws_env, per_upload_etags


class InjectedCrash(RuntimeError):
    """Stands in for a Lambda timeout or a lost connection in the middle of a write."""


@dataclass
class Backend:
    name: str
    ports: Ports
    # Ids of the events that reached the custom bus (locally: its archive; on AWS: the audit log group).
    delivered: Callable[[], list[str]]
    mails: Callable[[], list[Message]]
    # The next apply_file stops with InjectedCrash after part of its writes have been made.
    crash_during_apply: Callable[[], AbstractContextManager[None]]
    # Publishing events fails (locally inside the transaction, on AWS when the unit of work commits).
    crash_on_publish: Callable[[], AbstractContextManager[None]]


def _raise(*_: Any, **__: Any) -> None:
    raise InjectedCrash("the bus is unreachable")


class _CrashingProxy:
    """Forwards everything to `inner`, except that `method` raises when `should_crash(args)` says so."""

    def __init__(self, inner: Any, method: str, should_crash: Callable[..., bool]) -> None:
        self._inner = inner
        self._method = method
        self._should_crash = should_crash

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name != self._method:
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            if self._should_crash(*args, **kwargs):
                raise InjectedCrash(f"crash injected in {name}")
            return attr(*args, **kwargs)

        return call


def _local(tmp_path: Path) -> Iterator[Backend]:
    from adapters.local.mailer import OutboxMailer
    from local.wiring import bootstrap

    runtime = bootstrap(Settings(home=tmp_path / "home"))

    def mails() -> list[Message]:
        assert isinstance(runtime.ports.mailer, OutboxMailer)  # sealed at rest: read through the mailer
        return [email.message_from_bytes(data) for _, data in runtime.ports.mailer.messages()]

    @contextmanager
    def crash_during_apply() -> Iterator[None]:
        # The stock upsert has run when the bad rows are written: crash there.
        real = runtime.db.conn
        runtime.db.conn = _CrashingProxy(  # type: ignore[assignment]
            real, "executemany", lambda sql, *_: sql.startswith("INSERT OR REPLACE INTO bad_rows")
        )
        try:
            yield
        finally:
            runtime.db.conn = real

    @contextmanager
    def crash_on_publish() -> Iterator[None]:
        runtime.bus.publish = _raise  # type: ignore[method-assign]
        try:
            yield
        finally:
            del runtime.bus.publish

    yield Backend(
        "local",
        runtime.ports,
        lambda: [e.id for e in runtime.bus.archived()],
        mails,
        crash_during_apply,
        crash_on_publish,
    )
    runtime.close()


def _aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Backend]:
    from moto import mock_aws

    aws_env(monkeypatch)
    per_upload_etags(monkeypatch)  # as the stack's SSE-KMS bucket does
    with mock_aws():
        from adapters.aws.bus import envelope_from_eventbridge
        from adapters.aws.clients import AwsClients
        from adapters.aws.names import ResourceNames
        from adapters.aws.provision import provision
        from adapters.aws.wiring import bootstrap_aws

        settings = Settings()
        names = ResourceNames.resolve(env={})
        clients = AwsClients(region="eu-central-1")
        provision(clients, names, settings.sender_email)
        ports = bootstrap_aws(settings, names, clients=clients)

        def delivered() -> list[str]:
            import json

            found = clients("logs").filter_log_events(logGroupName=names.audit_log_group)["events"]
            return [envelope_from_eventbridge(json.loads(e["message"])).id for e in found]

        def mails() -> list[Message]:
            from moto.core import DEFAULT_ACCOUNT_ID
            from moto.ses.models import ses_backends

            sent = ses_backends[DEFAULT_ACCOUNT_ID]["eu-central-1"].sent_messages
            return [email.message_from_string(m.raw_data) for m in sent]

        @contextmanager
        def crash_during_apply() -> Iterator[None]:
            # The first chunk commits; the second transaction never reaches DynamoDB.
            real = clients("dynamodb")
            calls = {"n": 0}

            def second_transaction(*_: Any, **__: Any) -> bool:
                calls["n"] += 1
                return calls["n"] == 2

            clients._clients["dynamodb"] = _CrashingProxy(real, "transact_write_items", second_transaction)
            try:
                yield
            finally:
                clients._clients["dynamodb"] = real

        @contextmanager
        def crash_on_publish() -> Iterator[None]:
            table = ports.table
            real = table.publisher  # type: ignore[attr-defined]
            table.publisher = _raise  # type: ignore[attr-defined]
            try:
                yield
            finally:
                table.publisher = real  # type: ignore[attr-defined]

        yield Backend("aws", ports, delivered, mails, crash_during_apply, crash_on_publish)


@pytest.fixture(params=["local", "aws"])
def backend(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Backend]:
    if request.param == "local":
        yield from _local(tmp_path)
    else:
        yield from _aws(monkeypatch)
