"""Live delivery's storage cost does not grow with watchers: pushing an execution's new events to 100
watchers makes the same DynamoDB writes as pushing them to one, and every watcher gets every event once, in
order.

The execution runs on the embedded AWS and parks at an approval; the watchers subscribe through the
live-events service (running as the WebSocketApi function), the approval is decided, and once the execution
has ended its new events are delivered the way PushEvents delivers a stream batch (running as PushEvents).
The @connections API is the in-memory :class:`Sockets` (an implementation of the engine's port): what each
connection was sent is what it would have received.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from segflow.adapters import factory
from segflow.adapters.connections import ConnectionStore
from segflow.adapters.event_log import EventLogReader
from segflow.declaration import CONNECTIONS_TABLE, EVENTS_TABLE
from segflow.domain.errors import ConnectionGone
from segflow.domain.ids import execution_id_of
from segflow.engine.approval_decisions import decide_approval
from segflow.engine.live_delivery import deliver
from segflow.services.live_events import LiveEventsService

from segflow_cli.client import SegflowClient
from segflow_local.embedded import EmbeddedAws
from tests.support.waiting import wait_for
from tests.support.workflows import approval, chain_edges, transform, workflow

pytestmark = pytest.mark.e2e

WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
AFTER_APPROVAL = 30  # pure nodes after the approval: their events come after the subscriptions


class Sockets:
    """Connected clients, in memory (the engine's LiveConnections port): every message posted to each, in
    order; a closed one is gone."""

    def __init__(self) -> None:
        self.received: dict[str, list[dict[str, Any]]] = {}
        self.closed: set[str] = set()

    def post(self, connection_id: str, message: str | bytes) -> None:
        if connection_id in self.closed:
            raise ConnectionGone(connection_id)
        self.received.setdefault(connection_id, []).append(json.loads(message))

    def seqs(self, connection_id: str) -> list[int]:
        numbers: list[int] = []
        for message in self.received.get(connection_id, []):
            if message["type"] == "events":
                numbers += [event["seq"] for event in message["events"]] + message.get("skipped", [])
        return numbers


class CountingDynamoDB:
    """A DynamoDB client whose requests are counted by operation (botocore's before-call event)."""

    def __init__(self, aws: EmbeddedAws) -> None:
        self.client = aws.client("dynamodb")
        self.calls: Counter[str] = Counter()
        self.client.meta.events.register("before-call.dynamodb", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        self.calls[model.name] += 1

    def writes(self) -> int:
        return sum(count for name, count in self.calls.items() if name in WRITES)


def approval_workflow(workflow_id: str) -> dict[str, Any]:
    after = [f"n{i}" for i in range(AFTER_APPROVAL)]
    nodes = [transform("first", 1), approval("gate", "go on?"), *(transform(i, 1) for i in after)]
    return workflow(workflow_id, nodes, chain_edges(["first", "gate", *after]))


def parked_at_approval(embedded: EmbeddedAws, tenant: str, execution_id: str) -> Callable[[], None]:
    """Wait until the execution waits at its approval; returns what approves it."""
    with embedded.running_as("ManagementApi"):
        approvals, task_tokens = factory.approvals(), factory.task_tokens()

    def waiting() -> bool:
        record = approvals.get(tenant, execution_id, "gate")
        return record is not None and bool(record.task_token)

    wait_for(waiting, "the execution waits at its approval", timeout=60)

    def approve() -> None:
        decide_approval(
            approvals, task_tokens, tenant, execution_id, "gate", "approve", "me", None, time.time()
        )

    return approve


def watch_and_push(embedded: EmbeddedAws, client: SegflowClient, watchers: int) -> dict[str, Any]:
    """Run one execution with ``watchers`` subscribed from its approval on; the writes and reads of the
    delivery of what came after, and what each watcher received."""
    arn = client.start(approval_workflow(f"writes-{watchers}"), {})
    execution_id, tenant = execution_id_of(arn), client.tenant_id
    approve = parked_at_approval(embedded, tenant, execution_id)
    sockets = Sockets()
    connections = [f"conn-{watchers}-{index}" for index in range(watchers)]
    with embedded.running_as("WebSocketApi"):
        service = LiveEventsService(
            factory.connections(), factory.event_log_reader(), factory.execution_records(), sockets
        )
        for connection_id in connections:
            service.connect(connection_id, tenant, "watcher", time.time())
            assert service.subscribe(connection_id, execution_id, 0, f"subscribe-{connection_id}") is not None
    before = {connection_id: sockets.seqs(connection_id) for connection_id in connections}

    approve()
    assert client.wait(arn)["status"] == "SUCCEEDED"

    with embedded.running_as("PushEvents"):
        dynamodb = CountingDynamoDB(embedded)
        feeds = ConnectionStore(os.environ[CONNECTIONS_TABLE.env_var], dynamodb.client)
        log = EventLogReader(os.environ[EVENTS_TABLE.env_var], dynamodb.client)
        sent = deliver(feeds, log, sockets, tenant, execution_id, "push-batch")
    logged = [event.seq for event in client.events(arn)]
    return {
        "writes": dynamodb.writes(),
        "requests": dict(dynamodb.calls),
        "before": before,
        "seqs": {connection_id: sockets.seqs(connection_id) for connection_id in connections},
        "sent": sent,
        "logged": logged,
    }


def test_pushing_to_a_hundred_watchers_writes_what_pushing_to_one_does(
    embedded: EmbeddedAws, client: SegflowClient
) -> None:
    one = watch_and_push(embedded, client, 1)
    hundred = watch_and_push(embedded, client, 100)

    for run in (one, hundred):
        everything = list(range(1, run["logged"][-1] + 1))
        assert run["logged"] == everything  # no number without its event here
        for connection_id, seqs in run["seqs"].items():
            assert seqs == everything, connection_id  # every event, once, in order
            # the push brought what came after the subscription: the approval's decision and the rest
            assert len(seqs) - len(run["before"][connection_id]) >= AFTER_APPROVAL + 2
        assert len(run["sent"]) == len(run["seqs"])
    assert one["logged"] == hundred["logged"]
    assert hundred["writes"] == one["writes"], (one["requests"], hundred["requests"])
    assert one["writes"] <= 2  # the feed's lease, taken and given back
    # and the reads: one of the feed, the lease's answer, the log once for everyone
    assert hundred["requests"].get("Query", 0) == one["requests"].get("Query", 0)
    print(
        f"\nrequests to push {len(one['logged'])} events: "
        f"1 watcher {one['requests']}, 100 {hundred['requests']}"
    )


def test_a_watcher_that_is_gone_is_forgotten_and_the_others_still_get_everything(
    embedded: EmbeddedAws, client: SegflowClient
) -> None:
    arn = client.start(approval_workflow("writes-gone"), {})
    execution_id, tenant = execution_id_of(arn), client.tenant_id
    approve = parked_at_approval(embedded, tenant, execution_id)
    sockets = Sockets()
    with embedded.running_as("WebSocketApi"):
        store = factory.connections()
        service = LiveEventsService(store, factory.event_log_reader(), factory.execution_records(), sockets)
        for connection_id in ("stays", "leaves"):
            service.connect(connection_id, tenant, "watcher", time.time())
            service.subscribe(connection_id, execution_id, 0, f"subscribe-{connection_id}")
    sockets.closed.add("leaves")
    approve()
    assert client.wait(arn)["status"] == "SUCCEEDED"
    with embedded.running_as("PushEvents"):
        deliver(factory.connections(), factory.event_log_reader(), sockets, tenant, execution_id, "push")
        feed = factory.connections().feed(tenant, execution_id)
        forgotten = factory.connections().get("leaves") is None
    assert forgotten  # what its $disconnect would do was done
    assert feed is not None and [w.connection_id for w in feed.watchers] == ["stays"]
    assert sockets.seqs("stays") == [event.seq for event in client.events(arn)]
