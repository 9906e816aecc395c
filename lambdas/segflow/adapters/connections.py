"""Live WebSocket connections, their subscriptions, and the @connections API that reaches them.

Connections table items (every key starts with the connection, the tenant is in every subscription key):

- ``CONN#<connection_id>`` / ``META``: tenant, principal, connected at; expires with API Gateway's 2 hours;
- ``CONN#<connection_id>`` / ``SUB#<tenant>#<execution_id>``: what the connection was last sent (``sent_seq``)
  and the delivery lease; found per execution through the ``by_subscription`` index
  (``gsi1pk = SUB#<tenant>#<execution_id>``).

One sender at a time per subscription (the lease) keeps each connection's events in order and sent once; a
sender that finds the lease taken marks the subscription ``dirty``, and the holder looks again before letting
go.
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

BY_SUBSCRIPTION_INDEX = "by_subscription"


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
        """Forget the connection and all its subscriptions."""
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
        for start in range(0, len(keys), 25):
            pending = {self.table_name: [{"DeleteRequest": {"Key": key}} for key in keys[start : start + 25]]}
            while pending:
                pending = self._client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}

    # --- subscriptions -------------------------------------------------------------------------------------

    def subscribe(self, connection: Connection, execution_id: str, since_seq: int) -> None:
        """(Re)start the subscription: the next event sent is ``since_seq + 1``."""
        key = subscription_key(connection.tenant_id, execution_id)
        item = {
            "pk": _conn_pk(connection.connection_id),
            "sk": key,
            "gsi1pk": key,
            "gsi1sk": connection.connection_id,
            "sent_seq": since_seq,
            "lease_until": 0,
            "dirty": False,
            "expires_at": int(connection.connected_at) + WEBSOCKET_CONNECTION_MAX_SECONDS,
        }
        self._client.put_item(TableName=self.table_name, Item=encode_item(item))

    def unsubscribe(self, connection_id: str, tenant_id: str, execution_id: str) -> None:
        self._client.delete_item(
            TableName=self.table_name,
            Key=encode_item({"pk": _conn_pk(connection_id), "sk": subscription_key(tenant_id, execution_id)}),
        )

    def subscribers(self, tenant_id: str, execution_id: str) -> list[str]:
        ids: list[str] = []
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": BY_SUBSCRIPTION_INDEX,
            "KeyConditionExpression": "gsi1pk = :key",
            "ExpressionAttributeValues": encode_item({":key": subscription_key(tenant_id, execution_id)}),
            "ProjectionExpression": "gsi1sk",
        }
        while True:
            page = self._client.query(**request)
            ids += [item["gsi1sk"]["S"] for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return ids
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # --- the delivery lease --------------------------------------------------------------------------------

    def _key(self, connection_id: str, tenant_id: str, execution_id: str) -> dict[str, Any]:
        return encode_item({"pk": _conn_pk(connection_id), "sk": subscription_key(tenant_id, execution_id)})

    def acquire(self, connection_id: str, tenant_id: str, execution_id: str, holder: str) -> int | None:
        """Take the delivery lease; returns the last seq sent, or None if another sender holds it (that
        sender is told to look again) or the subscription is gone."""
        sent = self._try_acquire(connection_id, tenant_id, execution_id, holder)
        if sent is not None:
            return sent
        self._mark_dirty(connection_id, tenant_id, execution_id)
        # The holder may have let go before the mark: then the lease is free now and the work is ours.
        return self._try_acquire(connection_id, tenant_id, execution_id, holder)

    def _try_acquire(self, connection_id: str, tenant_id: str, execution_id: str, holder: str) -> int | None:
        now = time.time()
        try:
            response = self._client.update_item(
                TableName=self.table_name,
                Key=self._key(connection_id, tenant_id, execution_id),
                UpdateExpression="SET lease_until = :until, lease_holder = :holder, dirty = :false",
                ConditionExpression="attribute_exists(pk) AND lease_until < :now",
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
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return None
        return int(response["Attributes"]["sent_seq"]["N"])

    def _mark_dirty(self, connection_id: str, tenant_id: str, execution_id: str) -> None:
        try:
            self._client.update_item(
                TableName=self.table_name,
                Key=self._key(connection_id, tenant_id, execution_id),
                UpdateExpression="SET dirty = :true",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues=encode_item({":true": True}),
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def sent(self, connection_id: str, tenant_id: str, execution_id: str, holder: str, seq: int) -> bool:
        """Note what was sent (and extend the lease); False if the lease was lost or the subscription ended"""
        now = time.time()
        try:
            self._client.update_item(
                TableName=self.table_name,
                Key=self._key(connection_id, tenant_id, execution_id),
                UpdateExpression="SET sent_seq = :seq, lease_until = :until",
                ConditionExpression="lease_holder = :holder",
                ExpressionAttributeValues=encode_item(
                    {":seq": seq, ":until": now + EVENT_DELIVERY_LEASE_SECONDS, ":holder": holder}
                ),
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def finish(
        self, connection_id: str, tenant_id: str, execution_id: str, holder: str, seq: int
    ) -> bool | None:
        """Note what was sent and give the lease back, in one write. True: done. False: someone asked for a
        delivery meanwhile (what was sent is noted; the holder goes again). None: the lease was lost or the
        subscription ended."""
        try:
            self._client.update_item(
                TableName=self.table_name,
                Key=self._key(connection_id, tenant_id, execution_id),
                UpdateExpression="SET sent_seq = :seq, lease_until = :zero REMOVE lease_holder",
                ConditionExpression="lease_holder = :holder AND dirty = :false",
                ExpressionAttributeValues=encode_item(
                    {":seq": seq, ":zero": 0, ":holder": holder, ":false": False}
                ),
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            if not self.sent(connection_id, tenant_id, execution_id, holder, seq):
                return None
            return False if self._clear_dirty(connection_id, tenant_id, execution_id, holder) else None
        return True

    def _clear_dirty(self, connection_id: str, tenant_id: str, execution_id: str, holder: str) -> bool:
        """True if the lease is still ours (and the dirty mark is cleared for another round)."""
        try:
            self._client.update_item(
                TableName=self.table_name,
                Key=self._key(connection_id, tenant_id, execution_id),
                UpdateExpression="SET dirty = :false",
                ConditionExpression="lease_holder = :holder",
                ExpressionAttributeValues=encode_item({":false": False, ":holder": holder}),
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True


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
