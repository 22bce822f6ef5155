"""The pure pieces the constructs are built from: schema conversion, SES identities, parameters, the view."""

from __future__ import annotations

import base64
import json
import re

import pytest
from pydantic import ValidationError

from adapters.aws.construct import CHANGE_SQL, analytics_name, presto_view_text, transactions_view_sql
from app import StackSettings, load_context
from events.construct import published_schemas, to_draft4
from services.ingest.parsing import Row, parse_inventory
from services.notify.construct import ses_identities


def test_to_draft4_moves_defs_and_rewrites_refs_and_const() -> None:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "properties": {
            "const": {"const": "x"},  # a property named like a keyword stays a property
            "rows": {"items": {"$ref": "#/$defs/Row"}},
        },
        "$defs": {"Row": {"properties": {"kind": {"const": "a"}}}},
    }
    converted = to_draft4(schema)
    assert converted["$schema"] == "http://json-schema.org/draft-04/schema#"
    assert converted["properties"]["const"] == {"enum": ["x"]}
    assert converted["properties"]["rows"]["items"] == {"$ref": "#/definitions/Row"}
    assert converted["definitions"]["Row"]["properties"]["kind"] == {"enum": ["a"]}
    assert "$defs" not in converted


def test_published_schemas_resolve_every_ref() -> None:
    schemas = published_schemas()
    assert schemas
    for text in schemas.values():
        schema = json.loads(text)
        for ref in {part.split('"')[0] for part in text.split('"$ref": "')[1:]}:
            assert ref.removeprefix("#/definitions/") in schema["definitions"]


def test_ses_identities_are_each_address_and_its_domain() -> None:
    assert ses_identities("inventory@example.com", "buyers@example.org") == [
        "inventory@example.com",
        "example.com",
        "buyers@example.org",
        "example.org",
    ]


def test_stack_settings_read_from_cdk_json_and_are_validated() -> None:
    context = load_context()
    settings = StackSettings.model_validate(
        {k.removeprefix("inventory:"): v for k, v in context.items() if k.startswith("inventory:")}
    )
    assert settings.validator_schedule == "cron(0 3 * * ? *)"
    assert settings.default_threshold == 10
    assert set(StackSettings.context_names()) >= {
        "purchasingEmail",
        "senderEmail",
        "defaultThreshold",
        "checkDelaySeconds",
        "validatorSchedule",
        "deletionProtection",
    }
    with pytest.raises(ValidationError):
        StackSettings.model_validate({"purchasingEmail": "not an address"})
    with pytest.raises(ValidationError):
        StackSettings.model_validate({"defaultThreshold": -1})
    with pytest.raises(ValidationError):  # the functions' settings would refuse it at every invocation
        StackSettings.model_validate({"defaultThreshold": 10**10})
    with pytest.raises(ValidationError):  # the task would refuse it at every nightly start
        StackSettings.model_validate({"checkDelaySeconds": 3601})
    with pytest.raises(ValidationError, match="RetentionDays"):
        StackSettings.model_validate({"logRetention": "FOREVER_AND_A_DAY"})
    assert StackSettings.model_validate({"deletionProtection": "false"}).deletion_protection is False  # -c gives text


def test_view_text_is_athenas_encoding() -> None:
    sql = transactions_view_sql("inventory")
    assert '"inventory"."transaction_rows"' in sql
    text = presto_view_text(sql, "inventory")
    view = json.loads(base64.b64decode(text.removeprefix("/* Presto View: ").removesuffix(" */")))
    assert view["originalSql"] == sql and view["catalog"] == "awsdatacatalog" and view["schema"] == "inventory"


def test_each_stack_gets_its_own_glue_database_and_athena_workgroup() -> None:
    # Both names are account-wide: a second stack (-c inventory:stackName=...) must not collide.
    assert analytics_name("Inventory") == "inventory"  # the default stack keeps its names
    assert analytics_name("Inventory-Staging") == "inventory_staging"


@pytest.mark.parametrize(
    "text",
    [
        *["5", "-3", "+7", "007", "5.0", "-3.00", "+7.0", " 5 ", '"5"', '"5.0"', "1000000000", "-1000000000"],
        *["1000000001", "1500000000", "2147483648", "1000000001.0", "5.5", "1e3", "5.", ".0", "nan", "5,0", ""],
        *["--5", "٣", '"5"x', "1.000", "5.000"],
    ],
)
def test_athenas_change_is_an_integer_exactly_where_ingest_reads_one(text: str) -> None:
    # GIVEN the view's SQL for `change`, which Athena runs; here each step of it runs in Python: trim,
    # unquote, the pattern (Python's re reads it the same), the sign, split_part, and the bound
    def view(change: str) -> int | None:
        (unquote,) = set(re.findall(r"regexp_replace\(trim\(change\), '([^']+)', '\$1'\)", CHANGE_SQL))
        (pattern,) = set(re.findall(r"\), '(\^\[\+-\][^']+)'\)", CHANGE_SQL))
        (bound,) = re.findall(r"<= (\d+)", CHANGE_SQL)
        cleaned = re.sub(unquote, r"\1", change.strip()).strip()
        if not re.match(pattern, cleaned):
            return None
        value = int(cleaned.removeprefix("+").split(".")[0])
        return value if abs(value) <= int(bound) else None

    # WHEN a field is read by ingest THEN the view gives the same integer, or NULL for a bad row
    line = f"2021-02-15T12:00:00Z\tW\ti\tN\t{text}".encode()
    rows = list(parse_inventory([b"Timestamp\tWarehouseName\tItemId\tItemName\tStockLevelChange\n" + line]))
    parsed = rows[0].change if isinstance(rows[0], Row) else None
    assert view(text) == parsed
