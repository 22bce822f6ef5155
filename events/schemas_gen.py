"""Generate `events/schemas/<Name>.json`, one JSON Schema per detail-type, from the pydantic models.

Each schema describes the whole event as a consumer receives it from EventBridge (envelope plus typed
detail), so it can be handed to teams that do not read Python, or registered in a schema registry.

    python -m events.schemas_gen           # (re)write the files
    python -m events.schemas_gen --check   # exit 1 if the committed files are stale (CI)
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from events.models import DETAIL_MODELS, SOURCES, Detail

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
DRAFT = "https://json-schema.org/draft/2020-12/schema"
STALE_MESSAGE = "schemas are out of date: run make schemas"


def event_schema(name: str, model: type[Detail]) -> dict[str, Any]:
    """The schema of a full EventBridge event whose detail is `model`."""
    detail = model.model_json_schema()
    # Refs inside the model are "#/$defs/...": hoisting $defs to the root keeps them resolvable now that
    # the model schema sits under properties.detail.
    defs = detail.pop("$defs", None)
    schema: dict[str, Any] = {
        "$schema": DRAFT,
        "title": name,
        "description": f"An EventBridge event of detail-type {name}, as delivered to a target.",
        "type": "object",
        "required": ["detail", "detail-type", "id", "source", "time"],
        "properties": {
            "detail-type": {"const": name},
            "source": {"enum": list(SOURCES[name])},
            # Not a const: EventBridge stamps "0" on events it delivers, the local bus uses SCHEMA_VERSION.
            "version": {"type": "string"},
            "id": {"type": "string", "minLength": 1},
            "time": {"type": "string", "format": "date-time"},
            "account": {"type": "string"},
            "region": {"type": "string"},
            "resources": {"type": "array", "items": {"type": "string"}},
            "replay-name": {"type": "string"},
            "detail": detail,
        },
    }
    if defs:
        schema["$defs"] = defs
    return schema


def render(schema: dict[str, Any]) -> str:
    # Sorted keys and a fixed indent make the output a pure function of the models, so regenerating
    # never produces a diff unless the contract changed.
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def render_all() -> dict[str, str]:
    """File name -> file text for every detail model."""
    return {f"{name}.json": render(event_schema(name, model)) for name, model in sorted(DETAIL_MODELS.items())}


def stale_files(directory: Path | None = None) -> list[str]:
    """Names of schema files that differ from, are missing from, or are not produced by render_all()."""
    directory = directory or SCHEMA_DIR
    expected = render_all()
    on_disk = {path.name: path for path in directory.glob("*.json")} if directory.is_dir() else {}
    stale = [
        name
        for name, text in expected.items()
        if name not in on_disk or on_disk[name].read_text(encoding="utf-8") != text
    ]
    stale += [name for name in on_disk if name not in expected]
    return sorted(stale)


def write_all(directory: Path | None = None) -> list[Path]:
    directory = directory or SCHEMA_DIR
    directory.mkdir(parents=True, exist_ok=True)
    expected = render_all()
    written = []
    for name, text in expected.items():
        path = directory / name
        # newline="" keeps "\n" on every platform, or the bytes would depend on who regenerated them.
        with path.open("w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        written.append(path)
    for path in directory.glob("*.json"):
        if path.name not in expected:
            path.unlink()  # a model that was removed must not leave its contract behind
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m events.schemas_gen", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the schema files are out of date")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files()
        if stale:
            print(f"{STALE_MESSAGE} ({', '.join(stale)})", file=sys.stderr)
            return 1
        return 0
    for path in write_all():
        print(path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
