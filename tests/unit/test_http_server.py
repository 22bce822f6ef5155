"""The local HTTP adapter: requests become API Gateway v2 events; the socket answers like API Gateway."""

from __future__ import annotations

import base64
import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.settings import Settings
from local.http_server import ReportsServer, http_api_event, make_server, serve_in_thread
from local.wiring import bootstrap


def test_event_keeps_the_raw_path_and_joins_repeated_parameters() -> None:
    event = http_api_event("get", "/warehouses/K%C3%B6ln%202/items?a=1&a=2&b=", {"Host": "x"}, b"hi")
    assert event["version"] == "2.0"
    assert event["rawPath"] == "/warehouses/K%C3%B6ln%202/items"
    assert event["requestContext"]["http"]["method"] == "GET"
    assert event["queryStringParameters"] == {"a": "1,2", "b": ""}
    assert event["headers"] == {"host": "x"}
    assert base64.b64decode(event["body"]) == b"hi" and event["isBase64Encoded"] is True


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ReportsServer]:
    runtime = bootstrap(Settings(home=tmp_path / "home"))
    srv = make_server(runtime.ports, "127.0.0.1", 0)
    serve_in_thread(srv)
    yield srv
    srv.shutdown()
    srv.server_close()
    runtime.close()


def request(server: ReportsServer, method: str, path: str, headers: dict[str, str] | None = None) -> Any:
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(str(host), int(port), timeout=10)
    conn.request(method, path, headers=headers or {})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


def test_binds_loopback_and_serves_json(server: ReportsServer) -> None:
    assert server.server_address[0] == "127.0.0.1"
    status, headers, body = request(server, "GET", "/warehouses")
    assert (status, json.loads(body)) == (200, {"warehouses": []})
    assert headers["content-length"] == str(len(body))


@pytest.mark.parametrize("method", ["TRACE", "DELETE", "PATCH"])
def test_any_method_reaches_the_resolver(server: ReportsServer, method: str) -> None:
    # THEN an unsupported method is a JSON 405 with Allow, not the standard library's HTML 501
    status, headers, body = request(server, method, "/restock")
    assert status == 405 and headers["allow"] == "GET"
    assert json.loads(body)["statusCode"] == 405


def test_bad_content_length_is_a_400(server: ReportsServer) -> None:
    status, _, body = request(server, "GET", "/restock", {"Content-Length": "lots"})
    assert status == 400 and json.loads(body)["message"] == "bad Content-Length"


def test_a_failing_report_is_a_500_json_not_a_dropped_connection(
    server: ReportsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("bug")

    monkeypatch.setattr(server.app, "resolve", boom)
    status, _, body = request(server, "GET", "/restock")
    assert (status, json.loads(body)) == (500, {"message": "Internal Server Error"})


def test_gzip_when_asked(server: ReportsServer) -> None:
    status, headers, body = request(server, "GET", "/docs", {"Accept-Encoding": "gzip"})
    assert status == 200 and headers["content-encoding"] == "gzip"
    assert body[:2] == b"\x1f\x8b"
