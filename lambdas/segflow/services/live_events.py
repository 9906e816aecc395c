"""The live-events service: WebSocket connections and their subscriptions to a tenant's executions (the log
replayed from a sequence number, then live events), for the WebSocket API handler.

A connection belongs to the tenant its ``$connect`` was authorized for; it can subscribe only to that
tenant's executions (another tenant's is as unknown as a missing one, and so is one that has not initialized
yet: clients retry for a moment).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from segflow.domain.errors import SegflowError
from segflow.domain.ids import execution_id_of
from segflow.domain.limits import LIVE_SUBSCRIPTIONS_PER_CONNECTION_MAX
from segflow.events.models import subscribed_message

if TYPE_CHECKING:
    from segflow.adapters.connections import Connection, ConnectionStore
    from segflow.adapters.event_log import EventLogReader
    from segflow.adapters.execution_records import ExecutionRecordStore
    from segflow.engine.ports import LiveConnections


class NotConnected(SegflowError):
    """The connection is not registered (it was dropped, or its ``$connect`` was never stored)."""

    kind = "not_found"

    def __init__(self, connection_id: str) -> None:
        super().__init__("this connection is not registered; reconnect")
        self.connection_id = connection_id


class NoSuchExecution(SegflowError):
    """The connection's tenant has no such execution (yet)."""

    code = "NotFound"
    kind = "not_found"

    def __init__(self, execution_id: str) -> None:
        super().__init__(f"no execution {execution_id!r}")
        self.execution_id = execution_id


class TooManySubscriptions(SegflowError):
    """The connection already watches as many executions as one connection may."""

    kind = "conflict"

    def __init__(self) -> None:
        super().__init__(
            f"a connection watches at most {LIVE_SUBSCRIPTIONS_PER_CONNECTION_MAX} executions; "
            "unsubscribe from one, or open another connection"
        )


@dataclass(frozen=True)
class Subscribed:
    execution_id: str
    since_seq: int
    latest_seq: int
    replayed: int  # events this request sent the connection (its catch-up, unless another sender took it)


class LiveEventsService:
    def __init__(
        self,
        connections: ConnectionStore,
        log: EventLogReader,
        records: ExecutionRecordStore,
        live: LiveConnections,
    ) -> None:
        self.connections = connections
        self.log = log
        self.records = records
        self.live = live

    @classmethod
    def from_environment(cls) -> LiveEventsService:
        from segflow.adapters import factory

        return cls(
            factory.connections(),
            factory.event_log_reader(),
            factory.execution_records(),
            factory.live_connections(),
        )

    def connect(self, connection_id: str, tenant_id: str, principal: str, connected_at: float) -> None:
        from segflow.adapters.connections import Connection

        self.connections.connect(Connection(connection_id, tenant_id, principal, connected_at))

    def disconnect(self, connection_id: str) -> None:
        self.connections.disconnect(connection_id)

    def connection(self, connection_id: str) -> Connection:
        """The registered connection. Raises NotConnected."""
        connection = self.connections.get(connection_id)
        if connection is None:
            raise NotConnected(connection_id)
        return connection

    def unsubscribe(self, connection_id: str, execution: str) -> str:
        """Stop sending the execution's events to the connection; returns the execution id."""
        connection = self.connection(connection_id)
        execution_id = execution_id_of(execution)
        self.connections.unsubscribe(connection_id, connection.tenant_id, execution_id)
        return execution_id

    def subscribe(self, connection_id: str, execution: str, since_seq: int, holder: str) -> Subscribed | None:
        """Subscribe the connection to the execution's events after ``since_seq``: answer ``subscribed``,
        send the stored events after ``since_seq`` (the catch-up), then join the execution's feed, from which
        the stream pusher's deliveries send it the rest. No lease is taken and no other subscriber waited for,
        unless the feed was pushed past the catch-up meanwhile with no sender at work: then this request
        delivers what lies between. None if the connection is gone (it is forgotten). ``holder`` names this
        request. Raises NotConnected, NoSuchExecution, TooManySubscriptions."""
        from segflow.adapters.connections import subscription_key
        from segflow.domain.errors import ConnectionGone
        from segflow.engine.live_delivery import catch_up, deliver

        connection = self.connection(connection_id)
        tenant_id, execution_id = connection.tenant_id, execution_id_of(execution)
        if self.records.get_execution(tenant_id, execution_id) is None:
            raise NoSuchExecution(execution_id)
        if subscription_key(tenant_id, execution_id) in connection.subscriptions:
            # Subscribing again: off the feed first, so no sender posts to it while it catches up again.
            self.connections.leave(connection_id, tenant_id, execution_id)
        else:
            added = self.connections.add_subscription(connection_id, tenant_id, execution_id)
            if added == "full":
                raise TooManySubscriptions()
            if added == "gone":
                raise NotConnected(connection_id)
        latest = self.log.latest_seq(tenant_id, execution_id)
        try:  # before any event: no event reaches the connection before its ``subscribed``
            self.live.post(connection_id, json.dumps(subscribed_message(execution_id, since_seq, latest)))
        except ConnectionGone:
            self.connections.disconnect(connection_id)
            return None
        caught_up = catch_up(self.log, self.live, tenant_id, execution_id, connection_id, since_seq)
        if caught_up is None:
            self.connections.disconnect(connection_id)
            return None
        reached, replayed = caught_up
        joined = self.connections.join(tenant_id, execution_id, connection_id, reached, holder)
        if joined.pushed_seq > reached and joined.lease_free:
            # Others were sent events past this catch-up, and no sender will come back for them.
            sent = deliver(self.connections, self.log, self.live, tenant_id, execution_id, holder)
            replayed += sent.get(connection_id, 0)
        return Subscribed(execution_id, since_seq, latest, replayed)
