"""AWS cost of one inventory file under moto: DynamoDB writes and PutEvents entries, whole pipeline.

Run by bench/run.py in a child process (moto and its threads stay out of the harness). It starts a
moto server, counts every write the adapters make by hooking botocore's `before-parameter-build`
events (they see the API parameters) on the one boto3 session the adapters share
(adapters.aws.clients), then runs the real CLI: bootstrap, put, and process (files → ingest → alerts →
notify, handlers invoked in this process). Prints one JSON object.
"""

from __future__ import annotations

import csv
import json
import os
import socket
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

REGION = "eu-central-1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Counts:
    def __init__(self) -> None:
        self.writes: Counter[str] = Counter()  # operation -> items written
        self.kinds: Counter[str] = Counter()  # "pair", or the marker's key prefix -> items written
        self.entries = 0
        self.put_events_calls = 0
        self.max_entry = 0
        self.entries_by_type: Counter[str] = Counter()

    def dynamodb(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        name = model.name
        if name in ("PutItem", "UpdateItem", "DeleteItem"):
            self._count(name, params)
        elif name == "BatchWriteItem":
            for requests in params.get("RequestItems", {}).values():
                for request in requests:
                    self._count(name, next(iter(request.values())))
        elif name == "TransactWriteItems":
            for item in params.get("TransactItems", []):
                self._count(name, next(iter(item.values())))

    def _count(self, operation: str, request: dict[str, Any]) -> None:
        """One item written; a stock pair's item (PK WH#...) or a marker (ledger, chunk, consumer...)."""
        self.writes[operation] += 1
        key = request.get("Key") or request.get("Item") or {}
        pk = key.get("PK", {}).get("S", "")
        self.kinds["pair" if pk.startswith("WH#") else pk.split("#", 1)[0] or "?"] += 1

    def events(self, params: dict[str, Any], **_: Any) -> None:
        from adapters.aws.bus import entry_size

        entries = params.get("Entries", [])
        self.put_events_calls += 1
        self.entries += len(entries)
        for entry in entries:
            self.entries_by_type[entry.get("DetailType", "")] += 1
            self.max_entry = max(self.max_entry, entry_size(entry))


def touched_pairs(path: Path) -> tuple[int, int]:
    """Rows and distinct (warehouse, item) pairs, read with the csv module (the baseline's count)."""
    pairs: set[tuple[str, str]] = set()
    rows = 0
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh, delimiter="\t")
        next(reader)
        for row in reader:
            rows += 1
            pairs.add((row[1].strip(), row[2].strip()))
    return rows, len(pairs)


def main() -> None:
    from moto.server import ThreadedMotoServer

    for var, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        os.environ[var] = value
    for var in ("AWS_ENDPOINT_URL", "INVENTORY_HOME", "INVENTORY_BUCKET", "INVENTORY_TABLE", "INVENTORY_BUS"):
        os.environ.pop(var, None)
    rows, warehouses, items = (int(a) for a in sys.argv[1:4])

    from adapters.aws.clients import _session
    from local.cli import main as cli
    from local.generate import generate

    work = Path(tempfile.mkdtemp(prefix="aws-cost-"))
    data = work / "data"
    generated = generate(data, files=1, rows=rows, warehouses=warehouses, items=items, seed=7, thresholds=False)
    (key,) = generated.inventory_keys
    file_rows, pairs = touched_pairs(data / key)

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        aws = ["--backend", "aws", "--endpoint-url", endpoint, "--format", "json"]
        stdout = sys.stdout
        sys.stdout = sys.stderr  # the CLI's answers are not this script's output
        try:
            cli([*aws, "bootstrap"])
            # Counted from here: the file's cost, not the stack's set-up.
            counts = Counts()
            session_events = _session().events
            session_events.register("before-parameter-build.dynamodb", counts.dynamodb)
            session_events.register("before-parameter-build.events.PutEvents", counts.events)
            started = time.perf_counter()
            cli([*aws, "put", str(data / key), "--key", key])
            put_s = time.perf_counter() - started
            cli([*aws, "process"])
            process_s = time.perf_counter() - started - put_s
        finally:
            sys.stdout = stdout
    finally:
        server.stop()
    print(
        json.dumps(
            {
                "rows": file_rows,
                "pairs": pairs,
                "writes": sum(counts.writes.values()),
                "writes_by_operation": dict(counts.writes),
                "writes_by_kind": dict(counts.kinds),
                "entries": counts.entries,
                "entries_by_type": dict(counts.entries_by_type),
                "put_events_calls": counts.put_events_calls,
                "max_entry_bytes": counts.max_entry,
                "put_s": put_s,
                "process_s": process_s,
            }
        )
    )


if __name__ == "__main__":
    main()
