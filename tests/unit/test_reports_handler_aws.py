"""The reports Lambda as API Gateway (HTTP API, IAM authorization, the $default route) invokes it, on the
DynamoDB stock table under moto.

GIVEN stock applied through the real DynamoDB adapter, some pairs below their thresholds
WHEN the handler gets the canonical payload 2.0 events in tests/events/ (rawPath percent-encoded, the
caller's IAM identity in requestContext.authorizer.iam)
THEN it answers 200 with the same rows the report logic reads from the table.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.aws.clients import AwsClients
from adapters.aws.names import ResourceNames
from adapters.content import content_digest
from adapters.ports import FileStats, Ports
from adapters.settings import Settings
from services.ingest.logic import parse_file
from services.reports.logic import restock_report, warehouse_report
from tests.aws_support import REGION, aws_env
from tests.conftest import EVENTS_DIR
from tests.validator_support import day_key, tsv


class Context:
    function_name = "inventory-reports"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:eu-central-1:123456789012:function:inventory-reports"
    aws_request_id = "6f1b2c3d-0000-4000-8000-000000000001"


@pytest.fixture
def stocked(monkeypatch: pytest.MonkeyPatch) -> Iterator[Ports]:
    from moto import mock_aws

    from adapters.aws.provision import provision
    from adapters.aws.wiring import bootstrap_aws
    from services.reports import handler

    aws_env(monkeypatch)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    names = ResourceNames()
    # The function's environment as the stack gives it (tests/infra/test_seams.py checks the names).
    for var, value in names.as_env().items():
        monkeypatch.setenv(var, value)
    monkeypatch.setattr(handler, "_ports", None)  # a cold start: ports built from this environment
    with mock_aws():
        clients = AwsClients(None, REGION)
        provision(clients, names, "inventory@example.com")
        ports = bootstrap_aws(Settings(), names, clients=clients)
        key = day_key(15, "a_inventory.csv")
        data = tsv(
            "2021-02-15T10:00:00Z|Berlin 1|i1|Mug|25",
            "2021-02-15T10:00:00Z|Berlin 1|i2|Plate|3",
            "2021-02-15T10:00:00Z|Berlin 1|i3|Bowl|21",
            "2021-02-15T10:00:00Z|Köln 2|i1|Mug|4",
        )
        info = ports.objects.put(key, data)
        ports.table.record_arrival(
            key, "inventory", info.etag, info.size, datetime.now(UTC), digest=content_digest(data)[0]
        )
        parsed = parse_file(key, lambda: [data])
        stats = FileStats(good_rows=parsed.good_rows, bad_rows=0, applied_total=parsed.total)
        with ports.table.transaction():
            ports.table.apply_file(key, parsed.pairs, parsed.bad_rows, stats)
        yield ports


def invoke(name: str, method: str | None = None) -> tuple[dict[str, Any], Any]:
    """The handler's answer to a canonical event, asked with `method` instead of the event's own."""
    from services.reports.handler import handler

    event = json.loads((EVENTS_DIR / name).read_text(encoding="utf-8"))
    if method is not None:
        event["requestContext"]["http"]["method"] = method
    response = handler(event, Context())
    return response, json.loads(response["body"]) if response["body"] else None


def test_restock_through_api_gateway(stocked: Ports) -> None:
    response, body = invoke("apigw_v2_iam_restock.json")
    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"].startswith("application/json")
    expected = restock_report(stocked.table)
    assert {(r["warehouse"], r["item_id"]) for r in expected} == {("Berlin 1", "i2"), ("Köln 2", "i1")}
    assert body["items"] == expected


def test_warehouse_items_through_api_gateway_decodes_the_name_and_keeps_level_strictly_greater(
    stocked: Ports,
) -> None:
    response, body = invoke("apigw_v2_iam_warehouse_items.json")
    assert response["statusCode"] == 200
    assert body["warehouse"] == "Berlin 1"
    assert [(r["item_id"], r["level"]) for r in body["items"]] == [("i1", 25), ("i3", 21)]
    assert body["items"] == warehouse_report(stocked.table, "Berlin 1", 20)
    assert body["next_cursor"] is None


@pytest.mark.parametrize("name", ["apigw_v2_iam_restock.json", "apigw_v2_iam_warehouse_items.json"])
def test_given_a_report_when_asked_with_head_then_the_lambda_answers_like_get_without_a_body(
    stocked: Ports, name: str
) -> None:
    # GIVEN what GET answers (API Gateway's $default route sends HEAD to the function as well)
    got, _ = invoke(name)
    # WHEN the same request comes as HEAD
    head, body = invoke(name, "HEAD")
    # THEN the status and headers are GET's and there is no body, as the local server answers HEAD
    assert head["statusCode"] == got["statusCode"] == 200
    assert head["headers"] == got["headers"]
    assert body is None and head["body"] == "" and got["body"]


def test_given_a_method_no_route_takes_then_405_lists_head_with_get(stocked: Ports) -> None:
    response, body = invoke("apigw_v2_iam_restock.json", "DELETE")
    assert response["statusCode"] == 405
    assert response["headers"]["Allow"] == "GET, HEAD"
    assert body["statusCode"] == 405
