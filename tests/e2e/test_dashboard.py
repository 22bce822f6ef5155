"""The dashboard in headless Chromium (Debian's package, driven by Playwright), served by the local server."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from adapters.ports import FileStats, PairDelta, to_micros
from adapters.settings import Settings
from local.http_server import ReportsServer, make_server, serve_in_thread
from local.wiring import LocalRuntime, bootstrap
from tests.reports_home import build_home, inventory_json

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_home(tmp_path_factory.mktemp("dashboard"))


@pytest.fixture(scope="module")
def server(home: Path) -> Iterator[ReportsServer]:
    runtime: LocalRuntime = bootstrap(Settings(home=home))
    srv = make_server(runtime.ports, "127.0.0.1", 0)
    serve_in_thread(srv)
    yield srv
    srv.shutdown()
    srv.server_close()
    runtime.close()


@dataclass
class Browser:
    page: Page
    errors: list[str] = field(default_factory=list)  # page errors and console errors
    outside: list[str] = field(default_factory=list)  # requests to any other origin


@pytest.fixture
def browser(server: ReportsServer) -> Iterator[Browser]:
    if CHROMIUM is None:
        pytest.skip("no chromium installed (make browser installs Debian's package)")
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        context = chromium.new_context(viewport={"width": 1280, "height": 1100})
        b = Browser(context.new_page())
        b.page.on("pageerror", lambda exc: b.errors.append(str(exc)))
        b.page.on("console", lambda msg: b.errors.append(msg.text) if msg.type == "error" else None)
        # Nothing may come from another origin: the browser here has no internet, and neither do users'.
        b.page.on("request", lambda req: None if req.url.startswith(server.url) else b.outside.append(req.url))
        yield b
        chromium.close()


def test_restock_list_and_chart_render(browser: Browser, server: ReportsServer, home: Path, tmp_path: Path) -> None:
    pg = browser.page
    restock = inventory_json(home, "report", "restock")
    assert restock
    # WHEN the dashboard is opened
    pg.goto(server.url + "/")
    pg.wait_for_selector("body[data-ready='true']", timeout=20_000)
    # THEN the restock list shows every pair the CLI lists, names as plain text
    rows = pg.locator("#restock tbody tr")
    assert rows.count() == len(restock)
    first = rows.nth(0).locator("td")
    assert [first.nth(i).inner_text() for i in range(3)] == [
        restock[0]["warehouse"],
        restock[0]["item_id"],
        restock[0]["item_name"],
    ]
    # AND a chart of the first pair's level over time is drawn as SVG
    path = pg.locator("#chart svg path.series")
    path.wait_for(timeout=10_000)
    assert (path.get_attribute("d") or "").count("V") >= 1
    assert "level now " + str(restock[0]["level"]) in pg.inner_text("#history-status")
    # AND the warehouse picker lists the warehouses and fills its table
    assert pg.locator("#warehouse-picker option").count() == 4
    assert pg.locator("#warehouse-items tbody tr").count() > 0
    pg.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
    assert (tmp_path / "dashboard.png").stat().st_size > 10_000
    assert browser.errors == []
    assert browser.outside == []


def test_a_pair_with_one_transaction_is_drawn_as_a_point(browser: Browser, server: ReportsServer, home: Path) -> None:
    # GIVEN a pair whose history is a single transaction (a new pair, often the one that just alerted)
    (pair,) = inventory_json(
        home,
        "sql",
        "SELECT warehouse, item_id FROM transactions GROUP BY ALL HAVING count(*) = 1 ORDER BY ALL LIMIT 1",
    )
    pg = browser.page
    pg.goto(server.url + "/")
    pg.wait_for_selector("body[data-ready='true']", timeout=20_000)
    # WHEN its history is asked for
    pg.fill("#history-warehouse", pair["warehouse"])
    pg.fill("#history-item", pair["item_id"])
    pg.locator("#history-form").evaluate("form => form.requestSubmit()")
    # (a selector, not wait_for_function: the page's CSP forbids the eval that a string function needs)
    pg.wait_for_selector("#history-status:text-matches('^1 transaction')", timeout=10_000)
    # THEN the chart shows a visible point, not only an empty axis
    point = pg.locator("#chart svg circle.point")
    assert point.count() == 1
    box = point.bounding_box()
    assert box is not None and box["width"] > 0 and box["height"] > 0
    assert browser.errors == []


def test_a_restock_list_longer_than_one_page_is_shown_whole(browser: Browser, tmp_path: Path) -> None:
    # GIVEN 1,500 pairs below the default threshold: the API answers in pages of at most 1,000
    runtime = bootstrap(Settings(home=tmp_path / "home"))
    key = "inventory_files/2021/02/15/many.csv"
    table = runtime.ports.table
    table.record_arrival(key, "inventory", "e1", 10, datetime(2021, 2, 15, tzinfo=UTC), digest="e1")
    deltas = [
        PairDelta(f"W{n % 3}", f"i{n:05d}", f"Item {n}", to_micros(datetime(2021, 2, 15, tzinfo=UTC)), 1)
        for n in range(1500)
    ]
    with table.transaction():
        table.apply_file(key, deltas, [], FileStats(good_rows=1500, applied_total=1500))
    srv = make_server(runtime.ports, "127.0.0.1", 0)
    serve_in_thread(srv)
    try:
        # WHEN the dashboard is opened
        browser.page.goto(srv.url + "/")
        browser.page.wait_for_selector("body[data-ready='true']", timeout=20_000)
        # THEN it followed the cursor: every pair is listed once, the last one too
        rows = browser.page.locator("#restock tbody tr")
        assert rows.count() == 1500
        assert browser.page.inner_text("#restock-count") == "(1500)"
        assert rows.nth(1499).locator("td").nth(1).inner_text() == "i01499"
        assert browser.page.inner_text("#restock-status") == ""
        # (the pairs were applied without files, so the first pair's history answers 404: not a page error)
        assert [e for e in browser.errors if "404" not in e] == []
    finally:
        srv.shutdown()
        srv.server_close()
        runtime.close()


def test_item_search_and_level_filter(browser: Browser, server: ReportsServer, home: Path) -> None:
    pg = browser.page
    pg.goto(server.url + "/")
    pg.wait_for_selector("body[data-ready='true']", timeout=20_000)
    item_id = inventory_json(home, "report", "restock")[0]["item_id"]
    expected = inventory_json(home, "report", "item", item_id)
    # WHEN an item is searched THEN its total and split show
    pg.fill("#item-id", item_id)
    pg.click("#item-form button")
    pg.wait_for_selector("#item-result:not([hidden])")
    assert pg.inner_text("#item-total") == str(expected["total"])
    assert pg.locator("#item-split tbody tr").count() == len(expected["warehouses"])
    # WHEN the level filter is set THEN only items strictly above it remain
    warehouse = pg.input_value("#warehouse-picker")
    above = inventory_json(home, "report", "warehouse", warehouse, "--min-level", "200")
    pg.fill("#min-level", "200")
    pg.click("#warehouse-form button")
    pg.wait_for_function("n => document.querySelectorAll('#warehouse-items tbody tr').length === n", arg=len(above))
    # An unknown item shows the API's message, not a broken page
    pg.fill("#item-id", "<img src=x onerror=alert(1)>")
    pg.click("#item-form button")
    pg.wait_for_selector("#item-status.error")
    assert "unknown item: <img" in pg.inner_text("#item-status")
    assert pg.locator("#item-section img").count() == 0
    # The browser logs the expected 404 of that search; nothing else may have gone wrong.
    assert [e for e in browser.errors if "404" not in e] == []


def test_swagger_ui_renders_offline(browser: Browser, server: ReportsServer) -> None:
    # WHEN the API docs are opened in a browser without internet access
    browser.page.goto(server.url + "/docs")
    # THEN Swagger UI renders every documented operation from inlined assets only
    browser.page.wait_for_selector(".swagger-ui .opblock", timeout=20_000)
    assert browser.page.locator(".opblock").count() == 5
    assert browser.outside == []


def test_a_token_with_any_characters_opens_the_dashboard_and_leaves_the_address_bar(
    browser: Browser, home: Path
) -> None:
    # GIVEN a server that requires a token holding characters a cookie cannot carry as they are
    from urllib.parse import quote

    token = "s3cret;token x=1234567"
    runtime = bootstrap(Settings(home=home))
    srv = make_server(runtime.ports, "127.0.0.1", 0, token=token)
    serve_in_thread(srv)
    try:
        pg = browser.page
        # WHEN the dashboard is opened once with ?token=
        pg.goto(f"{srv.url}/?token={quote(token, safe='')}")
        pg.wait_for_selector("body[data-ready='true']", timeout=20_000)
        # THEN its own requests are let in (the restock list is filled) and the token is gone from the URL
        assert pg.locator("#restock tbody tr").count() == len(inventory_json(home, "report", "restock"))
        assert "token" not in pg.url
        assert browser.errors == []
    finally:
        srv.shutdown()
        srv.server_close()
        runtime.close()
