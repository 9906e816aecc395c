"""Performance fixes to the embedded cloud (moto 5.2.5, pinned), applied by both local modes.

moto answers a DynamoDB Query on a table's own key by sorting and scanning *every item in the table*
(``Table.all_items()``), so each query costs O(table size): a long local session slows down with every
execution it has run. Real DynamoDB reads only the queried partition. This patch makes the base-table query
read only its partition's items; results are unchanged (``tests/functional/test_moto_patches.py``).

moto's DynamoDB also checks a condition and applies the write in separate steps without a lock, so two
threads can both pass ``attribute_not_exists`` or the same version check. Real DynamoDB applies every
conditional write and transaction atomically; segflow's version numbering and optimistic concurrency depend
on it, so the patch serializes moto's DynamoDB writes. Reads take the same lock while they copy the items into
their response: moto updates an item in place, and a read copying it meanwhile fails with "dictionary changed
size during iteration".
"""

from __future__ import annotations

import inspect
import threading
from typing import Any

_applied = False
_READ_RESPONSES = ("get_item", "batch_get_item", "query", "scan", "transact_get_items")
_lock = threading.Lock()
_partition = threading.local()


def apply() -> None:
    global _applied
    with _lock:
        if _applied:
            return
        from moto.dynamodb.models.table import Table

        original_query = Table.query
        original_all_items = Table.all_items
        signature = inspect.signature(original_query)

        def query(self: Any, *args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(self, *args, **kwargs)
            if bound.arguments.get("index_name") or bound.arguments.get("hash_key") is None:
                return original_query(self, *args, **kwargs)
            _partition.hash_key = bound.arguments["hash_key"]
            try:
                return original_query(self, *args, **kwargs)
            finally:
                _partition.hash_key = None

        def all_items(self: Any) -> list[Any]:
            hash_key = getattr(_partition, "hash_key", None)
            if hash_key is None or not self.range_key_attr:
                return original_all_items(self)
            hash_set = self.items.get(hash_key)  # .get: do not create an empty partition
            return sorted(hash_set.values(), key=lambda item: item.range_key) if hash_set else []

        Table.query = query  # type: ignore[method-assign]
        Table.all_items = all_items  # type: ignore[method-assign]
        _serialize_dynamodb_writes()
        _applied = True


_WRITE_METHODS = ("put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item")


def _serialize_dynamodb_writes() -> None:
    from moto.dynamodb.models import DynamoDBBackend

    write_lock = threading.RLock()
    for name in _WRITE_METHODS:
        original = getattr(DynamoDBBackend, name, None)
        if original is None:
            continue

        def locked(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            with write_lock:
                return _original(self, *args, **kwargs)

        setattr(DynamoDBBackend, name, locked)

    from moto.dynamodb.responses import DynamoHandler

    for name in _READ_RESPONSES:
        original = getattr(DynamoHandler, name, None)
        if original is None:
            continue

        def locked_read(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            with write_lock:
                return _original(self, *args, **kwargs)

        setattr(DynamoHandler, name, locked_read)
