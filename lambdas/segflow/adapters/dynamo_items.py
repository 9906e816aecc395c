"""Plain Python values to DynamoDB attribute values and back (floats as Decimals, whole numbers as ints)."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from segflow.domain.limits import retention_days

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def expires_at() -> int:
    """The TTL attribute's value for an item written now: the retention period from now."""
    return int(time.time()) + retention_days() * 86_400


def encode_item(item: dict[str, Any]) -> dict[str, Any]:
    """Attribute values for an item; ``None`` values are left out."""
    return {key: _serializer.serialize(_to_dynamo(value)) for key, value in item.items() if value is not None}


def decode_item(item: dict[str, Any]) -> dict[str, Any]:
    return {key: _plain(_deserializer.deserialize(value)) for key, value in item.items()}


def _to_dynamo(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _to_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_dynamo(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def put_if_absent(client: Any, table_name: str, item: dict[str, Any]) -> bool:
    """Write ``item`` unless an item with its key exists; False if one did (then nothing is written)."""
    try:
        client.put_item(
            TableName=table_name, Item=encode_item(item), ConditionExpression="attribute_not_exists(sk)"
        )
    except ClientError as error:
        if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise
    return True
