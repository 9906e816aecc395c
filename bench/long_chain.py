"""``python -m bench.long_chain``: a 100,000-node chain end to end on ``segflow local up``, one process
per invocation (``--isolation process``).

Every Lambda invocation runs in its own worker process under its function's declared timeout (a worker past
it is killed and the invoke fails with ``Sandbox.Timedout``, as on Lambda), so an execution that succeeds here
ran each function within its timeout. The script prints, from the execution's history, the longest
invocation of each function beside its timeout, the largest state payload, the transitions and the time.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from bench import history, workflows
from bench.live_latency import local_endpoint

NODES = 100_000
RUN_TIMEOUT_SECONDS = 3_600


@dataclass
class LongChainResult:
    nodes: int
    status: str
    seconds: float
    transitions: int
    history_events: int
    largest_payload: int
    largest_payload_where: str
    # function -> (longest invocation in seconds, declared timeout in seconds, invocations)
    functions: dict[str, tuple[float, int, int]]

    @property
    def within_timeouts(self) -> bool:
        return all(longest < timeout for longest, timeout, _ in self.functions.values())


def _seconds(start: Any, end: Any) -> float:
    if isinstance(start, datetime) and isinstance(end, datetime):
        return (end - start).total_seconds()
    return float(end) - float(start)


def invocation_times(events: list[dict[str, Any]]) -> dict[str, list[float]]:
    """Seconds from each Lambda task's start to its end, by function name (the resource's last part)."""
    by_id = {event["id"]: event for event in events}
    started_at: dict[int, Any] = {}
    times: dict[str, list[float]] = defaultdict(list)
    for event in events:
        kind = event["type"]
        if kind == "LambdaFunctionStarted":
            started_at[event["previousEventId"]] = event["timestamp"]
        elif kind in ("LambdaFunctionSucceeded", "LambdaFunctionFailed", "LambdaFunctionTimedOut"):
            started = by_id.get(event["previousEventId"])
            if started is None or started["type"] != "LambdaFunctionStarted":
                continue
            scheduled = by_id[started["previousEventId"]]
            resource = scheduled["lambdaFunctionScheduledEventDetails"]["resource"]
            times[resource.rsplit("-", 1)[-1]].append(_seconds(started["timestamp"], event["timestamp"]))
    return times


def run(nodes: int = NODES) -> LongChainResult:
    from segflow import declaration

    from segflow_cli.client import SegflowClient
    from segflow_cli.locate import locate

    timeouts = {spec.logical_id: spec.timeout_seconds for spec in declaration.FUNCTIONS}
    with local_endpoint("--isolation", "process", stage="longchain") as (url, _, _):
        deployment = locate(url)
        client = SegflowClient(deployment.session, deployment.resources)
        workflow = workflows.build("linear", nodes)
        began = time.monotonic()
        arn = client.start(workflow, workflows.blob_input(1024))
        description = client.wait(arn, timeout_seconds=RUN_TIMEOUT_SECONDS, poll_seconds=1.0)
        seconds = time.monotonic() - began
        sfn = deployment.session.client("stepfunctions")
        events = history.fetch(sfn, description.get("execution_arn") or arn)
    metrics = history.measure(events)
    functions = {
        name: (max(spans), timeouts.get(name, 0), len(spans))
        for name, spans in sorted(invocation_times(events).items())
    }
    return LongChainResult(
        nodes=nodes,
        status=str(description["status"]),
        seconds=seconds,
        transitions=metrics.transitions,
        history_events=metrics.events,
        largest_payload=metrics.largest_payload,
        largest_payload_where=metrics.largest_payload_where,
        functions=functions,
    )


def describe(result: LongChainResult) -> str:
    lines = [
        f"{result.nodes:,}-node chain on segflow local up --isolation process: {result.status} in "
        f"{result.seconds:,.0f} s",
        f"largest state payload {result.largest_payload:,} B ({result.largest_payload_where}); "
        f"{result.transitions:,} transitions, {result.history_events:,} history events",
        f"{'function':<22} {'invocations':>11} {'longest':>9} {'timeout':>8}",
    ]
    for name, (longest, timeout, count) in result.functions.items():
        lines.append(f"{name:<22} {count:>11,} {longest:>8.1f}s {timeout:>7}s")
    verdict = "yes" if result.status == "SUCCEEDED" and result.within_timeouts else "no"
    lines.append(f"every function within its timeout, every payload under 4 KB: {verdict}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=NODES)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    result = run(args.nodes)
    print(json.dumps(asdict(result), indent=2) if args.json else describe(result))
    return 0 if result.status == "SUCCEEDED" and result.within_timeouts else 1


if __name__ == "__main__":
    sys.exit(main())
