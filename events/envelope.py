"""The common envelope every event travels in, locally and on EventBridge.

The envelope mirrors EventBridge's own fields (id, time, source, detail-type, detail) plus a schema
version, so an event read from an SQS message that EventBridge delivered parses into the same model.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, TypeVar

import pydantic_core
from pydantic import BaseModel, ConfigDict, Field

# Event ids are derived from what caused the event, so a retried producer publishes the same id and
# idempotent consumers drop the repeat.
_ID_NAMESPACE = uuid.UUID("6f1c9f2e-5b7a-4d8e-9a51-3c0e2b7d4a10")


def deterministic_id(*parts: object) -> str:
    return str(uuid.uuid5(_ID_NAMESPACE, "\x1f".join(str(p) for p in parts)))


def utc_now() -> datetime:
    return datetime.now(UTC)


class Envelope(BaseModel):
    """An event as it sits on the bus. `detail` is the typed payload, kept as a dict here."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    id: str
    time: datetime
    source: str
    detail_type: str = Field(alias="detail-type")
    version: str = "1"
    detail: dict[str, Any]
    # Set on re-deliveries from the archive, so consumers and logs can tell a replay apart.
    replay_name: str | None = Field(default=None, alias="replay-name")

    def detail_json(self) -> bytes:
        """The detail as compact UTF-8 JSON (non-ASCII unescaped)."""
        return pydantic_core.to_json(self.detail)

    def to_eventbridge(self, share_detail: bool = False) -> dict[str, Any]:
        """The shape EventBridge delivers to a target (what a Lambda or SQS consumer sees).

        share_detail: put this envelope's detail dict in as it is instead of a JSON-mode copy, for a
        caller that only reads it and knows it is JSON data already (the local bus matching rules:
        dumping a 1,000-pair StockChanged batch again cost more than storing it).
        """
        if share_detail:
            out = self.model_dump(mode="json", by_alias=True, exclude_none=True, exclude={"detail"})
            out["detail"] = self.detail
        else:
            out = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        out.setdefault("account", "000000000000")
        out.setdefault("region", "local")
        out.setdefault("resources", [])
        return out


@dataclass(frozen=True)
class JsonEvent:
    """An event whose detail its producer rendered as JSON text (new_json_event), with an Envelope's
    attributes: a StockChanged batch is ~200 KB, which the local bus stores and the AWS bus sends as it
    is; the detail is decoded only for a reader that needs it as data (a rule that matches on it)."""

    id: str
    time: datetime
    source: str
    detail_type: str
    text: bytes
    version: str = "1"
    replay_name: str | None = None

    @cached_property
    def detail(self) -> dict[str, Any]:
        decoded: dict[str, Any] = pydantic_core.from_json(self.text)
        return decoded

    def detail_json(self) -> bytes:
        return self.text

    def envelope(self, detail: dict[str, Any] | None = None) -> Envelope:
        """This event as an Envelope, with its decoded detail (or another one: the bus routes some
        events on everything but their detail)."""
        return Envelope(  # populate_by_name: field names are accepted (no pydantic mypy plugin)
            id=self.id,
            time=self.time,
            source=self.source,
            detail_type=self.detail_type,
            version=self.version,
            detail=self.detail if detail is None else detail,
            replay_name=self.replay_name,
        )

    def to_eventbridge(self, share_detail: bool = False) -> dict[str, Any]:
        return self.envelope().to_eventbridge(share_detail)


# What a producer publishes and a consumer is handed.
Event = Envelope | JsonEvent

DetailModel = TypeVar("DetailModel", bound=BaseModel)


def parse_detail(event: Event, model: type[DetailModel]) -> DetailModel:
    """The event's detail validated as `model`, from its JSON text when the event still has it."""
    if isinstance(event, JsonEvent):
        return model.model_validate_json(event.text)
    return model.model_validate(event.detail)


def new_event(
    detail: BaseModel, *, source: str, id_parts: tuple[object, ...], time: datetime | None = None
) -> Envelope:
    """Wrap a detail model in an envelope whose id is derived from `id_parts` (see deterministic_id)."""
    return new_raw_event(
        type(detail).__name__, detail.model_dump(mode="json"), source=source, id_parts=id_parts, time=time
    )


def new_json_event(
    detail_type: str,
    detail_json: bytes,
    *,
    source: str,
    id_parts: tuple[object, ...],
    time: datetime | None = None,
) -> JsonEvent:
    """new_raw_event for a detail a producer rendered as JSON text (UTF-8, one object) itself."""
    return JsonEvent(deterministic_id(detail_type, *id_parts), time or utc_now(), source, detail_type, detail_json)


def new_raw_event(
    detail_type: str,
    detail: dict[str, Any],
    *,
    source: str,
    id_parts: tuple[object, ...],
    time: datetime | None = None,
) -> Envelope:
    """For hot paths that build a large detail as plain JSON-ready data (validated by tests, not per call)."""
    return Envelope(  # populate_by_name: field names are accepted (no pydantic mypy plugin)
        id=deterministic_id(detail_type, *id_parts),
        time=time or utc_now(),
        source=source,
        detail_type=detail_type,
        detail=detail,
    )
