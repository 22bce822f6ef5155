"""End to end: a home built with the CLI, `inventory api` serving it, the API answering what the CLI says."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.reports_home import INVENTORY, ROOT, build_home, inventory, inventory_json

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_home(tmp_path_factory.mktemp("reports"))


@pytest.fixture(scope="module")
def base_url(home: Path) -> Iterator[str]:
    """`inventory api --port 0` in a subprocess; the URL comes from its first line on stderr."""
    proc = subprocess.Popen(
        [INVENTORY, "--home", str(home), "api", "--port", "0", "--quiet"],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert "http://127.0.0.1:" in line, line
        url = line.split(" on ", 1)[1].split()[0].rstrip("/")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def fetch(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


def get_json(url: str) -> Any:
    status, headers, body = fetch(url)
    assert status == 200, body
    assert headers["content-type"].startswith("application/json")
    return json.loads(body)


def all_items(base_url: str, warehouse: str, min_level: int | None = None, limit: int = 7) -> list[Any]:
    items: list[Any] = []
    cursor = None
    while True:
        query = f"limit={limit}" + (f"&min_level={min_level}" if min_level is not None else "")
        query += f"&cursor={cursor}" if cursor else ""
        page = get_json(f"{base_url}/warehouses/{quote(warehouse, safe='')}/items?{query}")
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def test_api_answers_what_the_cli_reports(home: Path, base_url: str) -> None:
    warehouses = get_json(f"{base_url}/warehouses")["warehouses"]
    assert len(warehouses) == 4
    for warehouse in warehouses:
        # WHEN the same report is asked of both THEN the answers are equal (the API's over all pages)
        assert all_items(base_url, warehouse) == inventory_json(home, "report", "warehouse", warehouse)
        assert all_items(base_url, warehouse, min_level=100) == inventory_json(
            home, "report", "warehouse", warehouse, "--min-level", "100"
        )
    restock = inventory_json(home, "report", "restock")
    assert restock, "the sample data should leave something to restock"
    assert get_json(f"{base_url}/restock")["items"] == restock
    item_ids = {row["item_id"] for row in restock} | {"m893n6"}
    for item_id in sorted(item_ids)[:6]:
        cli = subprocess_item(home, item_id)
        status, _, body = fetch(f"{base_url}/items/{quote(item_id, safe='')}")
        assert (status, json.loads(body) if status == 200 else None) == cli


def subprocess_item(home: Path, item_id: str) -> tuple[int, Any]:
    result = inventory(home, "--format", "json", "report", "item", item_id, check=False)
    return (200, json.loads(result.stdout)) if result.returncode == 0 else (404, None)


def test_csv_matches_the_cli_csv(home: Path, base_url: str) -> None:
    status, headers, body = fetch(f"{base_url}/restock?format=csv")
    assert status == 200 and headers["content-type"].startswith("text/csv")
    # (the subprocess is read in text mode, which turns the CSV's CRLF into LF)
    cli = inventory(home, "--format", "csv", "report", "restock").stdout
    assert body.decode("utf-8").replace("\r\n", "\n") == cli
    assert "'=" not in cli or "'=" in body.decode("utf-8")


def test_history_ends_at_the_level_and_sql_agrees(home: Path, base_url: str) -> None:
    row = inventory_json(home, "report", "restock")[0]
    query = f"warehouse={quote(row['warehouse'])}&item_id={quote(row['item_id'])}"
    history = get_json(f"{base_url}/history?{query}")
    assert history["points"][-1]["level"] == row["level"]
    # The SQL command sees the same transactions.
    sql = (
        "SELECT count(*) AS n, sum(change) AS level FROM transactions "
        f"WHERE warehouse = '{row['warehouse']}' AND item_id = '{row['item_id']}'"
    )
    (counted,) = inventory_json(home, "sql", sql)
    assert counted == {"n": len(history["points"]), "level": row["level"]}


def test_sql_command_formats_and_errors(home: Path) -> None:
    out = inventory(home, "--format", "csv", "sql", "SELECT 1 AS one, '=2' AS f").stdout
    assert out == "one,f\n1,'=2\n"  # the formula-like cell neutralised
    bad = inventory(home, "sql", "SELEC nonsense", check=False)
    assert bad.returncode == 1
    assert bad.stderr.count("\n") == 1 and bad.stderr.startswith("error: ")
    refused = inventory(home, "sql", "COPY transactions TO 'leak.csv'", check=False)
    assert refused.returncode == 1 and "disabled" in refused.stderr


def test_schemathesis_finds_no_failures(base_url: str, tmp_path: Path) -> None:
    # A cursor is opaque and only the server can issue a valid one; no schema can say so, hence 400
    # counts as an acceptable answer to a schema-valid request (400 is documented for that operation).
    config = tmp_path / "schemathesis.toml"
    config.write_text("[checks.positive_data_acceptance]\nexpected-statuses = [200, 400, 404]\n")
    st = Path(sys.executable).with_name("st")
    result = subprocess.run(
        [
            str(st),
            "--config-file",
            str(config),
            "run",
            f"{base_url}/openapi.json",
            "--checks",
            "all",
            "--max-examples",
            "20",
            "--workers",
            "1",
            "--seed",
            "8",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
    )
    tail = result.stdout[-4000:]
    assert result.returncode == 0, tail
    assert "passed" in tail


def test_sql_runs_several_statements_from_the_argument_or_a_script(home: Path) -> None:
    # WHEN two statements come in one argument, and a script comes on stdin
    both = inventory_json(home, "sql", "SELECT 41 + 1 AS x; SELECT ';' AS semi, count(*) > 0 AS some FROM transactions")
    script = subprocess.run(
        [INVENTORY, "--home", str(home), "--format", "csv", "sql"],
        input="SELECT 1 AS a;\n-- a comment\nSELECT 'b' AS b;\n",
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    broken = subprocess.run(
        [INVENTORY, "--home", str(home), "sql"],
        input="SELECT 1;\nSELEC 2;\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    # THEN each statement has its result; in a script that does not parse, what comes before the broken
    # statement runs, and one line names the statement and says why
    assert both == [
        {"query": "SELECT 41 + 1 AS x;", "rows": [{"x": 42}]},
        {"query": "SELECT ';' AS semi, count(*) > 0 AS some FROM transactions", "rows": [{"semi": ";", "some": True}]},
    ]
    assert script.stdout == "a\n1\n\nb\nb\n\n"
    assert broken.returncode == 1 and "1" in broken.stdout
    assert broken.stderr.count("\n") == 1 and broken.stderr.startswith("error: statement 2: ")
    assert "syntax error" in broken.stderr


def test_sql_in_a_terminal_is_a_prompt_that_survives_errors(home: Path) -> None:
    # GIVEN a terminal on stdin (stdout is a pipe, as in `inventory sql > results.txt`)
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        [INVENTORY, "--home", str(home), "--format", "csv", "sql"],
        stdin=terminal,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    os.close(terminal)
    # WHEN a statement over two lines, a broken one, another one and .quit are typed
    os.write(controller, b"SELECT 41 + 1\n AS x;\nSELEC nonsense;\nSELECT 'still here' AS y;\n.quit\n")
    out, err = proc.communicate(timeout=120)
    os.close(controller)
    # THEN the results reach stdout, the error and the prompts stderr, and the session went on to the end
    assert proc.returncode == 0
    assert out == "x\n42\ny\nstill here\n"
    assert "syntax error" in err and "sql> " in err
