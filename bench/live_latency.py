"""``python -m bench.live_latency``: state change to client receipt over the live WebSocket, locally.

Starts ``segflow local up`` in its own process (so the subscribers here do not share its interpreter) and,
per subscriber count, one execution watched by that many plain ``websockets`` clients. The execution's first
node is an approval: every client connects and subscribes while it waits, and once all of them have their
``subscribed`` the bench approves it, so the events measured (everything after the approval: 20 x (0.2 s
wait + transform)) all come after every subscription. Prints p50 and p99 of (receipt time - the event's
timestamp) over every (client, event) pair of events stamped after that client's ``subscribed``, and checks
what each client received against the log: every event, once, in order (as sent: nothing is reordered or
dropped on the client side). The event's timestamp is taken when the handler records the change, so the
figure covers the log write, the stream poll, PushEvents, the @connections post and the socket.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.live_subscribers import Subscriber, delivery_check, follow, latency_summary

SUBSCRIBER_COUNTS = (1, 10, 100)
STARTUP_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 60
GATE = "gate"
DECIDE_RETRY_SECONDS = 0.1  # the record and the approval are asked for again this often until there
REPO = Path(__file__).resolve().parents[1]


def latency_workflow(workflow_id: str, steps: int) -> dict[str, Any]:
    """An approval the watchers subscribe at, then a chain of short waits and transforms: state changes
    spread over time, as in a real run."""
    nodes: list[dict[str, Any]] = [
        {"node_id": GATE, "type": "approval", "config": {"message": "every watcher subscribed?"}}
    ]
    for step in range(steps):
        nodes.append({"node_id": f"wait{step}", "type": "wait", "config": {"seconds": 0.2}})
        nodes.append({"node_id": f"step{step}", "type": "transform", "config": {"output": {"step": step}}})
    ids = [str(node["node_id"]) for node in nodes]
    edges = [{"source": a, "target": b} for a, b in itertools.pairwise(ids)]
    return {"workflow_id": workflow_id, "nodes": nodes, "edges": edges}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


@contextmanager
def local_endpoint(
    *options: str, stage: str = "latency"
) -> Iterator[tuple[str, dict[str, str], subprocess.Popen[bytes]]]:
    """``segflow local up`` (with ``options``) on a free port in its own process: (its URL, its outputs, the
    process)."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    segflow = Path(sys.executable).with_name("segflow")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [str(segflow), "local", "up", "--port", str(port), "--stage", stage, *options],
            stdout=log,
            stderr=log,
            env=env,
            cwd=REPO,
        )
        try:
            deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
            while True:
                try:
                    if _get_json(f"{url}/_segflow/health").get("status") == "ok":
                        break
                except OSError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"segflow local up did not start:\n{log.read().decode()[-2000:]}")
                time.sleep(0.1)
            yield url, _get_json(f"{url}/_segflow/outputs"), process
        finally:
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:  # stopping drains every connection's $disconnect; enough
                process.kill()
                process.wait()


def approver(api: Any, execution_id: str) -> Any:
    """What approves the gate: retried while the approval is not asked for yet (its node still starting)."""
    from segflow_cli.api_client import ApiError

    def approve() -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while True:
            try:
                api.decide(execution_id, GATE, "approve")
                return
            except ApiError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(DECIDE_RETRY_SECONDS)

    return approve


def recorded(client: Any, arn: str) -> None:
    """Wait until the execution has its record (InitializeStateBag writes it): subscribing before that is
    answered NotFound, and a hundred clients asking again every 0.2 s would only slow what they wait for."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while client.execution_record(arn) is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{arn} has no record after {STARTUP_TIMEOUT_SECONDS} s")
        time.sleep(DECIDE_RETRY_SECONDS)


def measure(counts: tuple[int, ...], steps: int) -> list[dict[str, Any]]:
    from segflow.domain.ids import execution_id_of

    from segflow_cli.api_client import api_for
    from segflow_cli.client import SegflowClient
    from segflow_cli.live import local_url
    from segflow_cli.locate import locate

    results = []
    with local_endpoint() as (url, outputs, _):
        deployment = locate(url)
        client = SegflowClient(deployment.session, deployment.resources)
        api = api_for(deployment, client.tenant_id)
        socket_url = local_url(outputs["LiveWebSocketUrl"], client.tenant_id)
        for count in counts:
            arn = client.start(latency_workflow(f"latency-{count}", steps), {})
            execution_id = execution_id_of(arn)
            recorded(client, arn)
            subscribers = [Subscriber(index) for index in range(count)]
            follow(socket_url, execution_id, subscribers, when_subscribed=approver(api, execution_id))
            logged = [event.seq for event in client.events(arn)]
            summary = latency_summary(subscribers)
            summary.update(delivery_check(subscribers, logged))
            summary["events"] = len(logged)
            results.append(summary)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="wait+transform pairs per workflow")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--subscribers", type=int, nargs="+", default=list(SUBSCRIBER_COUNTS), help="watcher counts to run"
    )
    args = parser.parse_args(argv)
    results = measure(tuple(args.subscribers), args.steps)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print("live events, state change -> client receipt (segflow local up, this machine)")
    print(
        f"{'subscribers':>11} {'events':>7} {'deliveries':>10} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'once+in order':>13} {'dup':>4} {'late':>4} {'lost':>4}"
    )
    for row in results:
        print(
            f"{row['subscribers']:>11} {row['events']:>7} {row['deliveries']:>10} "
            f"{row['p50_ms']:>8.1f} {row['p99_ms']:>8.1f} {row['exact']:>9}/{row['subscribers']:<3} "
            f"{row['duplicates']:>4} {row['out_of_order']:>4} {row['missing']:>4}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
