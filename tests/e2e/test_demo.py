"""`inventory demo`: from an empty home, one command shows reports, alerts and where the mails are."""

from __future__ import annotations

import pytest

from tests.cli_runner import as_json, run

pytestmark = pytest.mark.slow


def test_demo_from_an_empty_home_shows_what_a_user_should_see(cli_env: dict[str, str]) -> None:
    out = run(cli_env, "demo").stdout
    for heading in ("Sample data", "Reports", "inventory report restock", "Alerts and mails", "Try it yourself"):
        assert heading in out
    # THEN the home it leaves behind answers the same questions through the CLI
    assert as_json(cli_env, "report", "restock")
    assert len(as_json(cli_env, "events", "list", "--type", "BelowThreshold")) > 0
    assert any(m["subject"].startswith("Restock needed") for m in as_json(cli_env, "mail", "list"))


def test_demo_refuses_a_used_home(cli_env: dict[str, str]) -> None:
    run(cli_env, "demo")
    again = run(cli_env, "demo", ok=False)
    assert again.returncode == 1 and again.stderr.startswith("error: ") and again.stderr.count("\n") == 1
