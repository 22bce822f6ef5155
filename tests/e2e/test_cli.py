"""The real `inventory` command in a temporary home, as a user runs it."""

from __future__ import annotations

import email
import email.policy
import json
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from adapters.limits import LEVEL_BOUND
from tests.cli_runner import as_json, run
from tests.oracle import levels

pytestmark = pytest.mark.slow


def report_json(env: dict[str, str], *args: str) -> Any:
    return as_json(env, "report", *args)


HEADER = "Timestamp\tWarehouseName\tItemId\tItemName\tStockLevelChange\n"
KEY = "inventory_files/2021/02/15/20210215120000_inventory.csv"


def put_file(env: dict[str, str], folder: Path, data: bytes, key: str = KEY) -> str:
    """Write `data` as a file and `inventory put` it under `key`; returns the key."""
    path = folder / "upload.tsv"
    path.write_bytes(data)
    run(env, "put", str(path), "--key", key)
    return key


def test_generated_data_with_bad_rows_crlf_bom_and_a_file_put_twice_gives_exact_reports(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    samples = tmp_path / "samples"
    run(
        cli_env, "generate", "--out", str(samples), "--files", "6", "--rows", "300", "--bad-rows", "0.05", "--seed", "3"
    )
    files = sorted(p for p in samples.rglob("*") if p.is_file())
    inventory_files = [p for p in files if "inventory_files" in p.parts]
    assert any(p.read_bytes().startswith(b"\xef\xbb\xbf") for p in inventory_files)
    assert any(b"\r\n" in p.read_bytes() for p in inventory_files)

    run(cli_env, "put", str(samples))
    run(cli_env, "process")
    # the same file again, under its key: nothing changes
    again = inventory_files[0]
    run(cli_env, "put", str(again), "--key", again.relative_to(samples).as_posix())
    run(cli_env, "process")

    expected = levels(inventory_files)
    thresholds: dict[str, int] = {}
    for path in files:
        if path.suffix == ".json":
            thresholds |= {e["ItemId"]: e["RestockIfBelow"] for e in json.loads(path.read_text())["ThresholdList"]}
    warehouses = sorted({w for w, _ in expected})
    got: dict[tuple[str, str], int] = {}
    for warehouse in warehouses:
        rows = report_json(cli_env, "warehouse", warehouse)
        assert isinstance(rows, list)
        for row in rows:
            assert set(row) == {"warehouse", "item_id", "item_name", "level", "threshold", "below"}
            assert row["threshold"] == thresholds.get(row["item_id"], 10)
            assert row["below"] == (row["level"] < row["threshold"])
            got[(row["warehouse"], row["item_id"])] = row["level"]
        above = report_json(cli_env, "warehouse", warehouse, "--min-level", "50")
        assert above == [r for r in rows if r["level"] > 50]
    assert got == expected

    item = next(iter(expected))[1]
    report = report_json(cli_env, "item", item)
    split = {(w, i): v for (w, i), v in expected.items() if i == item}
    assert report["total"] == sum(split.values())
    assert report["warehouses"] == [{"warehouse": w, "level": v} for (w, _), v in sorted(split.items())]

    restock = report_json(cli_env, "restock")
    assert {(r["warehouse"], r["item_id"]) for r in restock} == {
        k for k, v in expected.items() if v < thresholds.get(k[1], 10)
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["put", "/no/such/file.csv"], "no such file"),
        (["put", "README.md", "--key", "elsewhere/x.csv"], "inventory_files/"),
        (["put", "README.md", "--key", "inventory_files/../../etc/passwd"], ".."),
        (["put", "README.md", "--key", "inventory_files/2024/13/45/x.csv"], "YYYY/MM/DD/<file name>"),
        (["report", "warehouse", "Nowhere 9"], "unknown warehouse: Nowhere 9"),
        (["report", "item", "zzz"], "unknown item: zzz"),
        (["report", "warehouse", "x", "--min-level", "lots"], "--min-level"),
        (["--format", "yaml", "report", "restock"], "yaml"),
        (["events", "list", "--since", "last tuesday"], "ISO 8601"),
        # numbers beyond what SQLite or datetime can hold are refused by the option, not by an overflow
        (["report", "warehouse", "x", "--min-level", "9223372036854775808"], "--min-level"),
        (["report", "warehouse", "x", "--min-level", str(-LEVEL_BOUND - 1)], "--min-level"),
        (["report", "warehouse", "x", "--min-level", str(LEVEL_BOUND)], "unknown warehouse: x"),
        (["files", "list", "--after", "99999999999999999999"], "--after"),
        (["events", "prune", "--days", "99999999999"], "--days"),
        (["validate", "--check-delay", "1e300"], "--check-delay"),
        # times that exist in their own offset but not in UTC, where the archive compares them
        (["events", "list", "--since", "9999-12-31T23:59:59-01:00"], "--since is out of range"),
        (["events", "replay", "--since", "0001-01-01T00:00:00+01:00"], "--since is out of range"),
        (["events", "replay", "--since", "2021-01-01", "--until", "9999-12-31T23:59:59-01:00"], "--until"),
        (["events", "list", "--type", "Nope"], "unknown detail-type 'Nope' for --type; one of: FileArrived"),
        (["events", "replay", "--since", "2021-01-01", "--type", "Nope"], "BelowThreshold"),
        (["events", "put", "BelowThreshold", "--detail", '{"warehouse": 1}'], "does not fit BelowThreshold"),
        (["nonsense"], "No such command"),
        # an endpoint botocore cannot use is named here, not found deep in a command with a traceback
        (["--backend", "aws", "--endpoint-url", "notaurl", "report", "restock"], "--endpoint-url must be an http(s)"),
        (["--backend", "aws", "--endpoint-url", "ftp://host", "report", "restock"], "'ftp://host'"),
        (["--backend", "aws", "--endpoint-url", "http://host:99999", "report", "restock"], "--endpoint-url"),
        # the outbox is the local runtime's, whatever INVENTORY_SMTP_URL says
        (["--backend", "aws", "--endpoint-url", "http://127.0.0.1:1", "mail", "list"], "local runtime only"),
        (["--backend", "aws", "--endpoint-url", "http://127.0.0.1:1", "mail", "show", "x"], "local runtime only"),
        # a window that ends before it starts could only ever replay nothing
        (["events", "replay", "--since", "2021-02-15T12:00:00Z", "--until", "2021-02-15T11:00:00Z"], "--since"),
        # a date of the right shape that does not exist is called that, not a mismatch of the format
        (["sql", "--from", "2021-02-30", "select 1"], "'2021-02-30' is not a real date (YYYY-MM-DD)"),
        (["--format", "xml", "report", "restock"], "Invalid value for '--format': 'xml' is not one of"),
        # SQL that starts with a comment looks like an option to the argument parser
        (["sql", "-- top movers\nSELECT 1"], "goes after a lone --: inventory sql -- '-- …'"),
        # a mistyped option keeps click's own message and suggestion
        (["report", "warehouse", "W", "--min-levle", "5"], "--min-levle (Possible options: --min-level)"),
        # a home that is a file
        (["--home", "/etc/passwd", "report", "restock"], "not a directory: /etc/passwd"),
    ],
)
def test_user_errors_are_one_clear_line_and_a_non_zero_exit(
    cli_env: dict[str, str], args: list[str], message: str
) -> None:
    proc = run(cli_env, *args, ok=False)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    assert message in lines[0]
    assert "Traceback" not in proc.stderr


