"""Live WebSocket connections, their subscriptions, each execution's feed, and the @connections API.

Connections table items:

- ``CONN#<connection_id>`` / ``META``: tenant, principal, connected at, and ``subs``: the subscription keys
  (:func:`subscription_key`) of the executions it watches (what ``$disconnect`` cleans up, and what the
  per-connection limit counts); expires with API Gateway's 2 hours;
- ``FEED#<tenant>#<execution_id>`` / ``FEED``: the execution's feed, one item for all its watchers:
  ``watching`` (the set of watching connections), ``F#<connection_id>`` (``{from, token}``) for each watcher
  that is still *fresh* (its subscribe sent it the log up to ``from`` itself; no sender has served it yet),
  how far the feed was pushed (``pushed_seq``), and the delivery lease (``lease_until``, ``lease_holder``,
  ``dirty``).

Delivering a batch of events costs the same writes however many connections watch: taking the feed's lease
and giving it back with the new ``pushed_seq`` (the same write forgets the ``F#`` marks of the fresh watchers
it served). One sender at a time per feed (the lease) keeps every connection's events in order and sent
once; a sender that finds the lease taken, or a watcher joining, marks the feed ``dirty``, and the holder
reads the feed again before letting go. A subscribe never waits for the lease: it writes its ``subs`` entry
(a new subscription only) and joins the feed, one write each.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from botocore.exceptions import ClientError

from segflow.adapters.dynamo_items import decode_item, encode_item
from segflow.domain.errors import ConnectionGone
from segflow.domain.limits import (
    EVENT_DELIVERY_LEASE_SECONDS,
    LIVE_SUBSCRIPTIONS_PER_CONNECTION_MAX,
    WEBSOCKET_CONNECTION_MAX_SECONDS,
)
from segflow.domain.watchers import Feed, Joined, Watcher

FEED_SK = "FEED"
_FRESH_PREFIX = "F#"
# How many fresh marks one write forgets: an update expression holds at most 4 KB.
_FORGET_PER_WRITE = 300


@dataclass(frozen=True)
class Connection:
    connection_id: str
    tenant_id: str
    principal: str
    connected_at: float
    subscriptions: frozenset[str] = field(default=frozenset())


def _conn_pk(connection_id: str) -> str:
    return f"CONN#{connection_id}"


def subscription_key(tenant_id: str, execution_id: str) -> str:
    return f"SUB#{tenant_id}#{execution_id}"


def feed_pk(tenant_id: str, execution_id: str) -> str:
    return f"FEED#{tenant_id}#{execution_id}"


def _fresh_attribute(connection_id: str) -> str:
    return f"{_FRESH_PREFIX}{connection_id}"


def _conditional(error: ClientError) -> bool:
    return bool(error.response["Error"]["Code"] == "ConditionalCheckFailedException")


def _feed_of(item: dict[str, Any]) -> Feed:
    data = decode_item(item)
    fresh: dict[str, Watcher] = {}
    watching = set(data.get("watching") or ())
    for name, value in data.items():
        if name.startswith(_FRESH_PREFIX) and isinstance(value, dict):
            connection_id = name[len(_FRESH_PREFIX) :]
            fresh[connection_id] = Watcher(connection_id, int(value["from"]), str(value.get("token", "")))
    watchers = tuple(fresh.get(c, Watcher(c)) for c in sorted(watching))
    lease_free = float(data.get("lease_until", 0)) < time.time()
    return Feed(int(data.get("pushed_seq", 0)), watchers, lease_free)


class ConnectionStore:
    def __init__(self, table_name: str, dynamodb_client: Any) -> None:
        self.table_name = table_name
        self._client = dynamodb_client

    # --- connections ---------------------------------------------------------------------------------------

    def connect(self, connection: Connection) -> None:
        item = {
            "pk": _conn_pk(connection.connection_id),
            "sk": "META",
            "tenant_id": connection.tenant_id,
            "principal": connection.principal,
            "connected_at": connection.connected_at,
            "expires_at": int(connection.connected_at) + WEBSOCKET_CONNECTION_MAX_SECONDS,
        }
        self._client.put_item(TableName=self.table_name, Item=encode_item(item))

    def get(self, connection_id: str) -> Connection | None:
        response = self._client.get_item(
            TableName=self.table_name,
            Key=encode_item({"pk": _conn_pk(connection_id), "sk": "META"}),
            ConsistentRead=True,
        )
        item = response.get("Item")
        if not item:
            return None
        data = decode_item(item)
        return Connection(
            connection_id,
            data["tenant_id"],
            data.get("principal", ""),
            data["connected_at"],
            frozenset(data.get("subs") or ()),
        )

    def disconnect(self, connection_id: str) -> None:
        """Forget the connection: it leaves every feed it watched, and its items are deleted."""
        items = []
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": encode_item({":pk": _conn_pk(connection_id)}),
            "ProjectionExpression": "pk, sk, subs",
        }
        while True:
            page = self._client.query(**request)
            items += page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        watched: set[str] = set()
        for item in items:
            watched.update(item.get("subs", {}).get("SS", []))
        for key in sorted(watched):
            self._leave(connection_id, "FEED#" + key[len("SUB#") :])
        keys = [{"pk": item["pk"], "sk": item["sk"]} for item in items]
        for start in range(0, len(keys), 25):
            pending = {self.table_name: [{"DeleteRequest": {"Key": key}} for key in keys[start : start + 25]]}
            while pending:
                pending = self._client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}

    # --- subscriptions -------------------------------------------------------------------------------------

    def watched(self, connection_id: str) -> set[str]:
        """The subscription keys (:func:`subscription_key`) of the executions the connection watches."""
        connection = self.get(connection_id)
        return set(connection.subscriptions) if connection is not None else set()

    def add_subscription(
        self, connection_id: str, tenant_id: str, execution_id: str
    ) -> Literal["added", "full", "gone"]:
        """Note on the connection that it watches the execution, unless it already watches as many as one
        may ("full") or is no longer registered ("gone")."""
        key = subscription_key(tenant_id, execution_id)
        try:
            self._client.update_item(
                TableName=self.table_name,
                Key=encode_item({"pk": _conn_pk(connection_id), "sk": "META"}),
                UpdateExpression="ADD subs :key",
                ConditionExpression=(
                    "attribute_exists(pk) AND (attribute_not_exists(subs) OR size(subs) < :max "
                    "OR contains(subs, :one))"
                ),
                ExpressionAttributeValues={
                    ":key": {"SS": [key]},
                    ":one": {"S": key},
                    ":max": {"N": str(LIVE_SUBSCRIPTIONS_PER_CONNECTION_MAX)},
                },
            )
        except ClientError as error:
            if not _conditional(error):
                raise
            return "gone" if self.get(connection_id) is None else "full"
        return "added"

    def join(
        self, tenant_id: str, execution_id: str, connection_id: str, from_seq: int, token: str
    ) -> Joined:
        """Add the connection to the execution's feed as a fresh watcher that has been sent the log up to
        ``from_seq``; marks the feed for a holder of the lease to read again. One write."""
        response = self._client.update_item(
            TableName=self.table_name,
            Key=self._feed_key(tenant_id, execution_id),
            UpdateExpression=(
                "ADD watching :connection SET #fresh = :fresh, dirty = :true, expires_at = :expires"
            ),
            ExpressionAttributeNames={"#fresh": _fresh_attribute(connection_id)},
            ExpressionAttributeValues={
                **encode_item(
                    {
                        ":fresh": {"from": from_seq, "token": token},
                        ":true": True,
                        # The feed outlives each of its watchers' connections at most by the 2-hour limit.
                        ":expires": int(time.time()) + WEBSOCKET_CONNECTION_MAX_SECONDS,
                    }
                ),
                ":connection": {"SS": [connection_id]},
            },
            ReturnValues="ALL_NEW",
        )
        feed = _feed_of(response["Attributes"])
        return Joined(feed.pushed_seq, feed.lease_free)

    def unsubscribe(self, connection_id: str, tenant_id: str, execution_id: str) -> None:
        self.leave(connection_id, tenant_id, execution_id)
        key = subscription_key(tenant_id, execution_id)
        try:
            self._client.update_item(
                TableName=self.table_name,
                Key=encode_item({"pk": _conn_pk(connection_id), "sk": "META"}),
                UpdateExpression="DELETE subs :key",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":key": {"SS": [key]}},
            )
        except ClientError as error:
            if not _conditional(error):
                raise

    def leave(self, connection_id: str, tenant_id: str, execution_id: str) -> None:
        """Take the connection off the execution's feed: no sender posts to it from then on."""
        self._leave(connection_id, feed_pk(tenant_id, execution_id))

    def _leave(self, connection_id: str, pk: str) -> None:
        try:
            self._client.update_item(
                TableName=self.table_name,
                Key=encode_item({"pk": pk, "sk": FEED_SK}),
                UpdateExpression="DELETE watching :connection REMOVE #fresh",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames={"#fresh": _fresh_attribute(connection_id)},
                ExpressionAttributeValues={":connection": {"SS": [connection_id]}},
            )
        except ClientError as error:
            if not _conditional(error):
                raise

    # --- the feed and its delivery lease -------------------------------------------------------------------

    def _feed_key(self, tenant_id: str, execution_id: str) -> dict[str, Any]:
        return encode_item({"pk": feed_pk(tenant_id, execution_id), "sk": FEED_SK})

    def feed(self, tenant_id: str, execution_id: str) -> Feed | None:
        """The execution's feed as it stands (None: nobody ever watched it)."""
        response = self._client.get_item(
            TableName=self.table_name, Key=self._feed_key(tenant_id, execution_id), ConsistentRead=True
        )
        item = response.get("Item")
        return _feed_of(item) if item else None

    def acquire(self, tenant_id: str, execution_id: str, holder: str) -> Feed | None:
        """Take the feed's delivery lease; returns the feed, or None if another sender holds it (that sender
        is told to read the feed again before letting go) or there is no feed."""
        feed = self._try_acquire(tenant_id, execution_id, holder)
        if feed is not None:
            return feed
        if not self._mark_dirty(tenant_id, execution_id):
            return None
        # The holder may have let go before the mark: then the lease is free now and the work is ours.
        return self._try_acquire(tenant_id, execution_id, holder)

    def _try_acquire(self, tenant_id: str, execution_id: str, holder: str) -> Feed | None:
        now = time.time()
        try:
            response = self._client.update_item(
                TableName=self.table_name,
                Key=self._feed_key(tenant_id, execution_id),
                UpdateExpression="SET lease_until = :until, lease_holder = :holder, dirty = :false",
                ConditionExpression=(
                    "attribute_exists(pk) AND (attribute_not_exists(lease_until) OR lease_until < :now)"
                ),
                ExpressionAttributeValues=encode_item(
                    {
                        ":until": now + EVENT_DELIVERY_LEASE_SECONDS,
                        ":holder": holder,
                        ":now": now,
                        ":false": False,
                    }
                ),
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if not _conditional(error):
                raise
            return None
        return _feed_of(response["Attributes"])

    def _mark_dirty(self, tenant_id: str, execution_id: str) -> bool:
        """False when there is no feed."""
        try:
            self._client.update_item(
                TableName=self.table_name,
                Key=self._feed_key(tenant_id, execution_id),
                UpdateExpression="SET dirty = :true",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues=encode_item({":true": True}),
            )
        except ClientError as error:
            if not _conditional(error):
                raise
            return False
        return True

    def extend(self, tenant_id: str, execution_id: str, holder: str, pushed_seq: int) -> bool:
        """Note how far the feed was pushed and extend the lease; False if the lease was lost."""
        try:
            self._client.update_item(
                TableName=self.table_name,
                Key=self._feed_key(tenant_id, execution_id),
                UpdateExpression="SET pushed_seq = :seq, lease_until = :until",
                ConditionExpression="lease_holder = :holder",
                ExpressionAttributeValues=encode_item(
                    {
                        ":seq": pushed_seq,
                        ":until": time.time() + EVENT_DELIVERY_LEASE_SECONDS,
                        ":holder": holder,
                    }
                ),
            )
        except ClientError as error:
            if _conditional(error):
                return False
            raise
        return True

    def finish(
        self, tenant_id: str, execution_id: str, holder: str, pushed_seq: int, served: Iterable[str] = ()
    ) -> Feed | None:
        """Note how far the feed was pushed, forget the fresh marks of the watchers ``served`` (they now stand
        at ``pushed_seq``), and give the lease back, in one write (more only past a few hundred fresh
        watchers). None: done (or the lease was lost). A feed: someone asked for a delivery meanwhile (a new
        watcher, more events); what was pushed is noted, the lease is still ours, nothing was forgotten, and
        the holder goes again with the feed as it is now."""
        forget = [_fresh_attribute(c) for c in served]
        while len(forget) > _FORGET_PER_WRITE:  # a join since the lease was read makes the finish fail anyway
            chunk, forget = forget[:_FORGET_PER_WRITE], forget[_FORGET_PER_WRITE:]
            if not self._forget(tenant_id, execution_id, holder, chunk):
                return self._again(tenant_id, execution_id, holder, pushed_seq)
        names = {f"#f{index}": name for index, name in enumerate(forget)}
        try:
            self._client.update_item(
                TableName=self.table_name,
                Key=self._feed_key(tenant_id, execution_id),
                UpdateExpression="SET pushed_seq = :seq, lease_until = :zero REMOVE "
                + ", ".join(["lease_holder", *names]),
                ConditionExpression="lease_holder = :holder AND dirty = :false",
                **({"ExpressionAttributeNames": names} if names else {}),
                ExpressionAttributeValues=encode_item(
                    {":seq": pushed_seq, ":zero": 0, ":holder": holder, ":false": False}
                ),
            )
        except ClientError as error:
            if not _conditional(error):
                raise
            return self._again(tenant_id, execution_id, holder, pushed_seq)
        return None

    def _forget(self, tenant_id: str, execution_id: str, holder: str, attributes: list[str]) -> bool:
        names = {f"#f{index}": name for index, name in enumerate(attributes)}
        try:
            self._client.update_item(
                TableName=self.table_name,
                Key=self._feed_key(tenant_id, execution_id),
                UpdateExpression=f"REMOVE {', '.join(names)}",
                ConditionExpression="lease_holder = :holder AND dirty = :false",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=encode_item({":holder": holder, ":false": False}),
            )
        except ClientError as error:
            if not _conditional(error):
                raise
            return False
        return True

    def _again(self, tenant_id: str, execution_id: str, holder: str, pushed_seq: int) -> Feed | None:
        """Clear the dirty mark for another round, noting what was pushed; the feed, or None if the lease was
        lost."""
        try:
            response = self._client.update_item(
                TableName=self.table_name,
                Key=self._feed_key(tenant_id, execution_id),
                UpdateExpression="SET pushed_seq = :seq, lease_until = :until, dirty = :false",
                ConditionExpression="lease_holder = :holder",
                ExpressionAttributeValues=encode_item(
                    {
                        ":seq": pushed_seq,
                        ":until": time.time() + EVENT_DELIVERY_LEASE_SECONDS,
                        ":holder": holder,
                        ":false": False,
                    }
                ),
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if _conditional(error):
                return None
            raise
        return _feed_of(response["Attributes"])


class LiveConnections:
    """Posts to connected clients through API Gateway's @connections API (``apigatewaymanagementapi``)."""

    def __init__(self, management_client: Any) -> None:
        self._client = management_client

    def post(self, connection_id: str, message: str | bytes) -> None:
        data = message.encode() if isinstance(message, str) else message
        try:
            self._client.post_to_connection(ConnectionId=connection_id, Data=data)
        except self._client.exceptions.GoneException as error:
            raise ConnectionGone(connection_id) from error

    def close(self, connection_id: str) -> None:
        with contextlib.suppress(self._client.exceptions.GoneException):
            self._client.delete_connection(ConnectionId=connection_id)
