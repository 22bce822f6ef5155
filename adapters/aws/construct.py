"""What the AWS adapters talk to: the data bucket and the stock table, plus the analysts' SQL over the bucket.

These are the resources `adapters/aws/` reads and writes (object store: the bucket; stock table: the
table), so their definition lives next to those adapters rather than with any one service.
"""

from __future__ import annotations

import base64
import json
import re

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_athena as athena
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_glue as glue
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from adapters.aws.names import TABLE_INDEXES, TTL_ATTRIBUTE
from adapters.limits import MAX_CHANGE
from events.rules import INVENTORY_PREFIX
from services.construct import acknowledge

_ATTRIBUTE_TYPES = {"S": dynamodb.AttributeType.STRING, "N": dynamodb.AttributeType.NUMBER}


class Storage(Construct):
    """The data bucket (files as they arrive, validation reports) and the stock table."""

    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey, deletion_protection: bool) -> None:
        super().__init__(scope, construct_id)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            event_bridge_enabled=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="abort-incomplete-uploads", abort_incomplete_multipart_upload_after=Duration.days(7)
                ),
                # Overwritten or deleted files stay recoverable for 90 days, then stop costing.
                s3.LifecycleRule(id="expire-old-versions", noncurrent_version_expiration=Duration.days(90)),
                # Applied inventory files are read again only by the validator and analysts.
                s3.LifecycleRule(
                    id="tier-inventory-files",
                    prefix=INVENTORY_PREFIX,
                    transitions=[
                        s3.Transition(
                            storage_class=s3.StorageClass.INTELLIGENT_TIERING,
                            transition_after=Duration.days(30),
                        )
                    ],
                ),
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge(
            self.bucket,
            {"AwsSolutions-S1": "access logs need an SSE-S3 bucket of their own; CloudTrail data events if required"},
        )
        # Table (not TableV2): TableV2 cannot render a customer-managed key in a region-agnostic stack.
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name="PK", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="SK", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=deletion_protection,
            time_to_live_attribute=TTL_ATTRIBUTE,
            removal_policy=RemovalPolicy.RETAIN,
        )
        for name, (partition, sort, sort_type) in TABLE_INDEXES.items():
            self.table.add_global_secondary_index(
                index_name=name,
                partition_key=dynamodb.Attribute(name=partition, type=dynamodb.AttributeType.STRING),
                sort_key=dynamodb.Attribute(name=sort, type=_ATTRIBUTE_TYPES[sort_type]),
            )


# The raw inventory files: TAB-separated, one header line, columns by position.
RAW_COLUMNS = (
    ("ts", "string", "Timestamp (ISO 8601 with offset, as written)"),
    ("warehouse", "string", "WarehouseName"),
    ("item_id", "string", "ItemId"),
    ("item_name", "string", "ItemName"),
    ("change", "string", "StockLevelChange as written (the view gives it as an integer)"),
)
PARTITIONS = (("year", "1990,2100", 4), ("month", "1,12", 2), ("day", "1,31", 2))
RAW_TABLE = "transaction_rows"
VIEW = "transactions"
# The view analysts query: the same columns as the local DuckDB `transactions` view.
VIEW_COLUMNS = (
    ("ts", "timestamp(3)"),
    ("warehouse", "varchar"),
    ("item_id", "varchar"),
    ("item_name", "varchar"),
    ("change", "integer"),
    ("file_key", "varchar"),
    ("year", "integer"),
    ("month", "integer"),
    ("day", "integer"),
)


# StockLevelChange as ingest reads it: trimmed, unquoted, an integer or a whole number with one or two
# decimal zeros ("5.0", as pandas writes an integer column with a NaN in it; "1.000" is not one), with
# an optional sign, at most 1e9 either way; anything else is NULL, as it is a bad row there.
_CHANGE_TEXT = "trim(regexp_replace(trim(change), '^\"(.*)\"$', '$1'))"
_CHANGE_INT = f"try(CAST(split_part(regexp_replace({_CHANGE_TEXT}, '^\\+', ''), '.', 1) AS bigint))"
CHANGE_SQL = (
    f"CASE WHEN regexp_like({_CHANGE_TEXT}, '^[+-]?[0-9]+(\\.00?)?$') AND abs({_CHANGE_INT}) <= {MAX_CHANGE} "
    f"THEN CAST({_CHANGE_INT} AS integer) END"
)


def transactions_view_sql(database: str) -> str:
    # The key is cut from "$path" without naming the bucket: the view's text is base64 inside the
    # template, where a bucket-name token would never be resolved (it once read `s3://${Token[…]}/`).
    return (
        "SELECT CAST(try(from_iso8601_timestamp(ts)) AT TIME ZONE 'UTC' AS timestamp(3)) AS ts, "
        "warehouse, item_id, item_name, "
        f"{CHANGE_SQL} AS change, "
        "regexp_extract(\"$path\", '^s3://[^/]+/(.*)$', 1) AS file_key, year, month, day "
        f'FROM "{database}"."{RAW_TABLE}"'
    )