def test_a_bad_aws_endpoint_url_variable_is_one_clear_line(cli_env: dict[str, str]) -> None:
    # GIVEN AWS_ENDPOINT_URL set to something that is not a URL
    env = dict(cli_env, AWS_ENDPOINT_URL="localhost5000")
    # WHEN a command runs on AWS
    proc = run(env, "--backend", "aws", "report", "restock", ok=False)
    # THEN it names the variable in one line, no traceback
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        "error: AWS_ENDPOINT_URL must be an http(s) URL with a host, such as http://127.0.0.1:5000, not 'localhost5000'"
    ]


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("INVENTORY_SMTP_URL", "http://x", "INVENTORY_SMTP_URL must look like smtp://"),
        ("INVENTORY_ARCHIVE_DAYS", "99999999999", "invalid setting INVENTORY_ARCHIVE_DAYS"),
        ("INVENTORY_CHECK_DELAY", "1e300", "invalid setting INVENTORY_CHECK_DELAY"),
        ("INVENTORY_DEFAULT_THRESHOLD", "99999999999999999999", "invalid setting INVENTORY_DEFAULT_THRESHOLD"),
        ("INVENTORY_MAX_ATTEMPTS", "100000", "invalid setting INVENTORY_MAX_ATTEMPTS"),
        ("INVENTORY_RETRY_BASE_SECONDS", "1e300", "invalid setting INVENTORY_RETRY_BASE_SECONDS"),
        ("INVENTORY_PURCHASING_EMAIL", "not-an-address", "invalid setting INVENTORY_PURCHASING_EMAIL"),
        ("INVENTORY_PURCHASING_EMAIL", "Einkauf <e@x.de>", "is not one plain address such as purchasing@example.com"),
        ("INVENTORY_PURCHASING_EMAIL", "a@b.c\r\nBcc: x@y.z", "invalid setting INVENTORY_PURCHASING_EMAIL"),
    ],
)
def test_a_bad_setting_is_one_clear_line_and_leaves_no_home_behind(
    cli_env: dict[str, str], variable: str, value: str, message: str
) -> None:
    # GIVEN a setting no runtime can work with
    env = dict(cli_env, **{variable: value})
    # WHEN any command of the local runtime starts
    proc = run(env, "status", ok=False)
    # THEN it says which setting, in one line, before creating the home
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert message in proc.stderr
    assert not Path(cli_env["INVENTORY_HOME"]).exists()


