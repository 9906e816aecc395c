"""``python -m bench.event_log_writes [BRANCHES CALLS]``: what the execution log costs per state change when
many segments write one execution at once.

Runs one fan-out (BRANCHES parallel branches of CALLS ``api_call`` nodes each, against a local echo server) on
the embedded AWS and counts every DynamoDB request the handlers make for the log: the counter (its reads and
updates), the transactions that store events with their checkpoints (attempts, including those cancelled by a
race), tombstones and sealing queries. It prints them per logged state change, with the write units they are
billed (a transactional write counts twice, an update is billed at the size of the whole item it changes).
Run it from another checkout to compare designs: the script only uses what both have.
"""

from __future__ import annotations

import itertools
import json
import math
import sys
import threading
import time
from collections import Counter
from typing import Any

from segflow.adapters import clients
from segflow.domain.ids import execution_id_of

from bench.echo_server import EchoServer
from bench.requests import item_bytes
from segflow_cli.client import SegflowClient
from segflow_cli.locate import Resources
from segflow_local.embedded import embedded_aws


class LogRequests:
    """Counts the DynamoDB requests of the handlers' shared client that touch the execution log."""

    def __init__(self, events_table: str, executions_table: str) -> None:
        self.events, self.executions = events_table, executions_table
        self.calls: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.writes: list[tuple[str, dict[str, Any], bool]] = []  # (operation, params, succeeded)
        self._lock = threading.Lock()

    def attach(self, client: Any) -> None:
        client.meta.events.register("before-parameter-build.dynamodb", self._params)
        client.meta.events.register("after-call.dynamodb", self._after)

    @staticmethod
    def _params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["log_bench_params"] = params

    def _kind(self, operation: str, params: dict[str, Any]) -> str | None:
        table = params.get("TableName")
        sk = (params.get("Key") or params.get("Item") or {}).get("sk", {}).get("S")
        if operation == "TransactWriteItems":
            tables = {next(iter(entry.values()))["TableName"] for entry in params.get("TransactItems", [])}
            return "TransactWriteItems (events + checkpoints)" if self.events in tables else None
        if table == self.events:
            return f"{operation} (events table)"
        if table == self.executions and sk == "LOG":
            return f"{operation} (LOG counter)"
        if table == self.executions and sk == "META" and operation == "GetItem":
            projection = params.get("ProjectionExpression", "")
            if "event_seq" in projection or "#status" in projection:  # the counter's read, or the end's check
                return "GetItem (META, for the log)"
        return None

    def _after(self, model: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        params = context.get("log_bench_params") or {}
        kind = self._kind(model.name, params)
        if kind is None:
            return
        ok = "Error" not in (parsed or {})
        with self._lock:
            self.calls[kind] += 1
            if not ok:
                self.failed[kind] += 1
            self.writes.append((model.name, params, ok))


def write_units(requests: LogRequests, item_sizes: dict[tuple[str, str], int]) -> float:
    """On-demand write units of the successful log writes: 1 per started KB, twice in a transaction; an update
    is billed at the size of the item it leaves (``item_sizes``: the items as they ended)."""

    def units(kind: str, body: dict[str, Any], table: str) -> int:
        if kind == "Put":
            size = item_bytes(body["Item"])
        else:
            size = item_sizes.get((table, body["Key"]["sk"]["S"]), item_bytes(body["Key"]))
        return max(1, math.ceil(size / 1024))

    total = 0.0
    for operation, params, ok in requests.writes:
        if not ok:
            continue
        if operation == "TransactWriteItems":
            for entry in params["TransactItems"]:
                (kind, body), *_ = entry.items()
                total += 2 * units(kind, body, body["TableName"])
        elif operation in ("PutItem", "UpdateItem"):
            total += units("Put" if operation == "PutItem" else "Update", params, params["TableName"])
    return total


def fan_out(url: str, branches: int, calls: int) -> dict[str, Any]:
    nodes: list[dict[str, Any]] = [{"node_id": "start", "type": "transform", "config": {"output": 1}}]
    edges = []
    for branch in range(branches):
        chain = [f"b{branch}_{call}" for call in range(calls)]
        for node_id in chain:
            config = {"url": url, "method": "POST", "body": {"node": node_id}}
            nodes.append({"node_id": node_id, "type": "action", "action_type": "api_call", "config": config})
        edges.append({"source": "start", "target": chain[0]})
        edges += [{"source": a, "target": b} for a, b in itertools.pairwise(chain)]
        edges.append({"source": chain[-1], "target": "join"})
    nodes.append({"node_id": "join", "type": "aggregator", "config": {}})
    return {"workflow_id": f"log-writes-{branches}x{calls}", "nodes": nodes, "edges": edges}


def main(argv: list[str]) -> int:
    branches, calls = (int(argv[0]), int(argv[1])) if len(argv) >= 2 else (20, 5)
    echo = EchoServer().start()
    with embedded_aws(stage="logbench") as aws:
        client = SegflowClient(aws.session, Resources.from_outputs(aws.stack.outputs()))
        requests = LogRequests(client.resources.events_table, client.resources.executions_table)
        requests.attach(clients.client("dynamodb"))
        began = time.monotonic()
        arn = client.start(fan_out(echo.url, branches, calls), {})
        description = client.wait(arn, timeout_seconds=1800)
        runtime = time.monotonic() - began
        events = client.events(arn)
        dynamodb = aws.client("dynamodb")
        pk = f"EXEC#default#{execution_id_of(arn)}"
        item_sizes = {}
        for table, sk in (
            (client.resources.executions_table, "META"),
            (client.resources.executions_table, "LOG"),
        ):
            item = dynamodb.get_item(TableName=table, Key={"pk": {"S": pk}, "sk": {"S": sk}}).get("Item")
            if item:
                item_sizes[(table, sk)] = item_bytes(item)
    echo.stop()
    changes = len(events)
    print(f"fan-out {branches} x {calls} api_calls: {description['status']} in {runtime:.1f} s")
    print(f"state changes logged: {changes} (node {sum(1 for e in events if e.kind == 'node')})")
    if description["status"] != "SUCCEEDED":
        print(f"  cause: {description.get('cause')}")
    print(f"{'request':48} {'count':>7} {'failed':>7} {'per change':>11}")
    for kind, count in sorted(requests.calls.items()):
        print(f"{kind:48} {count:7d} {requests.failed[kind]:7d} {count / max(1, changes):11.2f}")
    total = sum(requests.calls.values())
    failed = sum(requests.failed.values())
    print(f"{'all log requests':48} {total:7d} {failed:7d} {total / max(1, changes):11.2f}")
    units = write_units(requests, item_sizes)
    print(f"write units of successful log writes: {units:.0f} ({units / max(1, changes):.2f} per change)")
    print(json.dumps({"item_bytes": {sk: size for (_, sk), size in item_sizes.items()}}))
    return 0 if description["status"] == "SUCCEEDED" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
