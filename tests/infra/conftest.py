"""The synthesised app as the tests read it (the session fixture `synthesized` is in tests/conftest.py,
so the end-to-end tests share the one synthesis, about 15 s, with the infrastructure tests)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The Makefile exports this too; set here so a bare `pytest` is as quiet (before jsii starts node).
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from aws_cdk.assertions import Template


@dataclass(frozen=True)
class Synthesized:
    outdir: Path
    template: Template
    raw: dict[str, Any]
    report: dict[str, Any] | None  # cdk-nag's validation report
    error: str | None  # why synthesis stopped (cdk-nag findings stop it), or None

    def resources(self, kind: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.raw["Resources"].items() if v["Type"] == kind}

    def properties(self, kind: str) -> dict[str, dict[str, Any]]:
        return {k: v.get("Properties", {}) for k, v in self.resources(kind).items()}

    def only(self, kind: str) -> tuple[str, dict[str, Any]]:
        found = self.properties(kind)
        assert len(found) == 1, f"expected one {kind}, found {sorted(found)}"
        return next(iter(found.items()))


def synthesize(outdir: Path) -> Synthesized:
    from app import build_app

    app, stack = build_app(outdir=str(outdir))
    error: str | None = None
    try:
        app.synth()
    except RuntimeError as exc:  # jsii surfaces the CDK's ValidationFailed as RuntimeError
        error = str(exc)
    raw = json.loads((outdir / f"{stack.stack_name}.template.json").read_text(encoding="utf-8"))
    report_path = outdir / "validation-report.json"
    report = json.loads(report_path.read_text(encoding="utf-8")) if report_path.exists() else None
    return Synthesized(outdir=outdir, template=Template.from_json(raw), raw=raw, report=report, error=error)
