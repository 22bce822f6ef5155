"""One contract for the validator's state port, run against SQLite and DynamoDB (moto)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from adapters.local.database import Database
from adapters.local.validator_state import SqliteValidatorState
from validator.state import Change, LeaseLost, ValidatorState

TTL = timedelta(minutes=5)
NOW = datetime(2026, 1, 1, 3, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "dynamodb"])
def state(request, tmp_path, monkeypatch) -> Iterator[ValidatorState]:
    if request.param == "sqlite":
        db = Database(tmp_path / "state.db")
        yield SqliteValidatorState(db)
        db.close()
        return
    from tests.aws_support import mocked_table

    with mocked_table(monkeypatch) as (client, table):
        from adapters.aws.validator_state import DynamoValidatorState

        yield DynamoValidatorState(table, client)


def test_lease_one_holder_at_a_time(state):
    assert state.lease() is None
    assert state.acquire("a", NOW, TTL)
    assert not state.acquire("b", NOW + timedelta(minutes=1), TTL)
    assert state.acquire("a", NOW + timedelta(minutes=1), TTL)  # renewing our own
    lease = state.lease()
    assert lease is not None and lease.owner == "a" and lease.expires_at == NOW + timedelta(minutes=6)
    state.release("b")  # not b's: nothing happens
    assert state.lease() is not None
    state.release("a")
    assert state.lease() is None and state.acquire("b", NOW, TTL)


def test_expired_or_replaced_lease_can_be_taken(state):
    assert state.acquire("a", NOW, TTL)
    assert state.acquire("b", NOW + TTL, TTL)  # a's lease ran out
    assert not state.acquire("c", NOW + TTL, TTL)
    assert state.acquire("c", NOW + TTL, TTL, replace="b")  # b is known to be dead
    assert state.lease().owner == "c"


def test_save_and_load_round_trip_with_deletions(state):
    assert state.load().checkpoint is None and state.load().entries == {}
    state.acquire("a", NOW, TTL)
    state.save("a", '{"n": 1}', {"t\x1fW\x1fi": Change("5", None), "x": Change("1", None)}, NOW, TTL)
    state.save("a", '{"n": 2}', {"t\x1fW\x1fi": Change("7", "5"), "x": Change(None, "1")}, NOW, TTL)
    snap = state.load()
    assert snap.checkpoint == '{"n": 2}' and snap.entries == {"t\x1fW\x1fi": "7"}
    # saving renews the lease
    assert state.lease().expires_at == NOW + TTL


def test_long_keys_survive(state):
    key = "t\x1f" + "W" * 2000 + "\x1fi"
    state.acquire("a", NOW, TTL)
    state.save("a", "{}", {key: Change("1", None)}, NOW, TTL)
    assert state.load().entries == {key: "1"}


def test_a_save_without_the_lease_fails_and_leaves_no_trace(state):
    # GIVEN a checkpoint saved by a, then b takes over after a's lease expired
    state.acquire("a", NOW, TTL)
    state.save("a", "one", {"k": Change("1", None)}, NOW, TTL)
    later = NOW + TTL + timedelta(seconds=1)
    assert state.acquire("b", later, TTL)
    # WHEN a, not knowing, tries to save again
    with pytest.raises(LeaseLost):
        state.save("a", "two", {"k": Change("2", "1"), "new": Change("x", None)}, later, TTL)
    # THEN nothing of that save is visible, in any store
    snap = state.load()
    assert snap.checkpoint == "one" and snap.entries == {"k": "1"}
    # and b can carry on from there
    state.save("b", "three", {"k": Change("3", "1")}, later, TTL)
    assert state.load().entries == {"k": "3"}


def test_dynamodb_save_interrupted_after_its_entries_is_rolled_back(monkeypatch):
    # GIVEN a committed checkpoint with two entries
    from tests.aws_support import mocked_table

    with mocked_table(monkeypatch) as (client, table):
        from adapters.aws.validator_state import DynamoValidatorState

        state = DynamoValidatorState(table, client)
        state.acquire("a", NOW, TTL)
        state.save("a", "one", {"k": Change("1", None), "gone": Change("g", None)}, NOW, TTL)

        # WHEN the next save dies after writing its entries but before its checkpoint (the task is killed)
        def killed(**kwargs):
            raise SystemExit("killed")

        client.transact_write_items = killed
        with pytest.raises(SystemExit):
            state.save(
                "a",
                "two",
                {"k": Change("2", "1"), "gone": Change(None, "g"), "new": Change("n", None)},
                NOW,
                TTL,
            )
        del client.transact_write_items  # the client's own method again
        # THEN a new process loads the last whole checkpoint, with the entries as they were then
        fresh = DynamoValidatorState(table, client)
        snap = fresh.load()
        assert snap.checkpoint == "one" and snap.entries == {"k": "1", "gone": "g"}
        # and the repaired items stay correct once the next checkpoint (gen 2) is committed
        fresh.acquire("b", NOW + TTL, TTL)
        fresh.save("b", "two again", {"other": Change("o", None)}, NOW + TTL, TTL)
        assert DynamoValidatorState(table, client).load().entries == {"k": "1", "gone": "g", "other": "o"}
