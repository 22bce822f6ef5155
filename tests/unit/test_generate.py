from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from local.generate import GeneratedSet, generate
from services.files.keys import classify_key, file_stamp, key_date
from services.ingest.parsing import BadRow, Row, parse_inventory
from services.thresholds.parsing import parse_thresholds


def files_of(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def parse_all(root: Path, result: GeneratedSet) -> list[Row | BadRow]:
    out: list[Row | BadRow] = []
    for key in result.inventory_keys:
        data = (root / key).read_bytes()
        out.extend(parse_inventory([data[i : i + 4096] for i in range(0, len(data), 4096)]))
    return out


def test_GIVEN_same_seed_WHEN_generated_twice_THEN_identical_files(tmp_path: Path) -> None:
    first = generate(tmp_path / "a", bad_row_rate=0.1)
    second = generate(tmp_path / "b", bad_row_rate=0.1)
    assert first == second
    assert files_of(tmp_path / "a") == files_of(tmp_path / "b")
    generate(tmp_path / "c", seed=2)
    assert files_of(tmp_path / "a") != files_of(tmp_path / "c")


def test_GIVEN_defaults_WHEN_generated_THEN_layout_matches_bucket_keys(tmp_path: Path) -> None:
    result = generate(tmp_path)
    written = set(files_of(tmp_path))
    assert written == set(result.inventory_keys) | set(result.thresholds_keys)
    assert len(result.inventory_keys) == 6 and len(result.thresholds_keys) == 1
    for key in result.inventory_keys:
        assert classify_key("/" + key) == "inventory"
        stamp = file_stamp(key)
        assert stamp is not None and key_date(key) == stamp.date()
    stamps = [file_stamp(k) for k in result.inventory_keys]
    assert stamps == sorted(s for s in stamps if s is not None)
    assert {key_date(k) for k in result.inventory_keys} == {date(2021, 2, 15), date(2021, 2, 16), date(2021, 2, 17)}
    (thresholds_key,) = result.thresholds_keys
    assert classify_key(thresholds_key) == "thresholds"
    assert thresholds_key == "restock_thresholds/2021/02/16/restock_thresholds.json"
    thresholds = parse_thresholds((tmp_path / thresholds_key).read_bytes())
    assert 1 <= len(thresholds) < 40 and all(len(item_id) == 6 for item_id in thresholds)


def test_GIVEN_variants_WHEN_generated_THEN_crlf_bom_and_short_stamp_present(tmp_path: Path) -> None:
    result = generate(tmp_path)
    contents = [(tmp_path / k).read_bytes() for k in result.inventory_keys]
    assert any(b"\r\n" in c for c in contents) and any(b"\r\n" not in c for c in contents)
    assert any(c.startswith(b"\xef\xbb\xbf") for c in contents)
    assert any(len(k.rsplit("/", 1)[1].split("_")[0]) == 12 for k in result.inventory_keys)
    plain = generate(tmp_path / "plain", variants=False)
    for key in plain.inventory_keys:
        data = (tmp_path / "plain" / key).read_bytes()
        assert b"\r" not in data and not data.startswith(b"\xef\xbb\xbf")


@pytest.mark.parametrize("rate", [0.0, 0.05, 0.3, 1.0])
def test_GIVEN_bad_row_rate_WHEN_parsed_THEN_counts_match(tmp_path: Path, rate: float) -> None:
    result = generate(tmp_path, rows=1000, bad_row_rate=rate)
    parsed = parse_all(tmp_path, result)
    assert sum(isinstance(r, Row) for r in parsed) == result.rows - result.bad_rows
    assert sum(isinstance(r, BadRow) for r in parsed) == result.bad_rows
    assert (result.bad_rows == 0) == (rate == 0.0)


def test_GIVEN_generated_rows_WHEN_parsed_THEN_realistic_content(tmp_path: Path) -> None:
    result = generate(tmp_path, rows=3000, days=1, files=3)
    rows = [r for r in parse_all(tmp_path, result) if isinstance(r, Row)]
    names = {r.item_name for r in rows}
    assert any('"' in n for n in names) and any("&" in n and "<" in n for n in names)
    assert any(not n.isascii() for n in names)
    assert all(r.warehouse.rsplit(" ", 1)[1].isdigit() for r in rows)
    assert all(len(r.item_id) == 6 for r in rows)
    assert any(r.change < 0 for r in rows) and any(r.change >= 100 for r in rows)
    levels: dict[tuple[str, str], int] = {}
    went_below_10 = False
    for r in rows:
        levels[r.warehouse, r.item_id] = level = levels.get((r.warehouse, r.item_id), 0) + r.change
        went_below_10 |= r.change < 0 and level < 10
        assert level >= 0
    assert went_below_10
    per_file: dict[int, list[Row]] = {}
    for key in result.inventory_keys:
        file_rows = [r for r in parse_inventory([(tmp_path / key).read_bytes()]) if isinstance(r, Row)]
        assert [r.ts for r in file_rows] == sorted(r.ts for r in file_rows)
        per_file[len(per_file)] = file_rows
    assert sum(map(len, per_file.values())) == 3000


def test_GIVEN_bad_arguments_WHEN_generated_THEN_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        generate(tmp_path, files=0)
    with pytest.raises(ValueError):
        generate(tmp_path, bad_row_rate=1.5)


@pytest.mark.slow
def test_GIVEN_a_million_rows_WHEN_generated_and_parsed_THEN_all_good(tmp_path: Path) -> None:
    result = generate(tmp_path, files=2, rows=1_000_000, warehouses=50, items=5000, thresholds=False)
    assert sum(1 for r in parse_all(tmp_path, result) if type(r) is Row) == 1_000_000
