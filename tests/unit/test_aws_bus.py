"""EventBridge limits the AWS bus must respect: 10 entries a call, 256 KB an entry, failed entries retried."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.aws.bus import (
    MAX_ENTRY_BYTES,
    EventBridgeBus,
    EventTooLarge,
    PublishFailed,
    envelope_from_eventbridge,
)
from events.envelope import new_raw_event


class FakeEvents:
    """put_events that fails the entries named in `failures` (call number -> entry indexes)."""

    def __init__(self, failures: dict[int, set[int]] | None = None) -> None:
        self.calls: list[list[dict[str, Any]]] = []
        self.failures = failures or {}

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        failing = self.failures.get(len(self.calls), set())
        self.calls.append(Entries)
        results = [
            {"ErrorCode": "ThrottlingException"} if n in failing else {"EventId": "x"} for n in range(len(Entries))
        ]
        return {"FailedEntryCount": len(failing), "Entries": results}


def _bus(fake: FakeEvents) -> EventBridgeBus:
    return EventBridgeBus(lambda service: fake, "inventory", base_delay=0)  # type: ignore[arg-type]


def _event(n: int, size: int = 10) -> Any:
    return new_raw_event(
        "FileRejected",
        {"n": n, "pad": "x" * size},
        source="inventory.files",
        id_parts=(n,),
        time=datetime(2021, 2, 15, tzinfo=UTC),
    )


def test_events_go_out_ten_a_call_and_only_failed_entries_are_retried() -> None:
    # GIVEN a bus whose first call fails two entries
    fake = FakeEvents({0: {3, 7}})
    # WHEN 23 events are published
    _bus(fake).publish([_event(n) for n in range(23)])
    # THEN calls carry at most 10 entries, and the retry carries exactly the two that failed
    assert [len(c) for c in fake.calls] == [10, 2, 10, 3]
    assert [e["Detail"] for e in fake.calls[1]] == [fake.calls[0][3]["Detail"], fake.calls[0][7]["Detail"]]


def test_an_entry_that_keeps_failing_is_an_error() -> None:
    fake = FakeEvents({n: {0} for n in range(10)})
    with pytest.raises(PublishFailed):
        _bus(fake).publish([_event(1)])


def test_an_entry_over_256_kb_is_refused_before_anything_is_sent() -> None:
    fake = FakeEvents()
    with pytest.raises(EventTooLarge):
        _bus(fake).publish([_event(1), _event(2, size=MAX_ENTRY_BYTES)])
    assert fake.calls == []


def test_the_envelope_survives_the_trip_through_eventbridge() -> None:
    # GIVEN an event as EventBridge delivers it: its own id, a time in whole seconds
    event = _event(5)
    entry = _bus(FakeEvents()).entry(event)
    import json

    delivered = {
        "id": "eventbridge-own-id",
        "time": "2021-02-15T00:00:00Z",
        "source": entry["Source"],
        "detail-type": entry["DetailType"],
        "detail": json.loads(entry["Detail"]),
    }
    # THEN our id, time and detail come back unchanged
    assert envelope_from_eventbridge(delivered) == event
