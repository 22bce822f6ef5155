"""The reports HTTP API: one Powertools resolver, the reports Lambda on AWS and the local server alike.

Answers come from `services.reports.logic`, the same functions the CLI prints, so the API and
`inventory report ... --format json` agree by construction (tests/e2e/test_api_matches_cli.py checks it).
The resolver also serves the dashboard's static files, so AWS and the local runtime ship one thing.
"""

from __future__ import annotations

import base64
import binascii
import json
import mimetypes
import re
from collections.abc import Callable, Mapping, Sequence
from http import HTTPStatus
from importlib import resources
from re import Match
from typing import Annotated, Any, Literal
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from adapters.limits import LEVEL_BOUND, MAX_NAME_CHARS
from adapters.ports import StockTable
from local.output import to_csv
from services.reports.history import HistorySource, HistoryUnavailable
from services.reports.logic import NotFound, item_report, restock_report, warehouse_report

MAX_TEXT = MAX_NAME_CHARS  # every warehouse and item id ingest accepts can be asked for
MAX_LIMIT = 1000
# Cursors carry a page's last key in base64: two keys of MAX_TEXT characters at 4 UTF-8 bytes each and a
# separator are 2,135 characters. Well under the URL limits (8 KB locally, 10 KB on API Gateway).
MAX_CURSOR = 4000
ROW_COLUMNS = ["warehouse", "item_id", "item_name", "level", "threshold", "below"]
STATIC_FILES = ("index.html", "app.js", "style.css")

# ------------------------------------------------------------------------------------------ models


class ErrorBody(BaseModel):
    statusCode: int
    message: str


class StockRowModel(BaseModel):
    warehouse: str
    item_id: str
    item_name: str
    level: int
    threshold: int
    below: bool


class WarehouseList(BaseModel):
    warehouses: list[str]


class WarehouseItems(BaseModel):
    warehouse: str
    items: list[StockRowModel]
    next_cursor: str | None


class WarehouseLevel(BaseModel):
    warehouse: str
    level: int


class ItemTotalModel(BaseModel):
    item_id: str
    item_name: str
    total: int
    warehouses: list[WarehouseLevel]


class RestockList(BaseModel):
    items: list[StockRowModel]
    next_cursor: str | None


class HistoryPoint(BaseModel):
    ts: str
    change: int
    level: int


class PairHistory(BaseModel):
    warehouse: str
    item_id: str
    points: list[HistoryPoint]
    truncated: bool


# ------------------------------------------------------------------------------------------ helpers

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")  # the characters ingest refuses in an item id


class BadRequest(ValueError):
    pass


class NotImplementedHere(RuntimeError):
    pass


def encode_cursor(*parts: str) -> str:
    """Opaque to clients: the key of a page's last row, url-safe base64 without padding."""
    # NUL cannot occur in a part (names never hold control characters), so the split back is exact.
    return base64.urlsafe_b64encode("\x00".join(parts).encode("utf-8")).decode("ascii").rstrip("=")


def decode_cursor(cursor: str, parts: int = 1) -> list[str]:
    """The key parts inside a well-formed cursor, or BadRequest for anything else.

    Cursors are not signed (that would need a secret shared by every Lambda): any well-formed position is
    accepted and merely starts the page there, as if the API had issued it."""
    if not re.fullmatch(r"[A-Za-z0-9_-]+", cursor):
        raise BadRequest("cursor is not one this API issued")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = raw.decode("utf-8").split("\x00")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadRequest("cursor is not one this API issued") from None
    # Only the canonical spelling round-trips, so a cursor is never two things at once.
    # Keys never hold control characters (ingest rejects such rows), so neither does a real cursor.
    if (
        len(values) != parts
        or not all(values)
        or any(_CONTROL.search(v) for v in values)
        or encode_cursor(*values) != cursor
    ):
        raise BadRequest("cursor is not one this API issued")
    return values


def _error(status: HTTPStatus, message: str) -> Response[Any]:
    return Response(
        status_code=status.value,
        content_type="application/json",
        body=json.dumps({"statusCode": status.value, "message": message}, ensure_ascii=False),
    )


