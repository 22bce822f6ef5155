"""The local event archive keeps delivered events for INVENTORY_ARCHIVE_DAYS, as the AWS archive does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pydantic_core
import pytest
from pydantic import ValidationError

from adapters.local.bus import LocalBus
from adapters.local.database import Database
from adapters.settings import Settings
from events import Envelope
from events.envelope import JsonEvent, new_json_event, new_raw_event, parse_detail
from events.models import StockChanged
from events.rules import Rule
from local.serve import Server
from local.wiring import bootstrap

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def stock_changed(name: str, days_ago: int) -> Envelope:
    detail = {"file_key": f"inventory_files/{name}.csv", "batch": 1, "batches": 1, "pairs": []}
    return new_raw_event(
        "StockChanged", detail, source="inventory.ingest", id_parts=(name,), time=NOW - timedelta(days=days_ago)
    )


def test_prune_forgets_old_delivered_events_and_keeps_the_rest(tmp_path: Path) -> None:
    # GIVEN an old event that was delivered, an old one still pending, and a recent delivered one
    db = Database(tmp_path / "state.db")
    bus = LocalBus(db)
    bus.publish([stock_changed("old-done", 400), stock_changed("old-pending", 400), stock_changed("new-done", 3)])
    due = {d.event.detail["file_key"]: d.id for d in bus.due()}
    bus.mark_done([due["inventory_files/old-done.csv"], due["inventory_files/new-done.csv"]])
    # WHEN the archive is pruned to a year, twice
    pruned = bus.prune(NOW - timedelta(days=365))
    again = bus.prune(NOW - timedelta(days=365))
    # THEN only the old delivered event is gone, with its delivery; the pending one is still due
    assert (pruned, again) == (1, 0)
    assert [e.detail["file_key"] for e in bus.archived()] == [
        "inventory_files/old-pending.csv",
        "inventory_files/new-done.csv",
    ]
    assert [d.event.detail["file_key"] for d in bus.due()] == ["inventory_files/old-pending.csv"]
    (orphans,) = db.conn.execute(
        "SELECT COUNT(*) FROM deliveries WHERE event_seq NOT IN (SELECT seq FROM events)"
    ).fetchone()
    assert orphans == 0
    db.close()


def test_serve_prunes_at_start_then_once_a_day(tmp_path: Path) -> None:
    # GIVEN a home whose archive holds a delivered event 40 days old, and a 30-day retention
    runtime = bootstrap(Settings(home=tmp_path / "home", archive_days=30))
    runtime.bus.publish([stock_changed("f", 40)])
    runtime.bus.mark_done([d.id for d in runtime.bus.due()])
    clock = [NOW]
    server = Server(runtime, poll_seconds=0.01, now=lambda: clock[0])
    # WHEN the server ticks now, later the same day, and the next day
    server.tick()
    after_first = len(runtime.bus.archived())
    runtime.bus.publish([stock_changed("g", 40)])
    runtime.bus.mark_done([d.id for d in runtime.bus.due()])
    clock[0] = NOW + timedelta(hours=1)
    server.tick()
    same_day = len(runtime.bus.archived())
    clock[0] = NOW + timedelta(days=1, minutes=1)
    server.tick()
    # THEN the first tick pruned, the next waited for the day to pass
    assert (after_first, same_day, len(runtime.bus.archived())) == (0, 1, 0)
    runtime.close()


def test_an_event_built_from_json_is_archived_as_that_text_and_reads_back_the_same(tmp_path: Path) -> None:
    # GIVEN a StockChanged whose detail the producer rendered itself, with names JSON escapes or not
    text = (
        '{"file_key":"inventory_files/ä.csv","batch":1,"batches":1,"pairs":[{"warehouse":"Köln 🏭",'
        '"item_id":"a\\"1","item_name":"Größe\\u0007","change":-3,"level":-3,"threshold":10,"was_below":false}]}'
    ).encode()
    event = new_json_event("StockChanged", text, source="inventory.ingest", id_parts=("ä",), time=NOW)
    db = Database(tmp_path / "state.db")
    bus = LocalBus(db)
    # WHEN it is published
    bus.publish([event])
    # THEN the archive holds exactly that text, as TEXT (what `inventory events` and SQL tools read)
    assert db.conn.execute("SELECT typeof(detail), detail FROM events").fetchone() == ("text", text.decode())
    # AND the delivered event is the published one, detail and all
    (delivery,) = bus.due()
    assert delivery.event.detail == event.detail
    assert StockChanged.model_validate(delivery.event.detail).pairs[0].item_name == "Größe\x07"
    # AND an event built from a dict is stored as its compact JSON
    other = stock_changed("ö", 0)
    assert pydantic_core.from_json(other.detail_json()) == other.detail


@pytest.mark.parametrize("built_from", ["dict", "json"])
def test_the_bus_routes_by_every_kind_of_detail_type_pattern(tmp_path: Path, built_from: str) -> None:
    # GIVEN rules naming a detail-type exactly, by prefix, inside $or, not at all, and by detail only
    rules = [
        Rule("exact", "a", {"detail-type": ["StockChanged", "Other"]}),
        Rule("prefix", "b", {"detail-type": [{"prefix": "Stock"}]}),
        Rule("or", "c", {"$or": [{"detail-type": ["StockChanged"]}, {"source": ["x"]}]}),
        Rule("any", "d", {"source": ["inventory.ingest"]}),
        Rule("by-detail", "e", {"detail-type": ["StockChanged"], "detail": {"batch": [1]}}),
        Rule("wrong-type", "f", {"detail-type": ["BelowThreshold"]}),
        Rule("wrong-detail", "g", {"detail-type": ["StockChanged"], "detail": {"batch": [2]}}),
    ]
    db = Database(tmp_path / "state.db")
    bus = LocalBus(db, rules)
    # WHEN a StockChanged is published, as a dict or as the JSON text ingest renders
    event = stock_changed("a", 0)
    bus.publish([event if built_from == "dict" else _as_json_event(event)])
    # THEN every rule that matches it, and only those, gets a delivery
    targets = [t for (t,) in db.conn.execute("SELECT target FROM deliveries ORDER BY id")]
    assert targets == ["a", "b", "c", "d", "e"]


def _as_json_event(event: Envelope) -> JsonEvent:
    return new_json_event(
        event.detail_type, event.detail_json(), source=event.source, id_parts=(event.id,), time=event.time
    )


def test_a_json_event_is_routed_without_decoding_its_detail(tmp_path: Path) -> None:
    # GIVEN the real rules, none of which looks into a StockChanged's detail
    bus = LocalBus(Database(tmp_path / "state.db"))
    event = _as_json_event(stock_changed("a", 0))
    # WHEN it is published THEN it reaches the alerts service, and its ~200 KB detail was never decoded
    bus.publish([event])
    assert [d.target for d in bus.due()] == ["alerts"]
    assert "detail" not in vars(event)


def test_a_delivered_event_validates_as_its_model_from_its_text(tmp_path: Path) -> None:
    # GIVEN a StockChanged delivered from the local archive (its detail still JSON) and the archived one
    bus = LocalBus(Database(tmp_path / "state.db"))
    bus.publish([stock_changed("a", 0)])
    (delivery,) = bus.due()
    (archived,) = bus.archived()
    # THEN both validate to the same model, and a detail that breaks the contract is refused either way
    assert parse_detail(delivery.event, StockChanged) == parse_detail(archived, StockChanged)
    broken = new_json_event(
        "StockChanged", b'{"file_key":"k","batch":0,"batches":1,"pairs":[]}', source="t", id_parts=()
    )
    with pytest.raises(ValidationError, match="batch"):
        parse_detail(broken, StockChanged)
    with pytest.raises(ValidationError, match="batch"):
        parse_detail(broken.envelope(), StockChanged)


def test_a_json_event_is_the_envelope_it_stands_for(tmp_path: Path) -> None:
    # GIVEN an archived event replayed: its delivery carries the detail as text and the replay's name
    db = Database(tmp_path / "state.db")
    bus = LocalBus(db)
    event = stock_changed("a", 0)
    bus.publish([event])
    bus.mark_done([d.id for d in bus.due()])
    bus.replay("again", since=NOW - timedelta(days=1))
    (delivery,) = bus.due()
    # THEN as an Envelope it is the published event with the replay's name, field for field
    assert isinstance(delivery.event, JsonEvent)
    assert delivery.event.envelope() == event.model_copy(update={"replay_name": "again"})
    assert delivery.event.to_eventbridge()["replay-name"] == "again"