def analytics_name(stack_name: str) -> str:
    """The Glue database and Athena workgroup of a stack: account-wide names, so two stacks in one
    account and region need their own ("inventory" for the default stack, as before)."""
    return re.sub(r"[^a-z0-9_]", "_", stack_name.lower())


def presto_view_text(sql: str, database: str) -> str:
    """Athena's encoding of a view stored in the Glue catalog (what CREATE VIEW writes)."""
    view = {
        "originalSql": sql,
        "catalog": "awsdatacatalog",
        "schema": database,
        "columns": [{"name": name, "type": kind} for name, kind in VIEW_COLUMNS],
    }
    encoded = base64.b64encode(json.dumps(view).encode()).decode()
    return f"/* Presto View: {encoded} */"


class Analytics(Construct):
    """SQL over the raw files for the data scientist: a Glue table with partition projection, a view
    with the agreed column names, and an Athena workgroup whose encrypted result location is enforced."""

    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey, bucket: s3.IBucket) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.results_bucket = s3.Bucket(
            self,
            "ResultsBucket",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[s3.LifecycleRule(id="expire-query-results", expiration=Duration.days(30))],
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge(
            self.results_bucket,
            {"AwsSolutions-S1": "query results expire in 30 days; Athena's own history records who ran what"},
        )
        self.database_name = analytics_name(stack.stack_name)
        database = glue.CfnDatabase(
            self,
            "Database",
            catalog_id=stack.account,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=self.database_name, description="Serverless Inventory: raw files for SQL"
            ),
        )
        location = f"s3://{bucket.bucket_name}/{INVENTORY_PREFIX}"
        self.raw_table = glue.CfnTable(
            self,
            "TransactionRows",
            catalog_id=stack.account,
            database_name=self.database_name,
            table_input=glue.CfnTable.TableInputProperty(
                name=RAW_TABLE,
                description="Every row of every inventory file, as written (TSV, header skipped)",
                table_type="EXTERNAL_TABLE",
                parameters={
                    "classification": "csv",
                    "skip.header.line.count": "1",
                    "projection.enabled": "true",
                    **{f"projection.{name}.type": "integer" for name, _, _ in PARTITIONS},
                    **{f"projection.{name}.range": bounds for name, bounds, _ in PARTITIONS},
                    **{f"projection.{name}.digits": str(digits) for name, _, digits in PARTITIONS},
                    "storage.location.template": location + "${year}/${month}/${day}/",
                },
                partition_keys=[glue.CfnTable.ColumnProperty(name=name, type="int") for name, _, _ in PARTITIONS],
                storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                    location=location,
                    input_format="org.apache.hadoop.mapred.TextInputFormat",
                    output_format="org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
                    serde_info=glue.CfnTable.SerdeInfoProperty(
                        serialization_library="org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
                        parameters={"field.delim": "\t", "serialization.format": "\t"},
                    ),
                    columns=[
                        glue.CfnTable.ColumnProperty(name=name, type=kind, comment=comment)
                        for name, kind, comment in RAW_COLUMNS
                    ],
                ),
            ),
        )
        self.raw_table.add_resource_dependency(database)
        sql = transactions_view_sql(self.database_name)
        view = glue.CfnTable(
            self,
            "TransactionsView",
            catalog_id=stack.account,
            database_name=self.database_name,
            table_input=glue.CfnTable.TableInputProperty(
                name=VIEW,
                description="Typed transactions with file key and date parts (query this one)",
                table_type="VIRTUAL_VIEW",
                parameters={"presto_view": "true", "comment": "Presto View"},
                view_original_text=presto_view_text(sql, self.database_name),
                view_expanded_text="/* Presto View */",
                storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                    columns=[
                        glue.CfnTable.ColumnProperty(name=name, type=_hive_type(kind)) for name, kind in VIEW_COLUMNS
                    ],
                    serde_info=glue.CfnTable.SerdeInfoProperty(),
                ),
            ),
        )
        view.add_resource_dependency(self.raw_table)
        self.workgroup = athena.CfnWorkGroup(
            self,
            "WorkGroup",
            name=self.database_name,
            description="Serverless Inventory analysts: results encrypted with the stack key",
            recursive_delete_option=True,
            state="ENABLED",
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                # A cost guard: no single query scans more than 10 GB.
                bytes_scanned_cutoff_per_query=10 * 1024**3,
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(
                    selected_engine_version="Athena engine version 3"
                ),
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=f"s3://{self.results_bucket.bucket_name}/results/",
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_KMS", kms_key=key.key_arn
                    ),
                ),
            ),
        )


def _hive_type(presto_type: str) -> str:
    return {"varchar": "string", "integer": "int", "timestamp(3)": "timestamp"}[presto_type]