def _csv(
    rows: Sequence[dict[str, Any]], columns: Sequence[str], headers: dict[str, str] | None = None
) -> Response[Any]:
    return Response(
        status_code=200,
        content_type="text/csv; charset=utf-8",
        body=to_csv(rows, columns),
        headers=headers or {},
    )


def _json(data: Any, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(
        status_code=200,
        content_type="application/json",
        body=json.dumps(data, ensure_ascii=False),
        headers=headers or {},
    )


def _responses(model: type[BaseModel], csv: bool = False, extra: Sequence[int] = ()) -> dict[int, OpenAPIResponse]:
    content: dict[str, Any] = {"application/json": {"model": model}}
    if csv:
        content["text/csv"] = {"schema": {"type": "string"}}
    out: dict[int, OpenAPIResponse] = {200: {"description": "OK", "content": content}}
    messages = {
        400: "Bad parameter",
        404: "Unknown warehouse, item or pair",
        501: "Not available in this runtime",
    }
    for status in extra:
        out[status] = {"description": messages[status], "content": {"application/json": {"model": ErrorBody}}}
    return out


Format = Literal["json", "csv"]
FormatQuery = Annotated[Format, Query(alias="format", description="json (default) or csv")]
Text = Annotated[str, Query(min_length=1, max_length=MAX_TEXT)]


class ReportsResolver(APIGatewayHttpResolver):
    """Path parameters arrive percent-encoded in rawPath ('Berlin%201'); decode them once, as API Gateway
    does for its own pathParameters, before validation sees them."""

    def _convert_matches_into_route_keys(self, match: Match[str]) -> dict[str, str]:
        return {key: unquote(value, errors="replace") for key, value in match.groupdict().items()}

    def allowed_methods(self, path: str) -> list[str]:
        """The methods some route accepts for this path: a wrong method gets 405 with Allow, not 404."""
        path = self._remove_prefix(path)
        routes = self._static_routes + self._dynamic_routes
        methods = {r.method for r in routes if r.rule.match(path)}
        if "GET" in methods:
            methods.add("HEAD")  # every GET route answers HEAD too (see resolve)
        return sorted(methods)

    def resolve(self, event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
        """HEAD is GET without the body (RFC 9110 9.3.2), on API Gateway as in the local server.

        The $default route hands every method to the function, so HEAD reaches the resolver, which has
        only GET routes: it is answered as a GET whose status and headers are kept and body dropped."""
        http = event.get("requestContext", {}).get("http", {})
        if str(http.get("method", "")).upper() != "HEAD":
            return super().resolve(event, context)
        as_get = {**event, "requestContext": {**event["requestContext"], "http": {**http, "method": "GET"}}}
        response = super().resolve(as_get, context)
        # API Gateway sets Content-Length from the body it is given; a HEAD answer carries none.
        return {**response, "body": "", "isBase64Encoded": False}


# ------------------------------------------------------------------------------------------ the app


def create_app(
    table: Callable[[], StockTable],
    history: Callable[[], HistorySource | None] = lambda: None,
) -> ReportsResolver:
    """The resolver; ports are asked for on each request, so a Lambda builds them on first use only."""
    app = ReportsResolver(enable_validation=True)

    @app.exception_handler(NotFound)
    def not_found(exc: NotFound) -> Response[Any]:
        return _error(HTTPStatus.NOT_FOUND, str(exc.args[0]) if exc.args else "not found")

    @app.exception_handler(NotFoundError)
    def no_route(_exc: NotFoundError) -> Response[Any]:
        allowed = app.allowed_methods(app.current_event.path)
        if allowed:
            response = _error(HTTPStatus.METHOD_NOT_ALLOWED, f"use {', '.join(allowed)}")
            response.headers["Allow"] = ", ".join(allowed)
            return response
        return _error(HTTPStatus.NOT_FOUND, "no such resource")

    @app.exception_handler(RequestValidationError)
    def invalid(exc: RequestValidationError) -> Response[Any]:
        # Powertools' default body drops "msg", which its own OpenAPI schema requires. Pydantic's messages
        # name the rule that failed ("Input should be less than or equal to 1000"), never the input.
        detail = [{"loc": list(e["loc"]), "msg": str(e.get("msg", "")), "type": e["type"]} for e in exc.errors()]
        first = detail[0] if detail else {"loc": [], "msg": "invalid request"}
        message = f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
        body = {"statusCode": 422, "message": message, "detail": detail}
        return Response(status_code=422, content_type="application/json", body=json.dumps(body, ensure_ascii=False))

    @app.exception_handler(BadRequest)
    def bad_request(exc: BadRequest) -> Response[Any]:
        return _error(HTTPStatus.BAD_REQUEST, str(exc))

    @app.exception_handler(NotImplementedHere)
    def not_here(exc: NotImplementedHere) -> Response[Any]:
        return _error(HTTPStatus.NOT_IMPLEMENTED, str(exc))

    @app.get(
        "/warehouses",
        summary="Every warehouse that holds stock",
        responses=_responses(WarehouseList, csv=True),
        tags=["reports"],
    )
    def list_warehouses(fmt: FormatQuery = "json") -> Response[Any]:
        names = table().warehouses()
        if fmt == "csv":
            return _csv([{"warehouse": n} for n in names], ["warehouse"])
        return _json({"warehouses": names})

    @app.get(
        "/warehouses/<name>/items",
        summary="Items of a warehouse, optionally only those with a level strictly greater than min_level",
        description="Ordered by item id and paginated: pass next_cursor back as cursor for the next page "
        "(in CSV the cursor comes in the X-Next-Cursor header).",
        responses=_responses(WarehouseItems, csv=True, extra=(400, 404)),
        tags=["reports"],
    )
    def warehouse_items(
        name: Annotated[str, Path(min_length=1, max_length=MAX_TEXT)],
        min_level: Annotated[int | None, Query(ge=-LEVEL_BOUND, le=LEVEL_BOUND)] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = MAX_LIMIT,
        cursor: Annotated[str | None, Query(min_length=1, max_length=MAX_CURSOR, pattern=r"^[A-Za-z0-9_-]+$")] = None,
        fmt: FormatQuery = "json",
    ) -> Response[Any]:
        after = decode_cursor(cursor)[0] if cursor is not None else None
        # One row more than asked tells whether another page exists, so the last page has no cursor.
        rows = warehouse_report(table(), name, min_level, after, limit + 1)
        page, more = rows[:limit], len(rows) > limit
        next_cursor = encode_cursor(page[-1]["item_id"]) if more else None
        if fmt == "csv":
            return _csv(page, ROW_COLUMNS, {"X-Next-Cursor": next_cursor} if next_cursor else None)
        return _json({"warehouse": name, "items": page, "next_cursor": next_cursor})

    @app.get(
        "/items/<item_id>",
        summary="An item's total across warehouses, with the per-warehouse split",
        responses=_responses(ItemTotalModel, csv=True, extra=(404,)),
        tags=["reports"],
    )
    def item(
        item_id: Annotated[str, Path(min_length=1, max_length=MAX_TEXT)],
        fmt: FormatQuery = "json",
    ) -> Response[Any]:
        result = item_report(table(), item_id)
        if fmt == "csv":
            # The same rows as `inventory report item --format csv`: the split, then a TOTAL line.
            rows = [{"item_id": result["item_id"], "item_name": result["item_name"], **w} for w in result["warehouses"]]
            rows.append(
                {
                    "item_id": result["item_id"],
                    "item_name": result["item_name"],
                    "warehouse": "TOTAL",
                    "level": result["total"],
                }
            )
            return _csv(rows, ["item_id", "item_name", "warehouse", "level"])
        return _json(result)

    @app.get(
        "/restock",
        summary="Every (warehouse, item) pair below its item's restock threshold",
        description="Ordered by warehouse, then item id, and paginated: pass next_cursor back as cursor for "
        "the next page (in CSV the cursor comes in the X-Next-Cursor header).",
        responses=_responses(RestockList, csv=True, extra=(400,)),
        tags=["reports"],
    )
    def restock(
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = MAX_LIMIT,
        cursor: Annotated[str | None, Query(min_length=1, max_length=MAX_CURSOR, pattern=r"^[A-Za-z0-9_-]+$")] = None,
        fmt: FormatQuery = "json",
    ) -> Response[Any]:
        after: tuple[str, str] | None = None
        if cursor is not None:
            warehouse, item_id = decode_cursor(cursor, parts=2)
            after = (warehouse, item_id)
        rows = restock_report(table(), after, limit + 1)
        page, more = rows[:limit], len(rows) > limit
        next_cursor = encode_cursor(page[-1]["warehouse"], page[-1]["item_id"]) if more else None
        if fmt == "csv":
            return _csv(page, ROW_COLUMNS, {"X-Next-Cursor": next_cursor} if next_cursor else None)
        return _json({"items": page, "next_cursor": next_cursor})

    @app.get(
        "/history",
        summary="A pair's level over time, from the transactions in the inventory files",
        description="Every good row of the pair in time order with the running level. The newest "
        "points are kept when there are more than the limit (truncated is then true; in CSV the "
        "X-Truncated header says so).",
        responses=_responses(PairHistory, csv=True, extra=(404, 501)),
        tags=["reports"],
    )
    def pair_history(
        warehouse: Text,
        item_id: Text,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 5000,
        fmt: FormatQuery = "json",
    ) -> Response[Any]:
        source = history()
        if source is None:
            raise NotImplementedHere(
                "history is computed from the raw files and is served by the local runtime only; "
                "on AWS query the Glue table `transactions` with Athena"
            )
        try:
            points = source.pair_history(warehouse.strip(), item_id.strip())  # stored stripped, as reports
        except HistoryUnavailable as exc:
            raise NotImplementedHere(str(exc)) from None
        if not points:
            raise NotFound(f"no transactions for warehouse {warehouse!r} and item {item_id!r}")
        truncated = len(points) > limit
        if fmt == "csv":
            # The pair on every row, as in the other reports' CSV, so files of several pairs can be joined.
            rows = [{"warehouse": warehouse, "item_id": item_id, **p.as_dict()} for p in points[-limit:]]
            columns = ["warehouse", "item_id", "ts", "change", "level"]
            return _csv(rows, columns, {"X-Truncated": "true" if truncated else "false"})
        return _json(
            {
                "warehouse": warehouse,
                "item_id": item_id,
                "points": [p.as_dict() for p in points[-limit:]],
                "truncated": truncated,
            }
        )

    @app.get("/openapi.json", include_in_schema=False)
    def openapi() -> Response[Any]:
        return Response(
            status_code=200,
            content_type="application/json",
            body=app.get_openapi_json_schema(title="Serverless Inventory reports", version="1.0.0"),
        )

    # Powertools inlines the Swagger UI's JS and CSS into the page (no swagger_base_url), so /docs works
    # without internet access; compress keeps the 1.7 MB page small on the wire.
    app.enable_swagger(path="/docs", title="Serverless Inventory reports", version="1.0.0", compress=True)

    @app.get("/", include_in_schema=False)
    def index() -> Response[Any]:
        return _static("index.html")

    @app.get("/static/<filename>", include_in_schema=False)
    def static(filename: str) -> Response[Any]:
        return _static(filename)

    return app


def _static(filename: str) -> Response[Any]:
    # Only the files we ship, by exact name: no path from a request ever reaches the file system.
    if filename not in STATIC_FILES:
        return _error(HTTPStatus.NOT_FOUND, "no such file")
    body = (resources.files("local") / "static" / filename).read_text(encoding="utf-8")
    content_type = (mimetypes.guess_type(filename)[0] or "application/octet-stream") + "; charset=utf-8"
    return Response(
        status_code=200,
        content_type=content_type,
        body=body,
        headers={
            # The dashboard inserts data as text only; the policy forbids inline script and any other origin.
            "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; "
            "base-uri 'none'; frame-ancestors 'none'",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-cache",
        },
    )