def test_conflicting_content_under_a_used_key_is_refused(tmp_path: Path, cli_env: dict[str, str]) -> None:
    key = "inventory_files/2021/02/15/20210215120000_inventory.csv"
    header = "Timestamp\tWarehouseName\tItemId\tItemName\tStockLevelChange\n"
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text(header + "2021-02-15T12:00:00Z\tW\ti1\tN\t20\n")
    second.write_text(header + "2021-02-15T12:00:00Z\tW\ti1\tN\t99\n")
    run(cli_env, "put", str(first), "--key", key)
    run(cli_env, "process")
    proc = run(cli_env, "put", str(second), "--key", key, ok=False)
    assert proc.returncode == 1 and "different content" in proc.stderr
    # the refusal says how to send a correction, and that way works
    assert "store it under a new name, e.g. inventory_files/2021/02/15/20210215120000_inventory_2.csv" in proc.stderr
    run(cli_env, "put", str(second), "--key", key.replace(".csv", "_2.csv"))
    run(cli_env, "process")
    assert report_json(cli_env, "item", "i1")["total"] == 119
    events = json.loads(run(cli_env, "--format", "json", "events", "list", "--type", "FileRejected").stdout)
    assert [e["detail"]["reason"] for e in events] == ["conflict"]


def test_csv_export_neutralises_formulas(tmp_path: Path, cli_env: dict[str, str]) -> None:
    data = tmp_path / "x_inventory.csv"
    data.write_text(
        "Timestamp\tWarehouseName\tItemId\tItemName\tStockLevelChange\n"
        '2021-02-15T12:00:00Z\t=HYPERLINK("http://x")\ti1\t@SUM(A1)\t5\n'
    )
    run(cli_env, "put", str(data), "--key", "inventory_files/2021/02/15/x_inventory.csv")
    run(cli_env, "process")
    out = run(cli_env, "--format", "csv", "report", "restock").stdout
    assert "'=HYPERLINK" in out and "'@SUM(A1)" in out


