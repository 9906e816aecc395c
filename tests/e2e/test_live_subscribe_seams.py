"""The seam between a subscriber's own catch-up and the feed's deliveries: a subscribe takes no lease and
waits for no sender, and still every watcher gets every event once, in order, however the two interleave.

The execution runs on the embedded AWS and parks at an approval. Subscribes run as the WebSocketApi function
(the live-events service), deliveries as PushEvents. The @connections API is the in-memory :class:`Sockets`
(an implementation of the engine's port); the interleavings are forced through it and through a log reader
that holds a sender's read until told to go on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from segflow.adapters import factory
from segflow.domain.ids import execution_id_of
from segflow.engine.live_delivery import deliver
from segflow.services.live_events import LiveEventsService

from segflow_cli.client import SegflowClient
from segflow_local import sandbox
from segflow_local.embedded import EmbeddedAws
from tests.e2e.test_live_delivery_writes import Sockets, approval_workflow, parked_at_approval
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e


class HookedSockets(Sockets):
    """Sockets that run ``hooks[connection]`` once, just before that connection's first ``events`` message
    is taken."""

    def __init__(self) -> None:
        super().__init__()
        self.hooks: dict[str, Callable[[], None]] = {}

    def post(self, connection_id: str, message: str | bytes) -> None:
        if b'"events"' in (message.encode() if isinstance(message, str) else message):
            hook = self.hooks.pop(connection_id, None)
            if hook is not None:
                hook()
        super().post(connection_id, message)


class HeldLog:
    """The log reader (the engine's EventLogPages port) whose first read waits until ``go`` is set."""

    def __init__(self, log: Any) -> None:
        self._log = log
        self.reading = threading.Event()
        self.go = threading.Event()

    def read(self, tenant_id: str, execution_id: str, after_seq: int = 0, limit: int = 500) -> Any:
        if not self.reading.is_set():
            self.reading.set()
            assert self.go.wait(60), "never let go"
        return self._log.read(tenant_id, execution_id, after_seq, limit)


def service_for(embedded: EmbeddedAws, sockets: Sockets) -> LiveEventsService:
    with embedded.running_as("WebSocketApi"):
        return LiveEventsService(
            factory.connections(), factory.event_log_reader(), factory.execution_records(), sockets
        )


def subscribe(
    embedded: EmbeddedAws, service: LiveEventsService, tenant: str, connection: str, arn: str
) -> None:
    with embedded.running_as("WebSocketApi"):
        service.connect(connection, tenant, "watcher", time.time())
        assert service.subscribe(connection, execution_id_of(arn), 0, f"subscribe-{connection}") is not None


def push(embedded: EmbeddedAws, sockets: Sockets, tenant: str, arn: str, log: Any = None) -> dict[str, int]:
    with embedded.running_as("PushEvents"):
        reader = log or factory.event_log_reader()
        return deliver(factory.connections(), reader, sockets, tenant, execution_id_of(arn), "push")


def test_a_subscriber_whose_catch_up_the_feed_overtook_sends_itself_what_lies_between(
    embedded: EmbeddedAws, client: SegflowClient
) -> None:
    arn = client.start(approval_workflow("seam-overtaken"), {})
    tenant = client.tenant_id
    approve = parked_at_approval(embedded, tenant, execution_id_of(arn))
    sockets = HookedSockets()
    service = service_for(embedded, sockets)
    subscribe(embedded, service, tenant, "first", arn)

    def the_execution_goes_on_and_is_pushed() -> None:
        # "late" has read the log (to the approval) and is sending it; meanwhile the execution ends and
        # PushEvents pushes everything to "first" (the only watcher in the feed), lease given back.
        with sandbox.running_as(None):
            approve()
            assert client.wait(arn)["status"] == "SUCCEEDED"
        push(embedded, sockets, tenant, arn)

    sockets.hooks["late"] = the_execution_goes_on_and_is_pushed
    subscribe(embedded, service, tenant, "late", arn)

    logged = [event.seq for event in client.events(arn)]
    assert logged == list(range(1, logged[-1] + 1))
    assert sockets.seqs("first") == logged
    assert sockets.seqs("late") == logged  # the gap after its catch-up, sent by its own subscribe, once


def test_a_subscribe_while_a_sender_holds_the_lease_does_not_wait_and_that_sender_serves_it(
    embedded: EmbeddedAws, client: SegflowClient
) -> None:
    arn = client.start(approval_workflow("seam-held"), {})
    tenant = client.tenant_id
    approve = parked_at_approval(embedded, tenant, execution_id_of(arn))
    sockets = Sockets()
    service = service_for(embedded, sockets)
    subscribe(embedded, service, tenant, "first", arn)
    with embedded.running_as("PushEvents"):
        held = HeldLog(factory.event_log_reader())
    sender = threading.Thread(target=push, args=(embedded, sockets, tenant, arn, held))
    sender.start()
    try:
        wait_for(held.reading.is_set, "the sender holds the lease and reads the log", timeout=30)
        subscribe(embedded, service, tenant, "late", arn)  # returns while the lease is held
        assert sender.is_alive(), "the subscribe waited for the sender"
        approve()
        assert client.wait(arn)["status"] == "SUCCEEDED"
    finally:
        held.go.set()
        sender.join(60)

    logged = [event.seq for event in client.events(arn)]
    assert sockets.seqs("first") == logged
    # "late" joined with the log up to the approval; the sender's next round sent it the rest, once
    assert sockets.seqs("late") == logged


def test_subscribing_again_on_the_same_connection_restarts_from_its_since_seq_and_stays_one_watcher(
    embedded: EmbeddedAws, client: SegflowClient
) -> None:
    arn = client.start(approval_workflow("seam-again"), {})
    tenant, execution_id = client.tenant_id, execution_id_of(arn)
    approve = parked_at_approval(embedded, tenant, execution_id)
    sockets = Sockets()
    service = service_for(embedded, sockets)
    subscribe(embedded, service, tenant, "again", arn)
    parked = sockets.seqs("again")
    with embedded.running_as("WebSocketApi"):
        assert service.subscribe("again", execution_id, 2, "subscribe-again-2") is not None
    approve()
    assert client.wait(arn)["status"] == "SUCCEEDED"
    push(embedded, sockets, tenant, arn)

    logged = [event.seq for event in client.events(arn)]
    assert sockets.seqs("again") == parked + parked[2:] + logged[len(parked) :]
    kinds = [message["type"] for message in sockets.received["again"]]
    assert kinds[0] == "subscribed" and kinds.count("subscribed") == 2
    with embedded.running_as("PushEvents"):
        feed = factory.connections().feed(tenant, execution_id)
    assert feed is not None and [w.connection_id for w in feed.watchers] == ["again"]
