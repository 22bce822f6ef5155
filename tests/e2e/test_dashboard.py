"""The dashboard in headless Chromium (Debian's package, driven by Playwright), served by the local server."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.settings import Settings
from local.http_server import ReportsServer, make_server, serve_in_thread
from local.wiring import LocalRuntime, bootstrap
from tests.reports_home import build_home, inventory_json

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


@pytest.fixture
def page(server: ReportsServer) -> Iterator[object]:
    if CHROMIUM is None:
        pytest.skip("no chromium installed (make browser installs Debian's package)")
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1280, "height": 1100})
        pg = context.new_page()
        errors: list[str] = []
        pg.on("pageerror", lambda exc: errors.append(str(exc)))
        pg.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        # Nothing may come from another origin: the browser here has no internet, and neither do users'.
        outside: list[str] = []
        pg.on("request", lambda req: None if req.url.startswith(server.url) else outside.append(req.url))
        pg.errors = errors  # type: ignore[attr-defined]
        pg.outside = outside  # type: ignore[attr-defined]
        yield pg
        browser.close()


def test_restock_list_and_chart_render(
    page: object, server: ReportsServer, home: Path, tmp_path: Path
) -> None:
    pg = page  # a playwright Page
    restock = inventory_json(home, "report", "restock")
    assert restock
    # WHEN the dashboard is opened
    pg.goto(server.url + "/")  # type: ignore[attr-defined]
    pg.wait_for_selector("body[data-ready='true']", timeout=20_000)  # type: ignore[attr-defined]
    # THEN the restock list shows every pair the CLI lists, names as plain text
    rows = pg.locator("#restock tbody tr")  # type: ignore[attr-defined]
    assert rows.count() == len(restock)
    first = rows.nth(0).locator("td")
    assert [first.nth(i).inner_text() for i in range(3)] == [
        restock[0]["warehouse"],
        restock[0]["item_id"],
        restock[0]["item_name"],
    ]
    # AND a chart of the first pair's level over time is drawn as SVG
    path = pg.locator("#chart svg path.series")  # type: ignore[attr-defined]
    path.wait_for(timeout=10_000)
    assert path.get_attribute("d").count("V") >= 1
    assert "level now " + str(restock[0]["level"]) in pg.inner_text("#history-status")  # type: ignore[attr-defined]
    # AND the warehouse picker lists the warehouses and fills its table
    assert pg.locator("#warehouse-picker option").count() == 4  # type: ignore[attr-defined]
    assert pg.locator("#warehouse-items tbody tr").count() > 0  # type: ignore[attr-defined]
    pg.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)  # type: ignore[attr-defined]
    assert (tmp_path / "dashboard.png").stat().st_size > 10_000
    assert pg.errors == []  # type: ignore[attr-defined]
    assert pg.outside == []  # type: ignore[attr-defined]


def test_item_search_and_level_filter(page: object, server: ReportsServer, home: Path) -> None:
    pg = page
    pg.goto(server.url + "/")  # type: ignore[attr-defined]
    pg.wait_for_selector("body[data-ready='true']", timeout=20_000)  # type: ignore[attr-defined]
    item_id = inventory_json(home, "report", "restock")[0]["item_id"]
    expected = inventory_json(home, "report", "item", item_id)
    # WHEN an item is searched THEN its total and split show
    pg.fill("#item-id", item_id)  # type: ignore[attr-defined]
    pg.click("#item-form button")  # type: ignore[attr-defined]
    pg.wait_for_selector("#item-result:not([hidden])")  # type: ignore[attr-defined]
    assert pg.inner_text("#item-total") == str(expected["total"])  # type: ignore[attr-defined]
    assert pg.locator("#item-split tbody tr").count() == len(expected["warehouses"])  # type: ignore[attr-defined]
    # WHEN the level filter is set THEN only items strictly above it remain
    warehouse = pg.input_value("#warehouse-picker")  # type: ignore[attr-defined]
    above = inventory_json(home, "report", "warehouse", warehouse, "--min-level", "200")
    pg.fill("#min-level", "200")  # type: ignore[attr-defined]
    pg.click("#warehouse-form button")  # type: ignore[attr-defined]
    pg.wait_for_function(  # type: ignore[attr-defined]
        "n => document.querySelectorAll('#warehouse-items tbody tr').length === n", arg=len(above)
    )
    # An unknown item shows the API's message, not a broken page
    pg.fill("#item-id", "<img src=x onerror=alert(1)>")  # type: ignore[attr-defined]
    pg.click("#item-form button")  # type: ignore[attr-defined]
    pg.wait_for_selector("#item-status.error")  # type: ignore[attr-defined]
    assert "unknown item: <img" in pg.inner_text("#item-status")  # type: ignore[attr-defined]
    assert pg.locator("#item-section img").count() == 0  # type: ignore[attr-defined]
    # The browser logs the expected 404 of that search; nothing else may have gone wrong.
    assert [e for e in pg.errors if "404" not in e] == []  # type: ignore[attr-defined]
