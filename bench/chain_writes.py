"""``python -m bench.chain_writes [NODES ...]``: DynamoDB write units per node of a pure chain (issue 21).

Runs the benchmark's ``linear`` workflow (a chain of transforms, each output about 1 KB) of 1,000 and 10,000
nodes (or the sizes given) under segflow on the embedded AWS, and prices every write the handlers make by
DynamoDB's rules: a write unit per started KB of each item, twice for an item of a transaction; an update
billed at the size of the values it sets (:mod:`bench.requests`). It prints the units per node, and what
they were spent on: node records (pages or items), the execution log (pages or events, tombstones), the log's
counter, segment outcomes (SEG#), the execution's record (META) and the rest. The target is at most 0.5 per
node. Run it from another checkout with ``PYTHONPATH`` pointing there to compare designs: it only uses what
both have.
"""

from __future__ import annotations

import math
import sys
import threading
from collections import Counter
from typing import Any

from bench.harness import Bench, Case
from bench.requests import dynamodb_units, item_bytes
from segflow_local.embedded import embedded_aws

KINDS = ("node records", "log", "log counter", "segment outcomes", "execution record", "other")
TARGET_UNITS_PER_NODE = 0.5


def _kind(sk: str) -> str:
    if sk.startswith("NODE"):
        return "node records"
    if sk.startswith("SEQ#"):
        return "log"
    if sk == "LOG":
        return "log counter"
    if sk.startswith("SEG#"):
        return "segment outcomes"
    if sk == "META":
        return "execution record"
    return "other"


def _units(size: int) -> int:
    return max(1, math.ceil(size / 1024))


class WriteLedger:
    """Write units of the handlers' DynamoDB calls, by what the items written are."""

    def __init__(self) -> None:
        self.units: Counter[str] = Counter()
        self._lock = threading.Lock()

    def attach(self, client: Any) -> None:
        client.meta.events.register("before-parameter-build.dynamodb", self._params)
        client.meta.events.register("after-call.dynamodb", self._after)

    def reset(self) -> None:
        with self._lock:
            self.units.clear()

    @staticmethod
    def _params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["chain_writes_params"] = params

    def _after(self, model: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        params = context.get("chain_writes_params") or {}
        if "Error" in (parsed or {}):
            return
        spent: Counter[str] = Counter()
        if model.name == "TransactWriteItems":
            for entry in params.get("TransactItems", []):
                (_, body), *_ = entry.items()
                key = body.get("Item") or body.get("Key") or {}
                spent[_kind(key.get("sk", {}).get("S", ""))] += 2 * _units(item_bytes(key))
        elif model.name == "PutItem":
            item = params.get("Item", {})
            spent[_kind(item.get("sk", {}).get("S", ""))] += _units(item_bytes(item))
        elif model.name in ("UpdateItem", "DeleteItem", "BatchWriteItem"):
            units, _reads = dynamodb_units(model.name, params, parsed or {})
            sk = params.get("Key", {}).get("sk", {}).get("S", "")
            spent[_kind(sk) if model.name != "BatchWriteItem" else "node records"] += int(units)
        with self._lock:
            self.units.update(spent)


def main(argv: list[str]) -> int:
    sizes = [int(arg) for arg in argv] or [1_000, 10_000]
    rows = []
    with embedded_aws(stage="chainwrites") as aws, Bench(aws) as bench:
        from segflow.adapters import clients

        ledger = WriteLedger()
        ledger.attach(clients.client("dynamodb"))
        bench.run(Case("segflow", "linear", 10, 1024))  # the handlers' first import, not measured
        for nodes in sizes:
            ledger.reset()
            result = bench.run(Case("segflow", "linear", nodes, 1024), timeout_seconds=1800)
            rows.append((nodes, result, Counter(ledger.units)))
    print("pure chain (linear), 1 KB outputs: DynamoDB write units (WRU) per node, segflow")
    header = f"{'nodes':>7} {'segments':>8} {'status':>9} {'WRU':>8} {'per node':>9}  "
    print(header + "  ".join(f"{kind:>16}" for kind in KINDS))
    ok = True
    for nodes, result, units in rows:
        per_node = result.dynamodb_write_units / nodes
        ok = ok and result.ok and per_node <= TARGET_UNITS_PER_NODE
        line = f"{nodes:7,d} {result.segments:8,d} {result.status:>9} {result.dynamodb_write_units:8,.0f} "
        print(line + f"{per_node:9.3f}  " + "  ".join(f"{units[kind] / nodes:16.3f}" for kind in KINDS))
    print(f"target: at most {TARGET_UNITS_PER_NODE} WRU per node ({'met' if ok else 'NOT met'})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
