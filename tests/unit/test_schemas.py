"""The committed JSON Schemas match the models, and each one accepts a real event of its type."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from events.envelope import new_event
from events.models import (
    DETAIL_MODELS,
    SOURCES,
    BelowThreshold,
    Detail,
    FileArrived,
    FileRejected,
    Finding,
    PairLevel,
    RejectedRow,
    StockChanged,
    ThresholdChange,
    ThresholdsUpdated,
    ValidationCompleted,
)
from events.schemas_gen import SCHEMA_DIR, STALE_MESSAGE, main, render_all, stale_files

AT = datetime(2024, 5, 1, 12, tzinfo=UTC)
# Populated beyond the required fields so nested $defs (rows, pairs, changes, findings) are exercised.
SAMPLES: dict[str, Detail] = {
    "FileArrived": FileArrived(
        key="inventory_files/a.csv", kind="inventory", etag="e", size=1, arrived_at=AT, sequence=0
    ),
    "FileRejected": FileRejected(
        key="k",
        kind="unknown",
        reason="bad_rows",
        message="m",
        rows=[RejectedRow(line=2, reason="r", raw="x")],
    ),
    "StockChanged": StockChanged(
        file_key="k",
        batch=1,
        batches=1,
        pairs=[PairLevel(warehouse="w", item_id="i", item_name="n", change=1, level=3, threshold=2, was_below=True)],
    ),
    "ThresholdsUpdated": ThresholdsUpdated(
        file_key="k",
        default_threshold=5,
        batch=1,
        batches=1,
        changes=[ThresholdChange(item_id="i", old=1, new=2)],
    ),
    "BelowThreshold": BelowThreshold(
        warehouse="w",
        item_id="i",
        item_name="n",
        level=1,
        threshold=2,
        cause="threshold_update",
        file_key="k",
    ),
    "ValidationCompleted": ValidationCompleted(
        run_id="r",
        started_at=AT,
        finished_at=AT,
        files=1,
        transactions=2,
        findings=1,
        findings_by_kind={"gap": 1},
        top_findings=[Finding(kind="gap", file_key="k", line=None, message="m")],
    ),
}


def _schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMA_DIR / f"{name}.json").read_text(encoding="utf-8"))
    return loaded


def _validator(name: str) -> Any:
    # jsonschema is not a declared dependency: use it when the venv has it, skip the validation tests
    # otherwise (the drift tests above do not need it).
    jsonschema = pytest.importorskip("jsonschema")
    schema = _schema(name)
    cls = jsonschema.Draft202012Validator
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def test_committed_schemas_match_models() -> None:
    stale = stale_files()
    assert not stale, f"{STALE_MESSAGE}: {stale}"


def test_render_is_byte_stable() -> None:
    first, second = render_all(), render_all()
    assert first == second
    for text in first.values():
        assert text.endswith("}\n") and not text.endswith("\n\n")
        assert json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n" == text


def test_check_flag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--check"]) == 0
    # Point the generator at an empty directory: every schema is then missing.
    monkeypatch.setattr("events.schemas_gen.SCHEMA_DIR", tmp_path)
    assert main(["--check"]) == 1
    assert STALE_MESSAGE in capsys.readouterr().err


def test_samples_cover_every_model() -> None:
    assert set(SAMPLES) == set(DETAIL_MODELS)
    assert set(render_all()) == {f"{name}.json" for name in DETAIL_MODELS}


@pytest.mark.parametrize("name", sorted(DETAIL_MODELS))
def test_schema_accepts_events_of_its_type(name: str) -> None:
    validator = _validator(name)
    for source in SOURCES[name]:
        event = new_event(SAMPLES[name], source=source, id_parts=(name,), time=AT).to_eventbridge()
        validator.validate(event)
        # What EventBridge delivers: its own version stamp and a replay marker must still be valid.
        validator.validate({**event, "version": "0", "replay-name": "r1"})


@pytest.mark.parametrize("name", sorted(DETAIL_MODELS))
def test_schema_rejects_wrong_envelope_and_detail(name: str) -> None:
    validator = _validator(name)
    event = new_event(SAMPLES[name], source=SOURCES[name][0], id_parts=(name,), time=AT).to_eventbridge()
    other = next(n for n in sorted(DETAIL_MODELS) if n != name)
    bad_events = [
        {**event, "detail-type": other},
        {**event, "source": "inventory.elsewhere"},
        {**event, "detail": {**event["detail"], "unexpected": 1}},
        {k: v for k, v in event.items() if k != "detail"},
        {**event, "time": "yesterday"},
    ]
    for bad in bad_events:
        assert not validator.is_valid(bad), bad


@pytest.mark.parametrize("name", sorted(DETAIL_MODELS))
def test_refs_resolve_from_the_root(name: str) -> None:
    schema = _schema(name)
    text = json.dumps(schema)
    for ref in {part.split('"')[0] for part in text.split('"$ref": "')[1:]}:
        assert ref.startswith("#/$defs/")
        assert ref.removeprefix("#/$defs/") in schema["$defs"]
