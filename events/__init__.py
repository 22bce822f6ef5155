"""The event contract shared by every service and both runtimes."""

from events.envelope import Envelope, Event, JsonEvent, deterministic_id, new_event, parse_detail, utc_now
from events.models import DETAIL_MODELS, SCHEMA_VERSION, SOURCES, Detail

__all__ = [
    "DETAIL_MODELS",
    "SCHEMA_VERSION",
    "SOURCES",
    "Detail",
    "Envelope",
    "Event",
    "JsonEvent",
    "deterministic_id",
    "new_event",
    "parse_detail",
    "utc_now",
]
