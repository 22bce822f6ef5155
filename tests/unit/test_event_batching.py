"""Large files become several StockChanged events, each within EventBridge's 256 KB, none truncated."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from adapters.aws.bus import MAX_ENTRY_BYTES, META_KEY, EventBridgeBus, entry_size, envelope_from_eventbridge
from adapters.ports import OutcomeList, PairOutcome
from events.models import PairLevel, StockChanged
from services.ingest.logic import stock_changed_events

NAMES = ['Tom & Jerry "Deluxe" \\ mug', "Kaffeebohnen Größe L 🐘🐘🐘", "plain", "x" * 300, "\u2028 line sep"]


def test_every_pair_lands_in_exactly_one_event_under_the_limit() -> None:
    outcomes = OutcomeList(
        PairOutcome(f"Wärehouse {n % 7} 🏭", f"i{n}", NAMES[n % len(NAMES)], -n, 10**12 - n, 10, n % 2 == 0)
        for n in range(6000)
    )
    bus = EventBridgeBus(clients=None, bus_name="inventory")  # type: ignore[arg-type]  # entries only, no calls
    events = list(stock_changed_events("inventory_files/2021/02/15/x.csv", outcomes, datetime.now(UTC)))
    assert len(events) > 3
    seen = []
    for n, event in enumerate(events, start=1):
        entry = bus.entry(event)
        assert entry_size(entry) <= MAX_ENTRY_BYTES
        # The entry's detail is the event's, with the envelope's fields under _envelope (EventBridge's
        # own id and time are not ours), and a consumer gets the same event back from it
        sent = json.loads(entry["Detail"])
        assert sent.pop(META_KEY) == {"id": event.id, "time": event.time.isoformat(), "version": "1"}
        assert sent == event.detail
        delivered = {"id": "eb-id", "time": "2021-02-15T00:00:00Z", "source": entry["Source"]}
        back = envelope_from_eventbridge(
            {**delivered, "detail-type": entry["DetailType"], "detail": json.loads(entry["Detail"])}
        )
        assert (back.id, back.time, back.detail) == (event.id, event.time, event.detail)
        detail = StockChanged.model_validate(event.detail)
        assert (detail.batch, detail.batches) == (n, len(events))
        seen += [(p.warehouse, p.item_id, p.item_name, p.change, p.level, p.was_below) for p in detail.pairs]
    assert seen == [(o.warehouse, o.item_id, o.item_name, o.change, o.level, o.was_below) for o in outcomes]
    assert len({e.id for e in events}) == len(events)


def test_a_pair_of_stock_changed_is_an_outcome_by_its_field_names() -> None:
    # The stock table renders outcomes as JSON (SQLite's json_object) straight into StockChanged's pairs.
    assert tuple(PairLevel.model_fields) == PairOutcome._fields
    outcome = PairOutcome("Wärehouse 🏭", 'Tom "\\" ', "Größe\u00a0L\x07", -(10**15), 10**18, -(10**15), True)
    (text,) = OutcomeList([outcome]).as_json()
    assert PairLevel.model_validate_json(text) == PairLevel(**outcome._asdict())
