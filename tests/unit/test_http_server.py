"""The local HTTP adapter: requests become API Gateway v2 events; the socket answers like API Gateway."""

from __future__ import annotations

import base64
import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from adapters.settings import Settings
from local.http_server import ReportsServer, http_api_event, make_server, redact, serve_in_thread
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
    assert status == 405 and headers["allow"] == "GET, HEAD"
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


@pytest.mark.parametrize("path", ["/restock", "/warehouses", "/", "/no/such/route", "/restock?limit=0"])
def test_given_a_get_resource_when_asked_with_head_then_it_answers_like_get_without_a_body(
    server: ReportsServer, path: str
) -> None:
    get_status, get_headers, get_body = request(server, "GET", path)
    head_status, head_headers, head_body = request(server, "HEAD", path)
    assert head_status == get_status
    assert head_body == b""
    assert head_headers["content-length"] == str(len(get_body))
    assert head_headers["content-type"] == get_headers["content-type"]


TOKEN = "s3cret;token x=1234567"


@pytest.fixture
def logging_server(tmp_path: Path) -> Iterator[ReportsServer]:
    """A server that logs each request (`inventory api --log`) and needs a token."""
    runtime = bootstrap(Settings(home=tmp_path / "home"))
    srv = make_server(runtime.ports, "127.0.0.1", 0, quiet=False, token=TOKEN)
    serve_in_thread(srv)
    yield srv
    srv.shutdown()
    srv.server_close()
    runtime.close()


def test_given_request_logging_when_a_request_is_answered_then_it_is_logged_once_with_its_time(
    logging_server: ReportsServer, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, _ = request(logging_server, "GET", "/restock", {"Authorization": f"Bearer {TOKEN}"})
    assert status == 200
    lines = [line for line in capsys.readouterr().err.splitlines() if "/restock" in line]
    assert len(lines) == 1
    assert '"GET /restock HTTP/1.1" 200' in lines[0] and lines[0].endswith(" ms")


def test_given_a_token_in_the_url_when_requests_are_logged_then_the_log_never_shows_it(
    logging_server: ReportsServer, capsys: pytest.CaptureFixture[str]
) -> None:
    # WHEN the dashboard is opened with the token, a wrong token, and a token spelled with an encoded name
    encoded = quote(TOKEN, safe="")
    assert request(logging_server, "GET", f"/?token={encoded}")[0] == 200
    assert request(logging_server, "GET", "/restock?limit=5&token=wrong-wrong-wrong-wrong&format=json")[0] == 401
    assert request(logging_server, "GET", f"/restock?%74oken={encoded}")[0] == 200
    # THEN every request is logged, but neither token, nor any part of it, is
    err = capsys.readouterr().err
    assert err.count("token=***") == 2 and "%74oken=***" in err
    assert "limit=5&token=***&format=json" in err
    for secret in ("s3cret", "1234567", "wrong-wrong"):
        assert secret not in err


def test_redact_hides_only_the_token_parameter() -> None:
    assert redact('"GET /?a=1&token=x%3By&b=2 HTTP/1.1" 200') == '"GET /?a=1&token=***&b=2 HTTP/1.1" 200'
    assert redact("code 400, message Bad request syntax ('GET /?token=abc')") == (
        "code 400, message Bad request syntax ('GET /?token=***"
    )
    assert redact('"GET /restock?tokens=1&x=token HTTP/1.1"') == '"GET /restock?tokens=1&x=token HTTP/1.1"'
