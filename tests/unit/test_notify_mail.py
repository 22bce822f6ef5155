"""The rejection mail a file with many bad rows produces: a readable excerpt and where to find the rest."""

from __future__ import annotations

from pathlib import Path

from adapters.settings import Settings
from events.models import FileRejected
from services.notify.mail import MAX_LISTED, rejected_mail

KEY = "inventory_files/2021/02/15/20210215090000_inventory.csv"


def rejection(bad_rows: int, listed: int) -> FileRejected:
    return FileRejected.model_validate(
        {
            "key": KEY,
            "kind": "inventory",
            "reason": "bad_rows",
            "message": f"{bad_rows} bad row(s) kept aside, 10 good row(s) applied",
            "good_rows": 10,
            "bad_rows": bad_rows,
            "rows": [{"line": n + 2, "reason": "ItemId is empty", "raw": f"row <{n}>"} for n in range(listed)],
        }
    )


def test_a_long_list_is_cut_and_says_how_to_see_every_bad_row(tmp_path: Path) -> None:
    mail = rejected_mail(Settings(home=tmp_path), ["e1"], [rejection(bad_rows=1500, listed=1000)])
    assert mail.subject == "Bad rows in 20210215090000_inventory.csv: 1500"
    listed = [line for line in mail.text.splitlines() if line.endswith(">") and " | " in line]
    assert len(listed) == MAX_LISTED
    hint = f"1500 bad row(s) in all; every one is kept with its reason (inventory files bad-rows '{KEY}' lists them)."
    assert mail.text.rstrip().endswith(hint)
    assert mail.html.count("<tr>") == MAX_LISTED + 1  # the header row and the excerpt
    assert "inventory files bad-rows" in mail.html and "row &lt;0&gt;" in mail.html


def test_a_short_list_is_whole_without_a_hint(tmp_path: Path) -> None:
    mail = rejected_mail(Settings(home=tmp_path), ["e1"], [rejection(bad_rows=3, listed=3)])
    assert "row <2>" in mail.text
    assert "bad-rows" not in mail.text and "bad-rows" not in mail.html
