"""The validator's checkpoint, carried state and run lease as items of the single DynamoDB table.

Items (partition `PK = VALIDATOR`, one item collection):
- `SK = LEASE`: owner, expires (epoch seconds). Taken and renewed with conditional writes.
- `SK = CHECKPOINT`: body (JSON text of validator.run's checkpoint) and gen, the number of saves.
- `SK = STATE#<key>`: one carried entry: k (the key), v (value; absent = deleted), p (the value at the
  previous checkpoint), g (the save that wrote it). Keys too long for a sort key are hashed.

A save renews the lease (conditional on holding it), writes its entries (BatchWriteItem, 25 a call)
with g = gen + 1, then the checkpoint with gen + 1 in one transaction with the lease condition. Until
that transaction succeeds the entries are not committed: `load` reads an entry with g > gen as its
previous value `p` and writes it back that way, so a run killed halfway through a save resumes from
the last whole checkpoint.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from validator.state import Change, Lease, LeaseLost, Snapshot

PK = "VALIDATOR"
_STATE = "STATE#"
_MAX_SK_BYTES = 1024  # DynamoDB's limit for a sort key


def _sort_key(key: str) -> str:
    if len(key.encode("utf-8")) + len(_STATE) < _MAX_SK_BYTES - 16:
        return _STATE + key
    return _STATE + "~" + hashlib.sha256(key.encode("utf-8")).hexdigest()


class DynamoValidatorState:
    def __init__(self, table_name: str, client: Any) -> None:
        # The client is given, never made here: it must share the ports' region and endpoint (a bare
        # boto3 client reads neither AWS_REGION nor an emulator URL given on the command line).
        self.client = client
        self.table = table_name
        self._gen: int | None = None

    # ------------------------------------------------------------------ lease

    def lease(self) -> Lease | None:
        item = self.client.get_item(TableName=self.table, Key=_key("LEASE"), ConsistentRead=True).get("Item")
        if not item:
            return None
        return Lease(item["owner"]["S"], datetime.fromtimestamp(float(item["expires"]["N"]), UTC))

    def acquire(self, owner: str, now: datetime, ttl: timedelta, replace: str | None = None) -> bool:
        names = {"#o": "owner", "#e": "expires"}
        values = {":now": {"N": _num(now.timestamp())}, ":me": {"S": owner}}
        condition = "attribute_not_exists(PK) OR #e <= :now OR #o = :me"
        if replace is not None:
            condition += " OR #o = :old"
            values[":old"] = {"S": replace}
        try:
            self.client.put_item(
                TableName=self.table,
                Item={
                    **_key("LEASE"),
                    "owner": {"S": owner},
                    "expires": {"N": _num((now + ttl).timestamp())},
                },
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def release(self, owner: str) -> None:
        # If someone else holds it now (ours expired), the condition fails and theirs stays.
        with contextlib.suppress(self.client.exceptions.ConditionalCheckFailedException):
            self.client.delete_item(
                TableName=self.table,
                Key=_key("LEASE"),
                ConditionExpression="#o = :me",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":me": {"S": owner}},
            )

    # ------------------------------------------------------------------ checkpoint and entries

    def _checkpoint(self) -> tuple[str | None, int]:
        item = self.client.get_item(TableName=self.table, Key=_key("CHECKPOINT"), ConsistentRead=True).get("Item")
        if not item:
            return None, 0
        return item["body"]["S"], int(item["gen"]["N"])

    def load(self) -> Snapshot:
        body, gen = self._checkpoint()
        entries: dict[str, str] = {}
        repairs: list[dict[str, Any]] = []
        paginator = self.client.get_paginator("query")
        pages = paginator.paginate(
            TableName=self.table,
            KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
            ExpressionAttributeValues={":pk": {"S": PK}, ":prefix": {"S": _STATE}},
            ConsistentRead=True,
        )
        for page in pages:
            for item in page["Items"]:
                key = item["k"]["S"]
                if int(item["g"]["N"]) > gen:
                    # Written by a save whose checkpoint never landed: roll back to the committed value.
                    value = item["p"]["S"] if "p" in item else None
                    repairs.append(_put(key, value, None, gen) if value is not None else _delete(key))
                else:
                    value = item["v"]["S"] if "v" in item else None
                    if value is None:
                        repairs.append(_delete(key))  # a committed deletion: the tombstone can go
                if value is not None:
                    entries[key] = value
        self._batch_write(repairs)
        self._gen = gen
        return Snapshot(body, entries)

    def save(self, owner: str, checkpoint: str, changes: Mapping[str, Change], now: datetime, ttl: timedelta) -> None:
        if self._gen is None:
            self._gen = self._checkpoint()[1]
        gen = self._gen + 1
        renew = {
            "TableName": self.table,
            "Key": _key("LEASE"),
            "UpdateExpression": "SET #e = :e",
            "ConditionExpression": "#o = :me AND #e > :now",
            "ExpressionAttributeNames": {"#o": "owner", "#e": "expires"},
            "ExpressionAttributeValues": {
                ":me": {"S": owner},
                ":now": {"N": _num(now.timestamp())},
                ":e": {"N": _num((now + ttl).timestamp())},
            },
        }
        # Renew first: a run whose lease another run took must not write a single entry (the new
        # holder may already have loaded, and would not see them as uncommitted). Renewed, the lease
        # is ours for a whole ttl, far longer than the writes below take.
        try:
            self.client.update_item(**renew)
        except self.client.exceptions.ConditionalCheckFailedException as exc:
            raise LeaseLost(f"{owner} no longer holds the validator lease") from exc
        self._batch_write([_put(k, c.value, c.previous, gen) for k, c in changes.items()])
        try:
            self.client.transact_write_items(
                TransactItems=[
                    {"Update": renew},
                    {
                        "Put": {
                            "TableName": self.table,
                            "Item": {**_key("CHECKPOINT"), "body": {"S": checkpoint}, "gen": {"N": str(gen)}},
                        }
                    },
                ]
            )
        except self.client.exceptions.TransactionCanceledException as exc:
            raise LeaseLost(f"{owner} no longer holds the validator lease") from exc
        self._gen = gen

    def _batch_write(self, requests: list[dict[str, Any]]) -> None:
        for start in range(0, len(requests), 25):
            pending: dict[str, Any] = {self.table: requests[start : start + 25]}
            delay = 0.05
            while pending:
                response = self.client.batch_write_item(RequestItems=pending)
                pending = response.get("UnprocessedItems") or {}
                if pending:  # throttled: back off and send what is left
                    time.sleep(delay)
                    delay = min(delay * 2, 2.0)


def _key(sort_key: str) -> dict[str, Any]:
    return {"PK": {"S": PK}, "SK": {"S": sort_key}}


def _num(value: float) -> str:
    return f"{value:.6f}"


def _put(key: str, value: str | None, previous: str | None, gen: int) -> dict[str, Any]:
    item: dict[str, Any] = {**_key(_sort_key(key)), "k": {"S": key}, "g": {"N": str(gen)}}
    if value is not None:
        item["v"] = {"S": value}
    if previous is not None:
        item["p"] = {"S": previous}
    return {"PutRequest": {"Item": item}}


def _delete(key: str) -> dict[str, Any]:
    return {"DeleteRequest": {"Key": _key(_sort_key(key))}}