def test_files_list_their_fate_and_bad_rows_show_line_and_reason(tmp_path: Path, cli_env: dict[str, str]) -> None:
    # GIVEN generated files with about 5% bad rows, put and processed
    samples = tmp_path / "samples"
    run(
        cli_env, "generate", "--out", str(samples), "--files", "3", "--rows", "200", "--bad-rows", "0.05", "--seed", "4"
    )
    run(cli_env, "put", str(samples))
    run(cli_env, "process")
    # WHEN the files are listed
    files = as_json(cli_env, "files", "list")
    # THEN every file is there in arrival order, applied, with its counts
    assert [f["sequence"] for f in files] == list(range(1, len(files) + 1))
    assert {f["key"] for f in files} == {p.relative_to(samples).as_posix() for p in samples.rglob("*") if p.is_file()}
    assert {f["status"] for f in files} == {"applied"}
    inventory = [f for f in files if f["kind"] == "inventory"]
    assert sum(f["bad_rows"] for f in inventory) > 0
    assert as_json(cli_env, "files", "list", "--status", "rejected") == []
    # AND the bad rows of each inventory file are exactly as many as counted, with line, reason and text
    for f in inventory:
        bad = as_json(cli_env, "files", "bad-rows", f["key"])
        assert len(bad) == f["bad_rows"]
        assert [b["line"] for b in bad] == sorted(b["line"] for b in bad)
        assert all(b["line"] > 1 and b["reason"] and b["raw"] for b in bad)
    # AND a file rejected whole is listed with the sentence that says why, in the table and in JSON
    comma = tmp_path / "comma.csv"
    comma.write_text("Timestamp,WarehouseName,ItemId,ItemName,StockLevelChange\n2021-02-15T12:00:00Z,W,a,A,1\n")
    comma_key = "inventory_files/2021/02/16/20210216120000_inventory.csv"
    run(cli_env, "put", str(comma), "--key", comma_key)
    run(cli_env, "process")
    [rejected] = as_json(cli_env, "files", "list", "--status", "rejected")
    assert (rejected["key"], rejected["reason"]) == (comma_key, "unreadable")
    assert "separated by ',', not TAB" in rejected["message"]
    table = run(dict(cli_env, COLUMNS="200"), "files", "list", "--status", "rejected").stdout
    assert "separated by ',', not TAB" in table
    proc = run(cli_env, "files", "bad-rows", comma_key)
    assert "the whole file was rejected: header (line 1) is separated by ','" in proc.stderr
    # AND an unknown key is one clear line and a non-zero exit
    proc = run(cli_env, "files", "bad-rows", "inventory_files/nope.csv", ok=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "error: no file with key 'inventory_files/nope.csv' (see `inventory files list`)"
    ]


