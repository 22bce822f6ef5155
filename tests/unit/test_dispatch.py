"""The dispatcher hands a batch to its service with the cyclic collector paused, and always turns it back on."""

from __future__ import annotations

import gc
import types
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from events import Envelope
from services import dispatch


@pytest.fixture
def fake_service(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bool]]:
    seen: list[bool] = []

    def handle(ports: Any, event: Envelope) -> None:
        seen.append(gc.isenabled())
        if event.detail.get("fail"):
            raise RuntimeError("boom")

    module = types.SimpleNamespace(handle=handle)
    monkeypatch.setattr(dispatch.importlib, "import_module", lambda name: module)
    yield seen


def _events(*details: dict[str, Any]) -> Sequence[Envelope]:
    return [
        Envelope(id=str(n), time="2021-02-15T20:59:59Z", source="test", detail_type="T", detail=d)
        for n, d in enumerate(details)
    ]


def test_a_batch_runs_without_the_collector_and_turns_it_back_on(fake_service: list[bool]) -> None:
    assert gc.isenabled()
    failed = dispatch.handle_batch("anything", None, _events({}, {"fail": True}))  # type: ignore[arg-type]
    assert fake_service == [False, False]
    assert failed == {"1": "RuntimeError: boom"}
    assert gc.isenabled()


def test_a_batch_handler_that_raises_still_leaves_the_collector_on(monkeypatch: pytest.MonkeyPatch) -> None:
    def handle_batch(ports: Any, events: Sequence[Envelope]) -> dict[str, str]:
        raise RuntimeError("the whole batch failed")

    monkeypatch.setattr(
        dispatch.importlib, "import_module", lambda name: types.SimpleNamespace(handle_batch=handle_batch)
    )
    with pytest.raises(RuntimeError):
        dispatch.handle_batch("anything", None, _events({}))  # type: ignore[arg-type]
    assert gc.isenabled()


def test_a_caller_that_turned_the_collector_off_keeps_it_off(fake_service: list[bool]) -> None:
    gc.disable()
    try:
        dispatch.handle_batch("anything", None, _events({}))  # type: ignore[arg-type]
        assert not gc.isenabled()
    finally:
        gc.enable()
