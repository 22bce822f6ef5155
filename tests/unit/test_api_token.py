"""The local API binds loopback by default; anywhere else it needs a token, checked on every request."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from local.http_server import ReportsServer, TokenRequired, make_server, serve_in_thread
from local.wiring import LocalRuntime

TOKEN = "correct-horse-battery-staple"


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}


@pytest.fixture
def guarded(runtime: LocalRuntime) -> Iterator[ReportsServer]:
    server = make_server(runtime.ports, "127.0.0.1", 0, token=TOKEN)
    serve_in_thread(server)
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::"])
def test_binding_beyond_loopback_without_a_token_is_refused(runtime: LocalRuntime, host: str) -> None:
    with pytest.raises(TokenRequired, match="INVENTORY_API_TOKEN"):
        make_server(runtime.ports, host, 0)


def test_a_short_token_is_refused(runtime: LocalRuntime) -> None:
    with pytest.raises(TokenRequired, match="16"):
        make_server(runtime.ports, "127.0.0.1", 0, token="short")


def test_every_request_needs_the_token(guarded: ReportsServer) -> None:
    assert get(f"{guarded.url}/restock")[0] == 401
    assert get(f"{guarded.url}/restock", {"Authorization": "Bearer wrong-token-wrong-token"})[0] == 401
    assert get(f"{guarded.url}/restock", {"Authorization": f"Bearer {TOKEN}"})[0] == 200


def test_a_first_visit_with_the_token_sets_a_cookie_the_dashboard_then_uses(guarded: ReportsServer) -> None:
    status, headers = get(f"{guarded.url}/?token={TOKEN}")
    assert status == 200
    cookie = headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert get(f"{guarded.url}/restock", {"Cookie": cookie.split(";")[0]})[0] == 200


def test_loopback_needs_no_token(runtime: LocalRuntime) -> None:
    server = make_server(runtime.ports, "127.0.0.1", 0)
    serve_in_thread(server)
    try:
        assert get(f"{server.url}/restock")[0] == 200
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("token", ["s3cret;token x=1234567", 'quote" and, comma\\ back', "kaffee-☕-token-ümlaut"])
def test_given_a_token_with_cookie_unsafe_characters_when_the_dashboard_is_opened_then_later_calls_pass(
    runtime: LocalRuntime, token: str
) -> None:
    server = make_server(runtime.ports, "127.0.0.1", 0, token=token)
    serve_in_thread(server)
    try:
        # WHEN the browser opens /?token=… and keeps the cookie up to its first `;`, as browsers do
        status, headers = get(f"{server.url}/?token={quote(token, safe='')}")
        assert status == 200
        kept = headers["set-cookie"].split(";")[0]
        # THEN the dashboard's later calls carry the whole token, with or without other cookies of the site
        assert get(f"{server.url}/restock", {"Cookie": kept})[0] == 200
        assert get(f"{server.url}/restock", {"Cookie": f'theme="dark; x; {kept}; other=\\x'})[0] == 200
        # AND a cookie that is not the token is still refused
        assert get(f"{server.url}/restock", {"Cookie": "inventory_token=s3cret"})[0] == 401
        assert get(f"{server.url}/restock", {"Cookie": "inventory_token=%%%"})[0] == 401
    finally:
        server.shutdown()
        server.server_close()


def test_given_a_token_with_spaces_and_semicolons_when_sent_as_bearer_then_it_is_accepted(
    runtime: LocalRuntime,
) -> None:
    token = "s3cret;token x=1234567"
    server = make_server(runtime.ports, "127.0.0.1", 0, token=token)
    serve_in_thread(server)
    try:
        assert get(f"{server.url}/restock", {"Authorization": f"Bearer {token}"})[0] == 200
        assert get(f"{server.url}/restock", {"Authorization": "Bearer s3cret"})[0] == 401
    finally:
        server.shutdown()
        server.server_close()