def test_a_folder_skips_hidden_files_and_a_stray_file_refuses_all_of_it(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    # GIVEN a folder of generated files, as copied by a Mac (.DS_Store, ._ files, a .git folder)
    samples = tmp_path / "samples"
    run(cli_env, "generate", "--out", str(samples), "--files", "2", "--rows", "20", "--seed", "5")
    keys = sorted(p.relative_to(samples).as_posix() for p in samples.rglob("*") if p.is_file())
    (samples / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (samples / "inventory_files" / "._20210215000000_inventory.csv").write_bytes(b"\x00\x05\x16\x07")
    (samples / ".git").mkdir()
    (samples / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    # WHEN it is put, and then a copy with a file outside the two prefixes
    stored = as_json(cli_env, "put", str(samples))
    (samples / "notes.txt").write_text("remember the milk\n")
    refused = run(cli_env, "put", str(samples), ok=False)
    # THEN the hidden files were passed over; the stray file refused the whole folder with one line
    assert sorted(s["key"] for s in stored) == keys
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: nothing stored: key 'notes.txt' must start with")
    assert len(refused.stderr.strip().splitlines()) == 1
    # AND a folder where one file conflicts with what its key holds still stores the others
    (samples / "notes.txt").unlink()
    first = samples / keys[0]
    first.write_bytes(first.read_bytes() + b"2021-02-15T23:00:00Z\tW\tI\tN\t1\n")
    newer = samples / "inventory_files" / "2021" / "02" / "17" / "20210217090000_inventory.csv"
    newer.parent.mkdir(parents=True)
    newer.write_text("Timestamp\tWarehouseName\tItemId\tItemName\tStockLevelChange\n")
    partly = run(cli_env, "--format", "json", "put", str(samples), ok=False)
    assert partly.returncode == 1
    assert f"{len(keys)} stored, 1 refused: {keys[0]} already holds different content" in partly.stderr
    assert newer.relative_to(samples).as_posix() in {s["key"] for s in json.loads(partly.stdout)}


def test_a_flat_folder_of_named_files_is_put_under_the_keys_put_file_derives(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    # GIVEN a flat folder of files named like the scenario's, beside one already laid out like a key
    folder = tmp_path / "drop"
    laid_out = "inventory_files/2021/02/15/20210219120000_inventory.csv"
    (folder / laid_out).parent.mkdir(parents=True)
    (folder / laid_out).write_text(HEADER + "2021-02-19T12:00:00Z\tW\ta1\tShirt\t1\n")
    (folder / "20210219110000_inventory.csv").write_text(HEADER + "2021-02-19T11:00:00Z\tW\ta1\tShirt\t2\n")
    (folder / "20210219100000_thresholds.json").write_text('{"ThresholdList": [{"ItemId": "a1", "RestockIfBelow": 5}]}')
    single = tmp_path / "20210219110000_inventory.csv"
    single.write_bytes((folder / "20210219110000_inventory.csv").read_bytes())
    # WHEN the folder is put and processed
    stored = as_json(cli_env, "put", str(folder))
    run(cli_env, "process")
    # THEN each flat file has the key `put FILE` gives it, the laid-out one keeps its own, and all apply
    [derived] = as_json(cli_env, "put", str(single))  # the same content under the same key: no conflict
    assert derived["key"] == "inventory_files/2021/02/19/20210219110000_inventory.csv"
    assert sorted(s["key"] for s in stored) == [
        laid_out,
        derived["key"],
        "restock_thresholds/2021/02/19/20210219100000_thresholds.json",
    ]
    assert [(r["item_id"], r["level"], r["threshold"]) for r in report_json(cli_env, "restock")] == [("a1", 3, 5)]


def test_only_commands_that_run_the_services_change_the_default_threshold(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    # GIVEN a pair at 15 processed under the default 10
    put_file(cli_env, tmp_path, (HEADER + "2021-02-15T12:00:00Z\tW\ta1\tShirt\t15\n").encode())
    run(cli_env, "process")
    with_20 = dict(cli_env, INVENTORY_DEFAULT_THRESHOLD="20")
    # WHEN a shell with another default only reads a report
    proc = run(with_20, "--format", "json", "report", "restock")
    # THEN the report follows the default in force, says the other one is not applied, and changes nothing:
    # the next `process` has nothing to sweep, nothing dead-lettered and no mail
    assert json.loads(proc.stdout) == []
    assert "the default threshold in force is 10 (set by the last `process` or `serve`), not " in proc.stderr
    assert "INVENTORY_DEFAULT_THRESHOLD=20;" in proc.stderr
    processed = as_json(cli_env, "process")
    assert processed["dead"] == 0 and processed.get("notify", 0) == 0
    assert as_json(cli_env, "mail", "list") == []
    # AND `process` with the new default applies it: the pair is below 20 and one alert goes out
    run(with_20, "process")
    assert [(r["item_id"], r["threshold"]) for r in as_json(with_20, "report", "restock")] == [("a1", 20)]
    assert len(as_json(cli_env, "mail", "list")) == 1


def test_a_windows_1252_export_is_applied_whole_and_sql_and_the_validator_agree(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    # GIVEN an inventory file as Excel on Windows saves "Text (Tab delimited)": Windows-1252 and CRLF
    export = (
        HEADER
        + "2021-02-15T12:00:00Z\tMünchen 1\ta1\tKaffeebohnen Größe S\t25\n"
        + "2021-02-15T12:00:01Z\tMünchen 1\tb2\tT-Shirt\t30\n"
    ).replace("\n", "\r\n")
    # WHEN it is put and processed
    key = put_file(cli_env, tmp_path, export.encode("cp1252"))
    run(cli_env, "process")
    # THEN every row is applied with its name as written, no row is refused, and SQL and the nightly
    # validation read the same rows
    assert [(r["item_id"], r["item_name"], r["level"]) for r in report_json(cli_env, "warehouse", "München 1")] == [
        ("a1", "Kaffeebohnen Größe S", 25),
        ("b2", "T-Shirt", 30),
    ]
    assert as_json(cli_env, "files", "bad-rows", key) == []
    assert as_json(cli_env, "sql", "SELECT item_name, change FROM transactions ORDER BY item_id") == [
        {"item_name": "Kaffeebohnen Größe S", "change": 25},
        {"item_name": "T-Shirt", "change": 30},
    ]
    summary = as_json(cli_env, "validate", "--check-delay", "0")
    assert summary["transactions"] == 2


def test_a_pandas_export_with_decimal_zeros_is_applied_and_sql_the_validator_and_the_mail_agree(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    # GIVEN an inventory file as pandas writes an integer column holding a NaN (floats), CRLF, and one
    # change that really is not whole
    export = (
        HEADER
        + "2021-02-15T12:00:00Z\tW\ta1\tShirt\t5.0\n"
        + "2021-02-15T12:00:01Z\tW\ta1\tShirt\t-3.00\n"
        + "2021-02-15T12:00:02Z\tW\tb2\tMug\t+7.0\n"
        + "2021-02-15T12:00:03Z\tW\tb2\tMug\t2.5\n"
    ).replace("\n", "\r\n")
    # WHEN it is put and processed
    key = put_file(cli_env, tmp_path, export.encode())
    run(cli_env, "process")
    # THEN the whole numbers are applied, and SQL and the nightly validation read the same rows
    assert [(r["item_id"], r["level"]) for r in report_json(cli_env, "warehouse", "W")] == [("a1", 2), ("b2", 7)]
    assert as_json(cli_env, "sql", "SELECT item_id, sum(change) AS s FROM transactions GROUP BY ALL ORDER BY 1") == [
        {"item_id": "a1", "s": 2},
        {"item_id": "b2", "s": 7},
    ]
    summary = as_json(cli_env, "validate", "--check-delay", "0")
    assert (summary["transactions"], summary["findings_by_kind"]) == (4, {"bad_row": 1})  # no mismatch
    # AND the one bad row keeps its text without the CR of its line end, in bad-rows, in SQL and in the mail
    raw = "2021-02-15T12:00:03Z\tW\tb2\tMug\t2.5"
    assert as_json(cli_env, "files", "bad-rows", key) == [
        {"line": 5, "reason": "StockLevelChange is not an integer: '2.5'", "raw": raw}
    ]
    assert as_json(cli_env, "sql", "SELECT raw FROM rejected_rows") == [{"raw": raw}]
    [mail] = [m for m in as_json(cli_env, "mail", "list") if m["subject"].startswith("Bad rows")]
    eml = subprocess.run(["inventory", "mail", "show", mail["id"]], env=cli_env, capture_output=True, check=True)
    message = email.message_from_bytes(eml.stdout, policy=email.policy.default)
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert f"5 | StockLevelChange is not an integer: '2.5' | {raw}\n" in text
    assert f"<code>{raw}</code>" in html  # a kept CR came out as a line break before </code>


def test_get_prints_a_stored_file_and_the_validation_report_in_clear(tmp_path: Path, cli_env: dict[str, str]) -> None:
    # GIVEN a file put and processed, and a nightly validation run over it
    data = HEADER + "2021-02-15T12:00:00Z\tW\ta1\tShirt\t-4\n"
    key = put_file(cli_env, tmp_path, data.encode())
    run(cli_env, "process")
    run(cli_env, "validate", "--check-delay", "0")
    [completed] = as_json(cli_env, "events", "list", "--type", "ValidationCompleted")
    report_key = completed["detail"]["report_key"]
    # WHEN both are fetched (the bucket holds them encrypted)
    copy = tmp_path / "copy.tsv"
    run(cli_env, "get", key, "--out", str(copy))
    report = json.loads(run(cli_env, "get", report_key).stdout)
    # THEN they come back as they were written: the file byte for byte, the report as JSON with its findings
    assert copy.read_text() == data
    assert report["transactions"] == 1 and report["findings"]
    # AND a key outside the bucket's folders is one clear line
    proc = run(cli_env, "get", "../../etc/passwd", ok=False)
    assert proc.returncode == 1 and proc.stderr.startswith("error: key '../../etc/passwd' must name a file under")


def test_get_prints_a_file_the_inbox_set_aside_by_the_name_it_was_dropped_under(cli_env: dict[str, str]) -> None:
    from adapters.settings import Settings
    from local.serve import Server
    from local.wiring import bootstrap
    from tests.inbox_support import drop_refused_twice

    # GIVEN two files of the same name refused by serve's inbox, kept sealed (X.enc, X.2.enc on disk)
    home = Path(cli_env["INVENTORY_HOME"])
    runtime = bootstrap(
        Settings(home=home, inbox_settle_seconds=0, master_key_file=Path(cli_env["INVENTORY_MASTER_KEY_FILE"]))
    )
    drop_refused_twice(Server(runtime))
    runtime.close()
    assert sorted(p.name for p in (home / "inbox-rejected" / "elsewhere").iterdir() if p.suffix == ".enc") == [
        "notes.txt.2.enc",
        "notes.txt.enc",
    ]
    # WHEN each is fetched by the name serve's log gives it, without .enc, and by its name on disk
    # THEN each comes back in clear, and so does its reason
    for name, text in (("notes.txt", "first"), ("notes.txt.2", "second")):
        assert run(cli_env, "get", f"inbox-rejected/elsewhere/{name}").stdout == text
        assert run(cli_env, "get", f"inbox-rejected/elsewhere/{name}.enc").stdout == text
        reason = run(cli_env, "get", f"inbox-rejected/elsewhere/{name}.reason.txt").stdout
        assert reason == run(cli_env, "get", f"inbox-rejected/elsewhere/{name}.enc.reason.txt").stdout
        assert reason.startswith("key 'elsewhere/notes.txt' must start with inventory_files/")
    # AND a name that was never set aside is one clear line
    proc = run(cli_env, "get", "inbox-rejected/elsewhere/notes.txt.3", ok=False)
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        "error: no set-aside file 'inbox-rejected/elsewhere/notes.txt.3' (see the folder inbox-rejected/ in the home)"
    ]


def test_a_file_put_but_not_processed_is_listed_as_stored_and_left_out_of_sql(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    # GIVEN one file processed (level 15) and a second one put but not processed (+100)
    header = "Timestamp\tWarehouseName\tItemId\tItemName\tStockLevelChange\n"
    first, second = tmp_path / "a.tsv", tmp_path / "b.tsv"
    first.write_text(header + "2021-02-15T12:00:00Z\tW\ta1\tShirt\t15\n")
    second.write_text(header + "2021-02-16T12:00:00Z\tW\ta1\tShirt\t100\n")
    applied_key = "inventory_files/2021/02/15/20210215120000_inventory.csv"
    waiting_key = "inventory_files/2021/02/16/20210216120000_inventory.csv"
    run(cli_env, "put", str(first), "--key", applied_key)
    run(cli_env, "process")
    run(cli_env, "put", str(second), "--key", waiting_key)
    # WHEN SQL, the files list and the status are asked before `process`
    query = "SELECT warehouse, sum(change) AS level FROM transactions GROUP BY ALL"
    proc = run(cli_env, "--format", "json", "sql", query)
    files = as_json(cli_env, "files", "list")
    status = as_json(cli_env, "status")
    # THEN SQL agrees with the report and says on stderr that one stored file was left out
    assert json.loads(proc.stdout) == [{"warehouse": "W", "level": 15}]
    assert report_json(cli_env, "item", "a1")["total"] == 15
    assert proc.stderr.splitlines() == [
        "note: 1 stored inventory file(s) left out: not applied yet (`inventory process` applies them)"
    ]
    # AND the waiting file is listed after the ledger's, as stored, and counted as waiting
    assert [(f["key"], f["status"]) for f in files] == [(applied_key, "applied"), (waiting_key, "stored")]
    assert [f["key"] for f in as_json(cli_env, "files", "list", "--status", "stored")] == [waiting_key]
    assert as_json(cli_env, "files", "list", "--status", "applied")[0]["key"] == applied_key
    assert status["files_waiting"] == 1
    # AND after `process` everything agrees on 115, with nothing left out or waiting
    run(cli_env, "process")
    proc = run(cli_env, "--format", "json", "sql", "SELECT sum(change) AS level FROM transactions")
    assert json.loads(proc.stdout) == [{"level": 115}] and proc.stderr == ""
    assert report_json(cli_env, "item", "a1")["total"] == 115
    assert {f["status"] for f in as_json(cli_env, "files", "list")} == {"applied"}
    assert as_json(cli_env, "status")["files_waiting"] == 0


def test_sql_gives_blobs_and_intervals_as_text_a_program_can_read(cli_env: dict[str, str]) -> None:
    # GIVEN a query with a BLOB, intervals, a list of intervals, a decimal and a NaN
    query = (
        "SELECT 'x\\xFF'::BLOB AS b, INTERVAL 1 DAY AS i, INTERVAL '-90 minutes' AS n, "
        "[INTERVAL '1.5 seconds'] AS l, 1.50::DECIMAL(4, 2) AS d, 'nan'::DOUBLE AS f"
    )
    # WHEN it is asked for as JSON and as CSV
    as_json_out = run(cli_env, "--format", "json", "sql", query).stdout
    as_csv = run(cli_env, "--format", "csv", "sql", query).stdout
    # THEN a BLOB is upper-case hex and an INTERVAL an ISO 8601 duration in both, and the JSON is strict
    assert json.loads(as_json_out, parse_constant=lambda c: pytest.fail(f"non-standard JSON {c}")) == [
        {"b": "78FF", "i": "P1D", "n": "-PT1H30M", "l": ["PT1.5S"], "d": "1.50", "f": "NaN"}
    ]
    assert as_csv.splitlines() == ["b,i,n,l,d,f", '78FF,P1D,\'-PT1H30M,"[""PT1.5S""]",1.50,nan']


def test_a_script_with_a_broken_statement_prints_what_ran_and_names_the_statement(cli_env: dict[str, str]) -> None:
    # GIVEN a script whose second statement does not parse, and one whose second statement fails to run
    broken = "SELECT 1 AS a;\n-- a comment; with a semicolon\nSELEC 2;\nSELECT 3 AS c;\n"
    failing = "SELECT 1 AS a;\nSELECT nope;\nSELECT 3 AS c;\n"
    # WHEN each is run from stdin
    results = []
    for script, fmt in ((broken, "csv"), (failing, "json")):
        command = ["inventory", "--format", fmt, "sql"]
        results.append(subprocess.run(command, env=cli_env, input=script, capture_output=True, text=True, timeout=120))
    # THEN statement 1's result is printed, the error names statement 2 in one line, and the exit is non-zero
    parse, run_error = results
    assert parse.returncode == 1 and parse.stdout == "a\n1\n\n"
    assert parse.stderr.splitlines() == ['error: statement 2: Parser Error: syntax error at or near "SELEC"']
    assert run_error.returncode == 1
    assert json.loads(run_error.stdout) == [{"query": "SELECT 1 AS a;", "rows": [{"a": 1}]}]
    [line] = run_error.stderr.splitlines()
    assert line.startswith("error: statement 2: Binder Error: ") and "nope" in line


def test_a_new_home_first_used_by_validate_still_announces_a_later_default_change(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    # GIVEN a new home whose first deliveries are run by `validate` (it runs what is pending), default 10
    put_file(cli_env, tmp_path, (HEADER + "2021-02-15T12:00:00Z\tW\ta1\tA\t20\n").encode())
    run(cli_env, "validate", "--check-delay", "0")
    # WHEN `process` starts with the default 50
    with_50 = dict(cli_env, INVENTORY_DEFAULT_THRESHOLD="50")
    run(with_50, "process")
    # THEN the change is swept: the pair at 20 is on the restock list and one alert mail went out
    assert [(r["item_id"], r["threshold"]) for r in as_json(with_50, "report", "restock")] == [("a1", 50)]
    assert len(as_json(with_50, "mail", "list")) == 2  # the alert, and the validation summary


@pytest.mark.parametrize(
    ("retry_base", "line"),
    [("0", "1 delivery failed for good; see `inventory events dead`"), ("11", "1 delivery waits for a retry in 11 s")],
)
def test_a_mail_server_that_is_down_gives_process_one_line_at_the_end(
    tmp_path: Path, cli_env: dict[str, str], retry_base: str, line: str
) -> None:
    # GIVEN a file whose pair starts below its threshold (one alert to mail) and no mail server listening
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    env = dict(cli_env, INVENTORY_SMTP_URL=f"smtp://127.0.0.1:{closed}", INVENTORY_RETRY_BASE_SECONDS=retry_base)
    put_file(env, tmp_path, (HEADER + "2021-02-15T12:00:00Z\tW\ta1\tA\t3\n").encode())
    # WHEN process retries until it gives up (every try at once) or until the next try is too far off
    proc = run(env, "process", ok=False)
    # THEN stderr is one line that says so, not one line per retry
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [proc.stderr.strip()] and line in proc.stderr, proc.stderr
