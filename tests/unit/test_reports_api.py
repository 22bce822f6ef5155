"""The reports resolver, called with API Gateway HTTP API v2 events (no server, no network)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from adapters.local.database import Database
from adapters.local.stock_table import SqliteStockTable
from adapters.ports import FileStats, PairDelta, to_micros
from local.http_server import http_api_event
from services.reports.api import LEVEL_BOUND, ReportsResolver, create_app, decode_cursor, encode_cursor
from services.reports.history import Point
from services.reports.logic import item_report, restock_report, warehouse_report

T0 = datetime(2021, 2, 15, 12, 0, tzinfo=UTC)
EVIL = '=HYPERLINK("http://x","y")<script>alert(1)</script>'


class FakeHistory:
    def __init__(self, points: dict[tuple[str, str], list[Point]]) -> None:
        self.points = points

    def pair_history(self, warehouse: str, item_id: str) -> list[Point]:
        return self.points.get((warehouse, item_id), [])


@pytest.fixture
def table(tmp_path: Path) -> Iterator[SqliteStockTable]:
    db = Database(tmp_path / "state.db")
    table = SqliteStockTable(db, default_threshold=10)
    # GIVEN 25 items in "Berlin 1" (levels 0..48 step 2), two in "Köln 2", one with a formula-like name
    deltas = [PairDelta("Berlin 1", f"i{n:03d}", f"Item {n}", to_micros(T0), 2 * n) for n in range(25)]
    deltas += [
        PairDelta("Köln 2", "i001", "Item 1", to_micros(T0), 7),
        PairDelta("Köln 2", "evil", EVIL, to_micros(T0), 3),
    ]
    table.apply_file("inventory_files/2021/02/15/a.csv", deltas, [], FileStats(good_rows=len(deltas)))
    yield table
    db.close()


@pytest.fixture
def app(table: SqliteStockTable) -> ReportsResolver:
    history = FakeHistory(
        {
            ("Köln 2", "i001"): [
                Point("2021-02-15T11:00:00.000Z", 10, 10),
                Point("2021-02-15T12:00:00.000Z", -3, 7),
            ]
        }
    )
    return create_app(lambda: table, lambda: history)


def call(app: ReportsResolver, target: str, method: str = "GET") -> tuple[int, dict[str, str], str]:
    result = app.resolve(http_api_event(method, target), None)  # type: ignore[arg-type]
    headers = {k.lower(): v for k, v in (result.get("headers") or {}).items()}
    return int(result["statusCode"]), headers, result.get("body") or ""


def get_json(app: ReportsResolver, target: str, status: int = 200) -> Any:
    code, headers, body = call(app, target)
    assert code == status, body
    assert headers["content-type"].startswith("application/json")
    return json.loads(body)


def test_warehouses_lists_every_warehouse(app: ReportsResolver) -> None:
    assert get_json(app, "/warehouses") == {"warehouses": ["Berlin 1", "Köln 2"]}


def test_warehouse_items_equal_the_report(app: ReportsResolver, table: SqliteStockTable) -> None:
    # WHEN the items of a warehouse whose name needs percent-encoding are asked for
    data = get_json(app, f"/warehouses/{quote('Köln 2')}/items")
    # THEN they are exactly the report the CLI prints, and there is no further page
    assert data == {"warehouse": "Köln 2", "items": warehouse_report(table, "Köln 2"), "next_cursor": None}


def test_min_level_is_strictly_greater(app: ReportsResolver) -> None:
    data = get_json(app, "/warehouses/Berlin%201/items?min_level=40")
    assert [r["level"] for r in data["items"]] == [42, 44, 46, 48]


def test_pagination_walks_every_item_exactly_once(app: ReportsResolver, table: SqliteStockTable) -> None:
    # GIVEN pages of 7 over 25 items
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        target = "/warehouses/Berlin%201/items?limit=7" + (f"&cursor={cursor}" if cursor else "")
        data = get_json(app, target)
        seen += [r["item_id"] for r in data["items"]]
        pages += 1
        cursor = data["next_cursor"]
        if cursor is None:
            break
        assert pages < 10, "pagination does not end"
    # THEN every item came once, in order, in ceil(25 / 7) pages
    assert seen == [r["item_id"] for r in warehouse_report(table, "Berlin 1")]
    assert len(seen) == len(set(seen)) == 25
    assert pages == 4


def test_exact_multiple_of_the_limit_has_no_empty_last_page(app: ReportsResolver) -> None:
    first = get_json(app, "/warehouses/Berlin%201/items?limit=5&min_level=38")  # levels 40..48: 5 items
    assert len(first["items"]) == 5
    assert first["next_cursor"] is None


def test_cursors_of_the_longest_names_are_accepted_back(tmp_path: Path) -> None:
    # GIVEN a pair below threshold whose names are as long as the API allows, in 3- and 4-byte characters
    db = Database(tmp_path / "state.db")
    table = SqliteStockTable(db, default_threshold=10)
    warehouse, item = "倉" * 200, "🏭" * 200
    deltas = [
        PairDelta(warehouse, item, "x", to_micros(T0), 1),
        PairDelta(warehouse, item + "2", "x", to_micros(T0), 1),
    ]
    table.apply_file("inventory_files/2021/02/15/b.csv", deltas, [], FileStats(good_rows=2))
    app = create_app(lambda: table)
    # WHEN the restock list is read one pair a page
    first = get_json(app, "/restock?limit=1")
    second = get_json(app, f"/restock?limit=1&cursor={first['next_cursor']}")
    # THEN the cursor the API issued is taken back
    assert [r["item_id"] for r in first["items"] + second["items"]] == [item, item + "2"]
    db.close()


def test_cursor_round_trip_and_garbage() -> None:
    assert decode_cursor(encode_cursor("Köln/2 ☕")) == ["Köln/2 ☕"]
    assert decode_cursor(encode_cursor("a\xa0b")) == ["a\xa0b"]  # NBSP is a valid id character
    for bad in ("0", "!!", "AAAA", "YQ==", "_w"):
        with pytest.raises(ValueError):
            decode_cursor(bad)


@pytest.mark.parametrize(
    ("target", "status"),
    [
        ("/warehouses/Berlin%201/items?cursor=0", 400),  # not a cursor this API issued
        ("/warehouses/Berlin%201/items?cursor=%21%21", 422),  # outside the documented alphabet
        ("/warehouses/Berlin%201/items?limit=0", 422),
        ("/warehouses/Berlin%201/items?limit=1001", 422),
        ("/warehouses/Berlin%201/items?limit=ten", 422),
        (f"/warehouses/Berlin%201/items?min_level={LEVEL_BOUND + 1}", 422),
        ("/warehouses/Berlin%201/items?min_level=99999999999999999999999999999", 422),
        (f"/warehouses/{'x' * 201}/items", 422),
        (f"/items/{'%C3%A4' * 201}", 422),  # 201 characters once decoded
        ("/restock?format=xml", 422),
        ("/restock?limit=0", 422),
        (f"/restock?cursor={encode_cursor('i001')}", 400),  # a warehouse page's cursor, not a restock one
        ("/restock?cursor=0", 400),
        ("/history?warehouse=Berlin%201", 422),
        ("/warehouses/Nowhere/items", 404),
        ("/items/unknown", 404),
        ("/history?warehouse=Berlin%201&item_id=unknown", 404),
        ("/no/such/route", 404),
    ],
)
def test_bad_requests_get_a_json_error(app: ReportsResolver, target: str, status: int) -> None:
    data = get_json(app, target, status)
    assert data["statusCode"] == status
    assert isinstance(data["message"], str) and data["message"]


def test_wrong_method_is_405_with_allow(app: ReportsResolver) -> None:
    code, headers, body = call(app, "/restock", method="POST")
    assert code == 405
    assert headers["allow"] == "GET, HEAD"
    assert json.loads(body)["statusCode"] == 405


def test_unknown_warehouse_is_404_even_with_a_cursor(app: ReportsResolver) -> None:
    data = get_json(app, f"/warehouses/Nowhere/items?cursor={encode_cursor('i001')}", 404)
    assert "Nowhere" in data["message"]


def test_item_total_with_split(app: ReportsResolver, table: SqliteStockTable) -> None:
    data = get_json(app, "/items/i001")
    assert data == item_report(table, "i001")
    assert data["total"] == 2 + 7
    assert data["warehouses"] == [{"warehouse": "Berlin 1", "level": 2}, {"warehouse": "Köln 2", "level": 7}]


def test_restock_equals_the_report(app: ReportsResolver, table: SqliteStockTable) -> None:
    data = get_json(app, "/restock")
    assert data == {"items": restock_report(table), "next_cursor": None}
    assert {(r["warehouse"], r["item_id"]) for r in data["items"]} >= {
        ("Berlin 1", "i000"),
        ("Köln 2", "evil"),
    }


def test_restock_pages_follow_the_cursor(app: ReportsResolver, table: SqliteStockTable) -> None:
    # GIVEN seven pairs below the threshold (levels 0..8 in Berlin 1, and Köln 2's "evil" at 3)
    everything = restock_report(table)
    assert len(everything) == 7
    # WHEN the list is read in pages of 3, as JSON and as CSV
    seen: list[dict[str, Any]] = []
    cursor = ""
    for _ in range(4):
        data = get_json(app, "/restock?limit=3" + (f"&cursor={cursor}" if cursor else ""))
        seen += data["items"]
        cursor = data["next_cursor"]
        if cursor is None:
            break
    code, headers, body = call(app, "/restock?limit=3&format=csv")
    # THEN the pages hold every pair once, in order, and the last page has no cursor
    assert seen == everything
    assert cursor is None
    assert code == 200 and len(list(csv.DictReader(io.StringIO(body)))) == 3
    assert decode_cursor(headers["x-next-cursor"], parts=2) == [everything[2]["warehouse"], everything[2]["item_id"]]


@pytest.mark.parametrize(
    "target", ["/restock?format=csv", "/warehouses/K%C3%B6ln%202/items?format=csv", "/items/evil?format=csv"]
)
def test_csv_neutralises_formulas(app: ReportsResolver, target: str) -> None:
    code, headers, body = call(app, target)
    assert code == 200
    assert headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(body)))
    names = [r["item_name"] for r in rows if r.get("item_id") == "evil"]
    assert names and all(n == "'" + EVIL for n in names)


def test_csv_pages_carry_the_cursor_in_a_header(app: ReportsResolver) -> None:
    code, headers, body = call(app, "/warehouses/Berlin%201/items?format=csv&limit=3")
    assert code == 200
    assert len(list(csv.DictReader(io.StringIO(body)))) == 3
    assert decode_cursor(headers["x-next-cursor"]) == ["i002"]


def test_history_returns_points_and_truncates_to_the_newest(app: ReportsResolver) -> None:
    data = get_json(app, "/history?warehouse=K%C3%B6ln%202&item_id=i001")
    assert [p["level"] for p in data["points"]] == [10, 7]
    assert data["truncated"] is False
    newest = get_json(app, "/history?warehouse=K%C3%B6ln%202&item_id=i001&limit=1")
    assert newest["points"] == [{"ts": "2021-02-15T12:00:00.000Z", "change": -3, "level": 7}]
    assert newest["truncated"] is True


def test_given_format_csv_when_history_is_asked_then_it_is_csv_like_the_other_reports(app: ReportsResolver) -> None:
    code, headers, body = call(app, "/history?warehouse=K%C3%B6ln%202&item_id=i001&format=csv")
    assert code == 200 and headers["content-type"].startswith("text/csv")
    assert list(csv.DictReader(io.StringIO(body))) == [
        {"warehouse": "Köln 2", "item_id": "i001", "ts": "2021-02-15T11:00:00.000Z", "change": "10", "level": "10"},
        {"warehouse": "Köln 2", "item_id": "i001", "ts": "2021-02-15T12:00:00.000Z", "change": "-3", "level": "7"},
    ]
    assert headers["x-truncated"] == "false"
    # AND a truncated history says so, since CSV has no field for it
    code, headers, body = call(app, "/history?warehouse=K%C3%B6ln%202&item_id=i001&format=csv&limit=1")
    assert code == 200 and headers["x-truncated"] == "true"
    assert [r["level"] for r in csv.DictReader(io.StringIO(body))] == ["7"]


def test_given_an_unknown_format_when_history_is_asked_then_it_is_a_422_not_json(app: ReportsResolver) -> None:
    data = get_json(app, "/history?warehouse=K%C3%B6ln%202&item_id=i001&format=xml", 422)
    assert "format" in data["message"]


@pytest.mark.parametrize(
    ("route", "cursor", "expected"),
    [
        ("/warehouses/Berlin%201/items?limit=2", encode_cursor("i010"), ["i011", "i012"]),
        ("/warehouses/Berlin%201/items?limit=2", encode_cursor("zzzz"), []),
        ("/warehouses/Berlin%201/items?limit=2", encode_cursor("a" * 300), ["i000", "i001"]),
        ("/restock?limit=2", encode_cursor("Berlin 1", "i002"), ["i003", "i004"]),
        ("/restock?limit=2", encode_cursor("zzzz", "zzzz"), []),
    ],
)
def test_given_a_well_formed_cursor_the_api_never_issued_then_the_page_starts_after_that_position(
    app: ReportsResolver, route: str, cursor: str, expected: list[str]
) -> None:
    # A cursor is a position, not a signed token (docs/reports.md): any well-formed one is a fair start.
    data = get_json(app, f"{route}&cursor={cursor}")
    assert [r["item_id"] for r in data["items"]] == expected


def test_history_without_a_source_is_501(table: SqliteStockTable) -> None:
    # GIVEN the resolver as the Lambda builds it (no raw-file history)
    app = create_app(lambda: table)
    data = get_json(app, "/history?warehouse=Berlin%201&item_id=i001", 501)
    assert "Athena" in data["message"]


def test_openapi_documents_every_route(app: ReportsResolver) -> None:
    spec = get_json(app, "/openapi.json")
    assert set(spec["paths"]) == {
        "/warehouses",
        "/warehouses/{name}/items",
        "/items/{item_id}",
        "/restock",
        "/history",
    }
    params = {p["name"]: p for p in spec["paths"]["/warehouses/{name}/items"]["get"]["parameters"]}
    assert params["limit"]["schema"]["maximum"] == 1000
    assert params["name"]["schema"]["maxLength"] == 200


def test_swagger_ui_works_offline(app: ReportsResolver) -> None:
    code, headers, body = call(app, "/docs")
    assert code == 200
    assert headers["content-type"].startswith("text/html")
    # The Swagger UI bundle is inlined: no script or stylesheet from another origin.
    assert "SwaggerUIBundle" in body
    assert "<script src=" not in body and "<link rel='stylesheet'" not in body


def test_dashboard_and_static_files(app: ReportsResolver) -> None:
    code, headers, body = call(app, "/")
    assert code == 200 and "<title>" in body
    assert "default-src 'self'" in headers["content-security-policy"]
    code, headers, _ = call(app, "/static/app.js")
    assert code == 200 and "javascript" in headers["content-type"]
    assert call(app, "/static/..%2Fcli.py")[0] == 404
    assert call(app, "/static/nope.js")[0] == 404


def test_dashboard_never_inserts_data_as_html() -> None:
    source = (Path(__file__).parents[2] / "local" / "static" / "app.js").read_text()
    assert "innerHTML" not in source and "insertAdjacentHTML" not in source and "document.write" not in source


def test_handler_serves_without_aws_until_a_report_is_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the Lambda module imported without any AWS wiring available
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    from services.reports import handler

    class Context:
        function_name = "reports"
        memory_limit_in_mb = 256
        invoked_function_arn = "arn:aws:lambda:eu-central-1:123456789012:function:reports"
        aws_request_id = "req-1"

    # WHEN the OpenAPI document is requested THEN it is served without building ports
    result = handler.handler(http_api_event("GET", "/openapi.json"), Context())
    assert result["statusCode"] == 200
    assert handler._ports is None
