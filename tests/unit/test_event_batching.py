"""Large files become several StockChanged events, each within EventBridge's 256 KB, none truncated."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from adapters.ports import PairOutcome
from events.models import StockChanged
from services.ingest.logic import _escaped_len, _pair, _pair_size, stock_changed_events

NAMES = ['Tom & Jerry "Deluxe" \\ mug', "Kaffeebohnen Größe L 🐘🐘🐘", "plain", "x" * 300, "\u2028 line sep"]


def test_every_pair_lands_in_exactly_one_event_under_the_limit() -> None:
    outcomes = [
        PairOutcome(f"Wärehouse {n % 7} 🏭", f"i{n}", NAMES[n % len(NAMES)], -n, 10**12 - n, 10, n % 2 == 0)
        for n in range(6000)
    ]
    events = list(stock_changed_events("inventory_files/2021/02/15/x.csv", outcomes, datetime.now(UTC)))
    assert len(events) > 3
    seen = []
    for n, event in enumerate(events, start=1):
        entry = json.dumps(event.to_eventbridge())
        assert len(entry.encode()) < 256 * 1024
        detail = StockChanged.model_validate(event.detail)
        assert (detail.batch, detail.batches) == (n, len(events))
        seen += [(p.warehouse, p.item_id, p.item_name, p.change, p.level, p.was_below) for p in detail.pairs]
    assert seen == [(o.warehouse, o.item_id, o.item_name, o.change, o.level, o.was_below) for o in outcomes]
    assert len({e.id for e in events}) == len(events)


@given(st.text())
def test_the_escaped_length_of_a_text_is_never_below_its_json(text: str) -> None:
    assert _escaped_len(text) >= len(json.dumps(text)) - 2


def test_a_pair_size_covers_its_json() -> None:
    outcome = PairOutcome("Wärehouse 🏭", 'Tom "\\" ', "Größe\u00a0L\x07", -(10**15), 10**18, -(10**15), True)
    assert _pair_size(outcome) >= len(json.dumps(_pair(outcome)))
