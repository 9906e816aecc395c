"""Counting the AWS requests the Lambda handlers make, and the DynamoDB capacity units they consume.

The handlers build their boto3 clients once per process (``segflow.adapters.clients``); the counter registers
on those very clients' event systems, so requests made by the benchmark driver or by the emulated Step
Functions (its own clients) are not counted. Executions run one at a time, so every request between
``reset()`` and ``snapshot()`` belongs to the execution being measured.

DynamoDB on-demand bills request units, not calls: a write unit per started KB of each item written, a read
unit per started 4 KB read with strong consistency (half of that eventually consistent). Item sizes follow
DynamoDB's rule (attribute names plus values); an UpdateItem is billed on the whole item after the update,
which the request does not show, so it is estimated from the key and the values it sets.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

# S3 request classes as priced: PUT, COPY, POST, LIST at one price, GET and the rest at another.
S3_PUT_CLASS = frozenset(
    {
        "PutObject",
        "CopyObject",
        "PostObject",
        "ListObjects",
        "ListObjectsV2",
        "ListBuckets",
        "CreateMultipartUpload",
        "UploadPart",
        "CompleteMultipartUpload",
    }
)
S3_FREE = frozenset({"DeleteObject", "DeleteObjects", "AbortMultipartUpload"})


@dataclass
class RequestCounts:
    calls: Counter[str] = field(default_factory=Counter)  # "dynamodb:PutItem" -> n
    dynamodb_write_units: float = 0.0
    dynamodb_read_units: float = 0.0

    def service_calls(self, service: str) -> int:
        return sum(n for key, n in self.calls.items() if key.startswith(f"{service}:"))

    @property
    def dynamodb_requests(self) -> int:
        return self.service_calls("dynamodb")

    @property
    def s3_put_class(self) -> int:
        return sum(n for key, n in self.calls.items() if key.startswith("s3:") and key[3:] in S3_PUT_CLASS)

    @property
    def s3_get_class(self) -> int:
        return sum(
            n
            for key, n in self.calls.items()
            if key.startswith("s3:") and key[3:] not in S3_PUT_CLASS and key[3:] not in S3_FREE
        )

    @property
    def s3_requests(self) -> int:
        return self.service_calls("s3")


def attribute_value_bytes(value: dict[str, Any]) -> int:
    """Size of one DynamoDB AttributeValue in the wire format ({"S": ...}, {"M": {...}}, ...)."""
    (kind, inner), *_ = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        digits = len(inner.lstrip("-").replace(".", "").strip("0")) or 1
        return math.ceil(digits / 2) + 1
    if kind == "B":
        return len(inner) if isinstance(inner, (bytes, bytearray)) else len(str(inner))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in inner)
    if kind == "NS":
        return sum(attribute_value_bytes({"N": n}) for n in inner)
    if kind == "BS":
        return sum(len(b) for b in inner)
    if kind == "M":
        return 3 + sum(len(k.encode()) + attribute_value_bytes(v) + 1 for k, v in inner.items())
    if kind == "L":
        return 3 + sum(attribute_value_bytes(v) + 1 for v in inner)
    return len(str(inner))


def item_bytes(item: dict[str, Any]) -> int:
    return sum(len(name.encode()) + attribute_value_bytes(value) for name, value in item.items())


def _write_units(size: int) -> int:
    return max(1, math.ceil(size / 1024))


def _read_units(size: int, consistent: bool) -> float:
    units = max(1, math.ceil(size / 4096))
    return units if consistent else units / 2


def dynamodb_units(operation: str, params: dict[str, Any], parsed: dict[str, Any]) -> tuple[float, float]:
    """(write units, read units) one DynamoDB call consumed."""
    if operation == "PutItem":
        return _write_units(item_bytes(params.get("Item", {}))), 0.0
    if operation in ("UpdateItem", "DeleteItem"):
        size = item_bytes(params.get("Key", {})) + item_bytes(params.get("ExpressionAttributeValues", {}))
        return _write_units(size), 0.0
    if operation == "BatchWriteItem":
        units = 0
        for requests in params.get("RequestItems", {}).values():
            for request in requests:
                item = request.get("PutRequest", {}).get("Item") or request.get("DeleteRequest", {}).get(
                    "Key"
                )
                units += _write_units(item_bytes(item or {}))
        unprocessed = parsed.get("UnprocessedItems") or {}
        for requests in unprocessed.values():  # not written, not billed
            for request in requests:
                item = request.get("PutRequest", {}).get("Item") or request.get("DeleteRequest", {}).get(
                    "Key"
                )
                units -= _write_units(item_bytes(item or {}))
        return float(units), 0.0
    if operation == "TransactWriteItems":
        units = 0
        for entry in params.get("TransactItems", []):
            for kind in ("Put", "Update", "Delete", "ConditionCheck"):
                if kind in entry:
                    body = entry[kind]
                    units += 2 * _write_units(item_bytes(body.get("Item") or body.get("Key") or {}))
        return float(units), 0.0
    if operation == "GetItem":
        consistent = bool(params.get("ConsistentRead"))
        return 0.0, _read_units(item_bytes(parsed.get("Item") or {}), consistent)
    if operation == "BatchGetItem":
        units = 0.0
        for table, request in params.get("RequestItems", {}).items():
            consistent = bool(request.get("ConsistentRead"))
            found = parsed.get("Responses", {}).get(table, [])
            units += sum(_read_units(item_bytes(item), consistent) for item in found)
            unprocessed = len((parsed.get("UnprocessedKeys") or {}).get(table, {}).get("Keys", []))
            missing = len(request.get("Keys", [])) - len(found) - unprocessed
            units += max(0, missing) * _read_units(0, consistent)  # a key not found still costs the minimum
        return 0.0, units
    if operation in ("Query", "Scan"):
        consistent = bool(params.get("ConsistentRead"))
        size = sum(item_bytes(item) for item in parsed.get("Items", []))
        return 0.0, _read_units(size, consistent)
    return 0.0, 0.0


class RequestCounter:
    """Counts the calls (and DynamoDB units) of the clients it is attached to."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = RequestCounts()
        self._attached: set[int] = set()

    def attach(self, client: Any) -> None:
        if id(client) in self._attached:
            return
        self._attached.add(id(client))
        service = client.meta.service_model.service_name
        client.meta.events.register("before-parameter-build", self._before_call)
        client.meta.events.register("after-call", self._make_after_call(service))

    def attach_handler_clients(self, services: tuple[str, ...] = ("dynamodb", "s3", "stepfunctions")) -> None:
        """The clients every handler shares (built now if no handler has run yet)."""
        from segflow.adapters import clients

        for service in services:
            self.attach(clients.client(service))

    @staticmethod
    def _before_call(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["bench_params"] = params  # the API parameters, before serialization

    def _make_after_call(self, service: str) -> Any:
        def after_call(model: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
            write = read = 0.0
            if service == "dynamodb":
                write, read = dynamodb_units(model.name, context.get("bench_params") or {}, parsed or {})
            with self._lock:
                self._counts.calls[f"{service}:{model.name}"] += 1
                self._counts.dynamodb_write_units += write
                self._counts.dynamodb_read_units += read

        return after_call

    def reset(self) -> None:
        with self._lock:
            self._counts = RequestCounts()

    def snapshot(self) -> RequestCounts:
        with self._lock:
            counts = self._counts
            return RequestCounts(
                Counter(counts.calls), counts.dynamodb_write_units, counts.dynamodb_read_units
            )
