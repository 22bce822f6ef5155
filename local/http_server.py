"""Serve the reports resolver over HTTP locally: each request becomes an API Gateway HTTP API v2 event.

The resolver is exactly the reports Lambda's, so what the browser sees locally is what API Gateway would
return. Standard library only (ThreadingHTTPServer); it binds 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import logging
import re
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, parse_qsl, unquote_plus, urlsplit
from uuid import uuid4

from adapters.ports import Ports
from services.reports.api import ReportsResolver, create_app
from services.reports.history import DuckDbHistory

logger = logging.getLogger("inventory.reports.http")

MAX_BODY = 1024 * 1024  # the API has no request bodies; anything bigger is refused unread
MAX_URL = 8192


def http_api_event(
    method: str,
    target: str,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    source_ip: str = "127.0.0.1",
) -> dict[str, Any]:
    """The API Gateway HTTP API (payload 2.0) event for one request; `target` is path plus query."""
    parts = urlsplit(target)
    raw_path = parts.path or "/"
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    query: dict[str, str] = {}
    # API Gateway joins repeated query parameters with commas.
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        query[key] = f"{query[key]},{value}" if key in query else value
    now = datetime.now(UTC)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": parts.query,
        "headers": lowered,
        "requestContext": {
            "accountId": "local",
            "apiId": "local",
            "domainName": lowered.get("host", "localhost"),
            "domainPrefix": "localhost",
            "http": {
                "method": method.upper(),
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": uuid4().hex,
            "routeKey": "$default",
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = query
    if body:
        event["body"] = base64.b64encode(body).decode("ascii")
        event["isBase64Encoded"] = True
    return event


class _LambdaContext:
    """What the resolver reads from a Lambda context (nothing much, but Powertools may log it)."""

    function_name = "inventory-reports-local"
    memory_limit_in_mb = 0
    invoked_function_arn = "arn:aws:lambda:local:000000000000:function:inventory-reports-local"
    aws_request_id = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


TOKEN_COOKIE = "inventory_token"
# A query parameter inside a logged line: the value runs to the next `&` or space, so a quote the log
# puts around the request line may go with it, but no part of a token stays behind.
_QUERY_PARAM = re.compile(r"(?<=[?&])([^&=\s]*)=([^&\s]*)")


def cookie_value(token: str) -> str:
    """The token as the cookie carries it: url-safe base64 without padding. A token may hold any
    character (`;`, spaces, quotes, non-ASCII), and browsers cut an unquoted cookie value at the first `;`."""
    return base64.urlsafe_b64encode(token.encode("utf-8")).decode("ascii").rstrip("=")


def token_from_cookie(value: str) -> bytes:
    """The token bytes a cookie value stands for; b"" (which never matches) when it is not base64url."""
    try:
        return base64.urlsafe_b64decode(value.encode("ascii") + b"=" * (-len(value) % 4))
    except (ValueError, binascii.Error):
        return b""


def redact(text: str) -> str:
    """`text` with the value of every `token` query parameter replaced by `***`, however its name is spelled
    (`%74oken` is `token` to the parser too)."""

    def hide(match: re.Match[str]) -> str:
        return f"{match[1]}=***" if unquote_plus(match[1]) == "token" else match[0]

    return _QUERY_PARAM.sub(hide, text)


class ReportsServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], app: ReportsResolver, quiet: bool = True, token: str | None = None
    ) -> None:
        self.app = app
        self.quiet = quiet
        self.token = token
        # Powertools keeps the current event on the resolver, so requests go through it one at a time;
        # the reports are fast SQLite reads and the threads still keep a slow client from blocking others.
        self.resolver_lock = threading.Lock()
        super().__init__(address, _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        return f"http://{host}:{port}"


class _Handler(BaseHTTPRequestHandler):
    server: ReportsServer
    protocol_version = "HTTP/1.1"
    server_version = "inventory-reports"

    _started: float | None = None

    def parse_request(self) -> bool:
        # Every request line passes here first, including those the standard library refuses itself.
        self._started = time.perf_counter()
        return super().parse_request()

    def _handle(self) -> None:
        if len(self.path) > MAX_URL:
            self._write(414, {"content-type": "application/json"}, b'{"statusCode":414,"message":"URI too long"}')
            return
        try:
            length = int(self.headers.get("content-length") or 0)
        except ValueError:
            self._write(400, {"content-type": "application/json"}, b'{"statusCode":400,"message":"bad Content-Length"}')
            self.close_connection = True
            return
        if length > MAX_BODY:
            self._write(413, {"content-type": "application/json"}, b'{"statusCode":413,"message":"body too large"}')
            self.close_connection = True
            return
        body = self.rfile.read(length) if length > 0 else b""
        cookie = None
        if self.server.token is not None:
            granted, cookie = self._authorised(self.server.token)
            if not granted:
                self._write(
                    401,
                    {"content-type": "application/json", "www-authenticate": "Bearer"},
                    b'{"statusCode":401,"message":"a valid API token is required"}',
                )
                return
        # HEAD is GET without the body (RFC 9110 9.3.2). Asked as a GET, the resolver gives the body whose
        # length Content-Length must state; _write then drops the body.
        method = "GET" if self.command == "HEAD" else self.command
        event = http_api_event(method, self.path, dict(self.headers.items()), body, self.client_address[0])
        try:
            with self.server.resolver_lock:
                result = self.server.app.resolve(event, _LambdaContext())  # type: ignore[arg-type]
        except Exception:
            # A bug, not the client's fault: log it and answer as API Gateway does when a Lambda fails.
            logger.exception("reports API failed on %s %s", self.command, redact(self.path))
            self._write(500, {"content-type": "application/json"}, b'{"message":"Internal Server Error"}')
            return
        payload = result.get("body") or ""
        data = base64.b64decode(payload) if result.get("isBase64Encoded") else payload.encode("utf-8")
        headers = {k.lower(): str(v) for k, v in (result.get("headers") or {}).items()}
        for key, values in (result.get("multiValueHeaders") or {}).items():
            headers[key.lower()] = ", ".join(str(v) for v in values)
        cookies = list(result.get("cookies") or []) + ([cookie] if cookie else [])
        self._write(int(result.get("statusCode", 500)), headers, data, cookies=cookies)

    def _authorised(self, token: str) -> tuple[bool, str | None]:
        """The token as `Authorization: Bearer`, as the cookie a first `?token=` visit sets (so the
        dashboard's own requests carry it), or as `?token=`; compared in constant time."""
        expected = token.encode("utf-8")
        offered: list[bytes] = []
        auth = self.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            # Header values arrive decoded as Latin-1; encoding back recovers the bytes a client sent (UTF-8).
            offered.append(auth[7:].strip().encode("latin-1", errors="replace"))
        # By hand rather than with SimpleCookie, which drops the whole header when any other cookie of the
        # site is not to its liking. The cookie holds the token encoded, so it is decoded before comparing.
        for header in self.headers.get_all("cookie") or []:
            for pair in header.split(";"):
                name, _, value = pair.strip().partition("=")
                if name == TOKEN_COOKIE:
                    offered.append(token_from_cookie(value.strip().strip('"')))
        query = parse_qs(urlsplit(self.path).query).get("token", [])
        offered += [q.encode("utf-8") for q in query]
        granted = any(hmac.compare_digest(o, expected) for o in offered)
        cookie = (
            f"{TOKEN_COOKIE}={cookie_value(token)}; HttpOnly; SameSite=Strict; Path=/" if granted and query else None
        )
        return granted, cookie

    def _write(self, status: int, headers: dict[str, str], data: bytes, cookies: list[str] | None = None) -> None:
        self.send_response(status)
        for key, value in headers.items():
            if key not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(key, value)
        for cookie in cookies or []:
            self.send_header("set-cookie", cookie)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def __getattr__(self, name: str) -> Any:
        # Every method goes to the resolver, as API Gateway's $default route sends any method to the
        # Lambda; the resolver answers 405 (with Allow) or 404, never the stdlib's HTML 501.
        if name.startswith("do_"):
            return self._handle
        raise AttributeError(name)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # One line per request, with the time taken until the answer's headers; send_response calls this.
        elapsed = "-" if self._started is None else f"{(time.perf_counter() - self._started) * 1000:.1f} ms"
        code = getattr(code, "value", code)  # an HTTPStatus from the standard library's own errors
        self.log_message('"%s" %s %s', self.requestline, code, elapsed)

    def log_message(self, format: str, *args: Any) -> None:
        # The whole line, not just the request line: the standard library's errors quote the raw request too.
        if not self.server.quiet:
            super().log_message("%s", redact(format % args))


def make_app(ports: Ports, history: DuckDbHistory | None = None) -> ReportsResolver:
    """The resolver wired to the local runtime: its stock table, and history from DuckDB over the bucket."""
    source = history or DuckDbHistory(ports.objects, ports.table)
    return create_app(lambda: ports.table, lambda: source)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class TokenRequired(ValueError):
    pass


def make_server(
    ports: Ports, host: str = "127.0.0.1", port: int = 8080, quiet: bool = True, token: str | None = None
) -> ReportsServer:
    """Bound and listening (port 0 picks a free one; see `.url`), not yet serving.

    Anything but loopback exposes the stock data to the network, so it needs a token (INVENTORY_API_TOKEN),
    checked on every request.

    The history's DuckDB is loaded in the background at once (a million rows take seconds), so the
    dashboard's first chart rarely waits for it.
    """
    if not is_loopback(host) and not token:
        raise TokenRequired(f"serving on {host} exposes the data to the network: set INVENTORY_API_TOKEN")
    if token is not None and len(token) < 16:
        raise TokenRequired("INVENTORY_API_TOKEN must be at least 16 characters")
    history = DuckDbHistory(ports.objects, ports.table)
    server = ReportsServer((host, port), make_app(ports, history), quiet=quiet, token=token)
    threading.Thread(target=history.warm, name="history-warm-up", daemon=True).start()
    return server


def serve_forever(server: ReportsServer) -> None:
    """Serve until interrupted; always releases the socket."""
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()


def serve_in_thread(server: ReportsServer) -> threading.Thread:
    """For `inventory serve` and tests: serve from a daemon thread; stop with server.shutdown()."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    return thread
