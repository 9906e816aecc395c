"""Idempotency keys of management API requests (publishing, starting): a retried request finds its result.

One item per tenant, operation and key in the workflows table: ``pk = REQKEY#<tenant>``,
``sk = <operation>#<key>``, holding the sha256 of the request it was first used with and the result to answer
again (a version; an execution's name and its exact StartExecution request). Items expire through the table's
TTL attribute after ``REQUEST_KEY_TTL_SECONDS``. The first request's write is conditional (or part of the
publish transaction), so of concurrent requests with one key exactly one takes effect.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from segflow.adapters.dynamo_items import decode_item, encode_item
from segflow.domain.errors import SegflowError
from segflow.domain.integrity import canonical_json, sha256_hex
from segflow.domain.limits import REQUEST_KEY_MAX_CHARS, REQUEST_KEY_TTL_SECONDS


class InvalidRequestKey(SegflowError):
    kind = "invalid"


class RequestKeyReused(SegflowError):
    """The key was used before with another request: it cannot name two."""

    kind = "conflict"


def request_digest(request: dict[str, Any]) -> str:
    """What identifies a request body: the sha256 of its canonical JSON."""
    return sha256_hex(canonical_json(request).encode())


def check_request_key(key: str) -> str:
    if not 1 <= len(key) <= REQUEST_KEY_MAX_CHARS or not key.isprintable():
        raise InvalidRequestKey(f"Idempotency-Key must be 1 to {REQUEST_KEY_MAX_CHARS} printable characters")
    return key


@dataclass(frozen=True)
class KeyedRequest:
    """One request under its key: ``stored()`` is the result of the first request with the key, if any."""

    store: RequestKeyStore
    tenant_id: str
    operation: str
    key: str
    digest: str

    def _key(self) -> dict[str, Any]:
        return {"pk": f"REQKEY#{self.tenant_id}", "sk": f"{self.operation}#{self.key}"}

    def stored(self) -> dict[str, Any] | None:
        """The first request's result; None if the key is new. Raises RequestKeyReused if the key was
        used with another request."""
        response = self.store.client.get_item(
            TableName=self.store.table_name, Key=encode_item(self._key()), ConsistentRead=True
        )
        item = response.get("Item")
        if not item:
            return None
        data = decode_item(item)
        if data.get("request_sha256") != self.digest:
            raise RequestKeyReused(
                f"Idempotency-Key {self.key!r} was used with another {self.operation} request: "
                "send a new key for a new request"
            )
        result: dict[str, Any] = json.loads(data["result_json"])
        return result

    def put_item(self, result: dict[str, Any]) -> dict[str, Any]:
        """The conditional Put of this request's result (for a TransactWriteItems list)."""
        item = {
            **self._key(),
            "request_sha256": self.digest,
            "result_json": json.dumps(result, separators=(",", ":")),
            "created_at": time.time(),
            "expires_at": int(time.time() + REQUEST_KEY_TTL_SECONDS),
        }
        return {
            "TableName": self.store.table_name,
            "Item": encode_item(item),
            "ConditionExpression": "attribute_not_exists(pk)",
        }

    def keep(self, result: dict[str, Any]) -> dict[str, Any]:
        """Store ``result`` unless a request with this key stored one first: the result that holds."""
        try:
            self.store.client.put_item(**self.put_item(result))
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            first = self.stored()
            assert first is not None  # the condition failed on it
            return first
        return result


class RequestKeyStore:
    def __init__(self, table_name: str, dynamodb_client: Any) -> None:
        self.table_name = table_name
        self.client = dynamodb_client

    def request(self, tenant_id: str, operation: str, key: str, request: dict[str, Any]) -> KeyedRequest:
        """``request`` (the body that must match on a retry) under ``key``. Raises InvalidRequestKey."""
        return KeyedRequest(self, tenant_id, operation, check_request_key(key), request_digest(request))
