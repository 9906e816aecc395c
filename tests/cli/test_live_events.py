"""Live execution events over the WebSocket API of ``segflow local up``: replay, live, order, tenants."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from segflow.domain.ids import execution_id_of

from segflow_cli.client import SegflowClient
from segflow_cli.live import LiveEvents, local_url
from segflow_cli.locate import locate
from tests.cli.conftest import LocalEndpoint, run_segflow, start_local_endpoint
from tests.support.stores import stores_of
from tests.support.waiting import wait_for
from tests.support.workflows import chain_edges, transform, wait, workflow

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def live_endpoint() -> Iterator[LocalEndpoint]:
    with start_local_endpoint("livetest") as endpoint:
        yield endpoint


def client_for(endpoint: LocalEndpoint, tenant: str = "default") -> SegflowClient:
    deployment = locate(endpoint.url)
    return SegflowClient(deployment.session, deployment.resources, tenant)


def socket_url(endpoint: LocalEndpoint, tenant: str | None = "default") -> str:
    url = endpoint.outputs["LiveWebSocketUrl"]
    return local_url(url, tenant) if tenant else url


def connect(url: str) -> Any:
    from websockets.sync.client import connect as ws_connect

    return ws_connect(url, open_timeout=10)


def receive_json(socket: Any, timeout: float = 10) -> dict[str, Any]:
    return json.loads(socket.recv(timeout=timeout))


def slow_chain(workflow_id: str, length: int = 4) -> dict[str, Any]:
    ids = [f"n{i}" for i in range(length)]
    nodes = [transform(ids[0], 0), wait("pause", 1), *(transform(i, 1) for i in ids[1:])]
    return workflow(workflow_id, nodes, chain_edges([ids[0], "pause", *ids[1:]]))


def test_an_unauthenticated_connect_is_rejected(live_endpoint: LocalEndpoint) -> None:
    from websockets.exceptions import InvalidStatus

    with pytest.raises(InvalidStatus) as refused:
        connect(socket_url(live_endpoint, tenant=None))
    assert refused.value.response.status_code == 401


def test_malformed_frames_get_an_error_and_the_connection_stays_open(live_endpoint: LocalEndpoint) -> None:
    with connect(socket_url(live_endpoint)) as socket:
        socket.send("not json")
        assert receive_json(socket)["code"] == "MalformedFrame"
        socket.send(json.dumps({"action": "subscribe"}))
        reply = receive_json(socket)
        assert reply["code"] == "MalformedFrame" and "execution_id" in reply["message"]
        socket.send(json.dumps({"action": "ping"}))
        assert receive_json(socket)["type"] == "pong"


def test_frames_nested_too_deep_or_subscribing_past_the_limit_get_an_error_frame(
    live_endpoint: LocalEndpoint,
) -> None:
    from segflow.domain.limits import LIVE_SUBSCRIPTIONS_PER_CONNECTION_MAX

    client = client_for(live_endpoint)
    arns = [
        client.start(workflow(f"limit-{index}", [transform("a", 1)]), {})
        for index in range(LIVE_SUBSCRIPTIONS_PER_CONNECTION_MAX + 1)
    ]
    with connect(socket_url(live_endpoint)) as socket:
        socket.send('{"action": "subscribe", "execution_id": ' + "[" * 15_000 + "]" * 15_000 + "}")
        assert receive_json(socket)["code"] == "MalformedFrame"
        for arn in arns:
            client.wait(arn)
        for arn in arns[:-1]:
            socket.send(json.dumps({"action": "subscribe", "execution_id": arn, "since_seq": 3}))
            assert receive_json(socket)["type"] == "subscribed"
        socket.send(json.dumps({"action": "subscribe", "execution_id": arns[-1]}))
        reply = receive_json(socket)
        assert (reply["type"], reply["code"]) == ("error", "TooManySubscriptions")
        socket.send(json.dumps({"action": "subscribe", "execution_id": arns[0], "since_seq": 3}))
        assert receive_json(socket)["type"] == "subscribed"  # one it watches already: a new since_seq
        socket.send(json.dumps({"action": "ping"}))
        assert receive_json(socket)["type"] == "pong"


def test_another_tenants_execution_is_refused(live_endpoint: LocalEndpoint) -> None:
    acme = client_for(live_endpoint, "acme")
    arn = acme.start(workflow("private", [transform("a", 1)]), {})
    assert acme.wait(arn)["status"] == "SUCCEEDED"  # it exists, in acme's tenant
    with connect(socket_url(live_endpoint, tenant="globex")) as socket:
        socket.send(json.dumps({"action": "subscribe", "execution_id": arn}))
        reply = receive_json(socket)
    assert reply["type"] == "error" and reply["code"] == "NotFound"


def test_a_subscriber_gets_the_replay_then_live_events_each_once_in_order(
    live_endpoint: LocalEndpoint,
) -> None:
    client = client_for(live_endpoint)
    arn = client.start(slow_chain("live-order"), {})
    # some events are stored before the subscription: they come as the replay
    wait_for(lambda: client.events(arn), "the first events are stored", 30)
    events = list(LiveEvents(socket_url(live_endpoint), execution_id_of(arn)))
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["kind"] == "execution" and events[-1]["new_state"] == "succeeded"
    assert [e.seq for e in client.events(arn)] == [e["seq"] for e in events]


def test_a_subscriber_that_drops_and_resubscribes_with_since_seq_ends_with_every_seq(
    live_endpoint: LocalEndpoint,
) -> None:
    client = client_for(live_endpoint)
    arn = client.start(slow_chain("live-resume", 6), {})
    execution_id = execution_id_of(arn)
    first = LiveEvents(socket_url(live_endpoint), execution_id)
    seen = []
    for event in first:
        seen.append(event)
        if len(seen) == 2:
            break  # the connection closes midway
    rest = list(LiveEvents(socket_url(live_endpoint), execution_id, since_seq=seen[-1]["seq"]))
    seqs = [e["seq"] for e in seen + rest]
    assert seqs == list(range(1, len(seqs) + 1))
    assert rest[-1]["new_state"] == "succeeded"


def test_the_plain_websockets_example_client_follows_an_execution_to_its_end(
    live_endpoint: LocalEndpoint,
) -> None:
    """examples/live_events_client.py: only ``websockets`` and the documented protocol."""
    client = client_for(live_endpoint)
    arn = client.start(slow_chain("example-client"), {})
    example = Path(__file__).resolve().parents[2] / "examples" / "live_events_client.py"
    result = subprocess.run(
        [sys.executable, str(example), execution_id_of(arn), "--endpoint", live_endpoint.url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == "execution succeeded"
    printed = [int(line.split()[0]) for line in lines[:-1]]
    assert printed == [event.seq for event in client.events(arn)]
    assert lines[-2].endswith("execution: running -> succeeded")


def watch_until_waiting(
    endpoint: LocalEndpoint, workflow_id: str
) -> tuple[SegflowClient, str, list[dict[str, Any]], threading.Thread]:
    """An execution parked on a 60 s wait, and a watcher (on a thread) that has seen it reach the wait."""
    client = client_for(endpoint)
    arn = client.start(
        workflow(workflow_id, [transform("a", 1), wait("long", 60)], chain_edges(["a", "long"])), {}
    )
    received: list[dict[str, Any]] = []
    watcher = threading.Thread(
        target=lambda: received.extend(LiveEvents(socket_url(endpoint), execution_id_of(arn)))
    )
    watcher.start()
    deadline = time.monotonic() + 20
    while not any(e.get("node_id") == "long" for e in received) and time.monotonic() < deadline:
        time.sleep(0.1)
    return client, arn, received, watcher


def test_a_stopped_execution_reaches_watchers_as_aborted(live_endpoint: LocalEndpoint) -> None:
    client, arn, received, watcher = watch_until_waiting(live_endpoint, "live-stop")
    stores_of(client).sfn.stop_execution(executionArn=arn)
    watcher.join(timeout=30)
    assert not watcher.is_alive()
    assert (received[-1]["kind"], received[-1]["new_state"]) == ("execution", "aborted")


def test_segflow_watch_shows_the_table_and_exits_with_the_status(
    live_endpoint: LocalEndpoint, tmp_path
) -> None:
    path = tmp_path / "watched.json"
    path.write_text(json.dumps(slow_chain("watched")))
    result = run_segflow("run", str(path), "--watch", "--endpoint", live_endpoint.url, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "SUCCEEDED" in result.stdout
    arn = next(line.split()[-1] for line in result.stdout.splitlines() if line.startswith("execution "))
    again = run_segflow("watch", arn, "--endpoint", live_endpoint.url, timeout=60)
    assert again.returncode == 0, again.stderr
    assert "pause" in again.stdout and "SUCCEEDED" in again.stdout


def test_a_timed_out_execution_reaches_watchers_as_timed_out(live_endpoint: LocalEndpoint) -> None:
    """Step Functions' TIMED_OUT status change, delivered to the rule's target as EventBridge invokes it."""
    from segflow.declaration import RECORD_EXECUTION_STATUS

    from segflow_local.event_sources import status_change_event
    from segflow_local.lambda_invocation import local_function_name

    client, arn, received, watcher = watch_until_waiting(live_endpoint, "live-timeout")
    description = {**stores_of(client).sfn.describe_execution(executionArn=arn), "status": "TIMED_OUT"}
    invoked = live_endpoint.client("lambda").invoke(
        FunctionName=local_function_name("livetest", RECORD_EXECUTION_STATUS),
        Payload=json.dumps(status_change_event(description), default=str).encode(),
    )
    assert "FunctionError" not in invoked
    watcher.join(timeout=30)
    stores_of(client).sfn.stop_execution(executionArn=arn)
    assert not watcher.is_alive()
    assert (received[-1]["kind"], received[-1]["new_state"], received[-1]["error"]) == (
        "execution",
        "timed_out",
        "States.Timeout",
    )
    assert [e.new_state for e in client.events(arn) if e.ends_execution] == ["timed_out"]


def test_a_number_that_holds_no_event_is_passed_over_by_watchers(live_endpoint: LocalEndpoint) -> None:
    """A change refused after it took its number (another attempt of the segment had recorded the node
    first) leaves a tombstone: live messages name it under ``skipped`` and the watcher moves past it."""
    from segflow.adapters.event_log import EventLog
    from segflow.adapters.journal import ExecutionJournal
    from segflow.domain.records import ExecutionIdentity
    from segflow.events.models import EventDraft

    client, arn, received, watcher = watch_until_waiting(live_endpoint, "live-skip")
    execution_id = execution_id_of(arn)
    dynamodb = client.session.client("dynamodb")
    journal = ExecutionJournal(
        stores_of(client).records,
        EventLog(client.resources.events_table, client.resources.executions_table, dynamodb),
    )
    late = client.node_records(arn)["a"].model_copy(update={"status": "failed", "attempt": 2})
    draft = EventDraft(kind="node", node_id="a", previous_state="running", new_state="failed", timestamp=0.0)
    identity = ExecutionIdentity("default", execution_id, "live-skip", None)
    adopted = journal.put_nodes(identity, [(late, draft)])  # a's page is taken: refused, nothing written
    assert adopted["a"].status == "succeeded"
    # the execution's end comes after the closed number
    stores_of(client).sfn.stop_execution(executionArn=arn)
    watcher.join(timeout=30)

    assert not watcher.is_alive()
    logged = [event.seq for event in client.events(arn)]
    assert [event["seq"] for event in received] == logged
    assert len(logged) == logged[-1] - 1  # one number holds no event
    assert (received[-1]["kind"], received[-1]["new_state"]) == ("execution", "aborted")
