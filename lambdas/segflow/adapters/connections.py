"""Live WebSocket connections, their subscriptions, each execution's feed, and the @connections API.

Connections table items:

- ``CONN#<connection_id>`` / ``META``: tenant, principal, connected at; expires with API Gateway's 2 hours;
- ``CONN#<connection_id>`` / ``SUB#<tenant>#<execution_id>``: that the connection watches the execution (what
  ``$disconnect`` cleans up, and what the per-connection limit counts);
- ``FEED#<tenant>#<execution_id>`` / ``FEED``: the execution's feed, one item for all its watchers: one
  attribute ``W#<connection_id>`` per watcher (``{token, since, live}``), how far the feed was pushed
  (``pushed_seq``), and the delivery lease (``lease_until``, ``lease_holder``, ``dirty``).

Delivering a batch of events costs the same writes however many connections watch: taking the feed's lease
and giving it back with the new ``pushed_seq``. One sender at a time per feed (the lease) keeps every
connection's events in order and sent once; a sender that finds the lease taken marks the feed ``dirty``,
and the holder reads the feed again (new watchers included) before letting go. A watcher costs writes when it
subscribes (its attribute, its ``SUB`` item, and once ``live`` after its catch-up), not per event.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from segflow.adapters.dynamo_items import decode_item, encode_item
from segflow.domain.errors import ConnectionGone
from segflow.domain.limits import EVENT_DELIVERY_LEASE_SECONDS, WEBSOCKET_CONNECTION_MAX_SECONDS
from segflow.domain.watchers import Feed, Watcher

FEED_SK = "FEED"
_WATCHER_PREFIX = "W#"


@dataclass(frozen=True)
class Connection:
    connection_id: str
    tenant_id: str
    principal: str
    connected_at: float


def _conn_pk(connection_id: str) -> str:
    return f"CONN#{connection_id}"


def subscription_key(tenant_id: str, execution_id: str) -> str:
    return f"SUB#{tenant_id}#{execution_id}"


def feed_pk(tenant_id: str, execution_id: str) -> str:
    return f"FEED#{tenant_id}#{execution_id}"


def _watcher_attribute(connection_id: str) -> str:
    return f"{_WATCHER_PREFIX}{connection_id}"


def _conditional(error: ClientError) -> bool:
    return bool(error.response["Error"]["Code"] == "ConditionalCheckFailedException")


def _feed_of(item: dict[str, Any]) -> Feed:
    data = decode_item(item)
    watchers = tuple(
        Watcher(name[len(_WATCHER_PREFIX) :], str(value["token"]), int(value["since"]), bool(value["live"]))
        for name, value in sorted(data.items())
        if name.startswith(_WATCHER_PREFIX) and isinstance(value, dict)
    )
    return Feed(int(data.get("pushed_seq", 0)), watchers)


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
        return Connection(connection_id, data["tenant_id"], data.get("principal", ""), data["connected_at"])

    def disconnect(self, connection_id: str) -> None:
        """Forget the connection: it leaves every feed it watched, and its items are deleted."""
        keys = []
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": encode_item({":pk": _conn_pk(connection_id)}),
            "ProjectionExpression": "pk, sk",
        }
        while True:
            page = self._client.query(**request)
            keys += page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        for key in keys:
            sort_key = key["sk"]["S"]
            if sort_key.startswith("SUB#"):
                self._leave(connection_id, "FEED#" + sort_key[len("SUB#") :])
        for start in range(0, len(keys), 25):
            pending = {self.table_name: [{"DeleteRequest": {"Key": key}} for key in keys[start : start + 25]]}
            while pending:
                pending = self._client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}

    # --- subscriptions -------------------------------------------------------------------------------------

    def watched(self, connection_id: str) -> set[str]:
        """The subscription keys (:func:`subscription_key`) of the executions the connection watches."""
        keys: set[str] = set()
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :sub)",
            "ExpressionAttributeValues": encode_item({":pk": _conn_pk(connection_id), ":sub": "SUB#"}),
            "ProjectionExpression": "sk",
            "ConsistentRead": True,
        }
        while True:
            page = self._client.query(**request)
            keys |= {item["sk"]["S"] for item in page.get("Items", [])}
            if "LastEvaluatedKey" not in page:
                return keys
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def subscribe(self, connection: Connection, execution_id: str, since_seq: int, token: str) -> None:
        """(Re)start the connection's subscription: the next event it is sent is ``since_seq + 1``."""
        expires = int(connection.connected_at) + WEBSOCKET_CONNECTION_MAX_SECONDS
        key = subscription_key(connection.tenant_id, execution_id)
        item = {"pk": _conn_pk(connection.connection_id), "sk": key, "expires_at": expires}
        self._client.put_item(TableName=self.table_name, Item=encode_item(item))
        # The feed outlives each of its watchers' connections at most by the 2-hour limit.
        self._client.update_item(
            TableName=self.table_name,
            Key=encode_item({"pk": feed_pk(connection.tenant_id, execution_id), "sk": FEED_SK}),
            UpdateExpression="SET #w = :watcher, expires_at = :expires",
            ExpressionAttributeNames={"#w": _watcher_attribute(connection.connection_id)},
            ExpressionAttributeValues=encode_item(
                {
                    ":watcher": {"token": token, "since": since_seq, "live": False},
                    ":expires": int(time.time()) + WEBSOCKET_CONNECTION_MAX_SECONDS,
                }
            ),
        )

    def unsubscribe(self, connection_id: str, tenant_id: str, execution_id: str) -> None:
        self._leave(connection_id, feed_pk(tenant_id, execution_id))
        self._client.delete_item(
            TableName=self.table_name,
            Key=encode_item({"pk": _conn_pk(connection_id), "sk": subscription_key(tenant_id, execution_id)}),
        )

    def _leave(self, connection_id: str, pk: str) -> None:
        try:
            self._client.update_item(
                TableName=self.table_name,
                Key=encode_item({"pk": pk, "sk": FEED_SK}),
                UpdateExpression="REMOVE #w",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames={"#w": _watcher_attribute(connection_id)},
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

    def went_live(self, tenant_id: str, execution_id: str, holder: str, watcher: Watcher) -> bool:
        """Note that ``watcher`` has had its catch-up (unless it subscribed again meanwhile); False if the
        lease was lost."""
        try:
            self._client.update_item(
                TableName=self.table_name,
                Key=self._feed_key(tenant_id, execution_id),
                UpdateExpression="SET #w.live = :true",
                ConditionExpression="lease_holder = :holder AND #w.#token = :token",
                ExpressionAttributeNames={"#w": _watcher_attribute(watcher.connection_id), "#token": "token"},
                ExpressionAttributeValues=encode_item(
                    {":true": True, ":holder": holder, ":token": watcher.token}
                ),
            )
        except ClientError as error:
            if not _conditional(error):
                raise
            return self._holds(tenant_id, execution_id, holder)
        return True

    def _holds(self, tenant_id: str, execution_id: str, holder: str) -> bool:
        response = self._client.get_item(
            TableName=self.table_name,
            Key=self._feed_key(tenant_id, execution_id),
            ConsistentRead=True,
            ProjectionExpression="lease_holder",
        )
        return bool(response.get("Item", {}).get("lease_holder", {}).get("S") == holder)

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

    def finish(self, tenant_id: str, execution_id: str, holder: str, pushed_seq: int) -> Feed | None:
        """Note how far the feed was pushed and give the lease back, in one write. None: done (or the lease
        was lost). A feed: someone asked for a delivery meanwhile (a new watcher, more events); what was
        pushed is noted, the lease is still ours, and the holder goes again with the feed as it is now."""
        try:
            self._client.update_item(
                TableName=self.table_name,
                Key=self._feed_key(tenant_id, execution_id),
                UpdateExpression="SET pushed_seq = :seq, lease_until = :zero REMOVE lease_holder",
                ConditionExpression="lease_holder = :holder AND dirty = :false",
                ExpressionAttributeValues=encode_item(
                    {":seq": pushed_seq, ":zero": 0, ":holder": holder, ":false": False}
                ),
            )
        except ClientError as error:
            if not _conditional(error):
                raise
            return self._again(tenant_id, execution_id, holder, pushed_seq)
        return None

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
