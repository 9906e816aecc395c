"""Performance and fidelity fixes to the embedded cloud (moto 5.2.5, pinned), applied by both local modes.

moto answers a DynamoDB Query on a table's own key by sorting and scanning *every item in the table*
(``Table.all_items()``), so each query costs O(table size): a long local session slows down with every
execution it has run. Real DynamoDB reads only the queried partition. This patch makes the base-table query
read only its partition's items; results are unchanged (``tests/local/test_moto_patches.py``). A
forward query with a lower bound on the sort key (``sk > :after``, the execution log's read) starts at that
bound in the partition's sorted items (kept per partition until an item comes, goes or is replaced) instead of
comparing every earlier item.

moto's DynamoDB also checks a condition and applies the write in separate steps without a lock, so two
threads can both pass ``attribute_not_exists`` or the same version check. Real DynamoDB applies every
conditional write and transaction atomically; segflow's version numbering and optimistic concurrency depend
on it, so the patch serializes moto's DynamoDB writes. Reads take the same lock while they copy the items into
their response: moto updates an item in place, and a read copying it meanwhile fails with "dictionary changed
size during iteration". So do writes that return the item (an atomic counter's ``ReturnValues``), which moto
would otherwise read after releasing it: two concurrent ``ADD``s could both answer the second one's value.

moto's TransactWriteItems deep-copies every table it touches before writing, to roll back on failure: each
transaction then costs O(table size), and the execution log (one transaction per state change) turns a long
session quadratic. Under the write lock the patch checks every condition first and writes only if all hold,
which is all-or-nothing without a copy.

moto's server (``segflow local up``) finds the backend of every request under one global lock by listing
moto's package directory and trying hundreds of URL patterns: a few milliseconds per request, serialized
across threads. The answer depends only on the host it infers, so the patch remembers it per host.

Step Functions behaviours moto's interpreter is more lenient about than AWS, made strict:

- ``States.DataLimitExceeded`` is terminal: ``States.ALL`` neither retries nor catches it (it matches only
  where it is named). moto matched it, so an oversized result was routed to a Catch as if recoverable.
- A Map state's collected result counts against the 256 KB quota before ``ResultPath`` discards it; moto
  checked only the state's final output, so a Map of thousands of children with ``ResultPath: null`` passed.
- Lambda errors carry Step Functions' names: a function error whose payload names no ``errorType`` is
  ``Lambda.Unknown`` (moto said ``Exception``), and a Task on a plain function ARN whose Invoke call itself
  fails reports ``Lambda.<error code>`` (``Lambda.TooManyRequestsException``; moto said ``Exception``), as
  the ``arn:aws:states:::lambda:invoke`` integration already did.

Retry back-off sleeps in real time in moto; locally each wait is multiplied by
``$SEGFLOW_LOCAL_RETRY_DELAY_SCALE`` (default :data:`DEFAULT_RETRY_DELAY_SCALE`; ``1`` keeps AWS's timing), so
the AWS-sized intervals of ``asl/workflow.asl.json`` keep a local run fast. Everything else about a retrier
(matching, attempts, back-off rate, ``MaxDelaySeconds``, jitter) is moto's own.
"""

from __future__ import annotations

import bisect
import inspect
import json
import os
import threading
import time
from types import SimpleNamespace
from typing import Any

_applied = False
RETRY_DELAY_SCALE_ENV = "SEGFLOW_LOCAL_RETRY_DELAY_SCALE"
DEFAULT_RETRY_DELAY_SCALE = 0.05
_READ_RESPONSES = ("get_item", "batch_get_item", "query", "scan", "transact_get_items")
# Writes whose response carries the item (ReturnValues): built under the lock too, or an ``ADD`` counter's
# ``ALL_NEW`` may show a later thread's value (two writers would then both be told the same number).
_WRITE_RESPONSES = ("update_item", "put_item", "delete_item")
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
            comparison = bound.arguments.get("range_comparison")
            forward = bound.arguments.get("scan_index_forward", True) is not False
            lower_bounded = comparison in _LOWER_BOUNDS and not bound.arguments.get("range_key_conditions")
            _partition.lower_bound = (
                (comparison, bound.arguments["range_objs"][0]) if forward and lower_bounded else None
            )
            try:
                return original_query(self, *args, **kwargs)
            finally:
                _partition.hash_key = None
                _partition.lower_bound = None

        def all_items(self: Any) -> list[Any]:
            hash_key = getattr(_partition, "hash_key", None)
            if hash_key is None or not self.range_key_attr:
                return original_all_items(self)
            hash_set = self.items.get(hash_key)  # .get: do not create an empty partition
            if not hash_set:
                return []
            items, keys = _sorted_partition(self, hash_key, hash_set)
            lower_bound = getattr(_partition, "lower_bound", None)
            if lower_bound is None:
                return list(items)
            comparison, value = lower_bound
            # moto still applies the comparison to what it gets: only the items before the bound are left out.
            start = bisect.bisect_right(keys, value) if comparison == ">" else bisect.bisect_left(keys, value)
            return items[start:]

        Table.query = query  # type: ignore[method-assign]  # patching moto
        Table.all_items = all_items  # type: ignore[method-assign]  # patching moto
        _transactions_without_table_copies()
        _serialize_dynamodb_writes()
        _remember_backends_per_host()
        _data_limit_is_terminal()
        _map_results_within_quota()
        _lambda_error_names()
        _scaled_retry_delays()
        _applied = True


_LOWER_BOUNDS = (">", ">=", "BETWEEN")
_sorted_partitions: dict[tuple[int, Any], tuple[list[Any], list[Any]]] = {}


def _sorted_partition(table: Any, hash_key: Any, hash_set: dict[Any, Any]) -> tuple[list[Any], list[Any]]:
    """The partition's items sorted by sort key, and their keys; rebuilt when an item came, went or was
    replaced (moto updates items in place, so updates keep the order)."""
    cache_key = (id(table), hash_key)
    cached = _sorted_partitions.get(cache_key)
    if cached is not None:
        items, _keys = cached
        if len(items) == len(hash_set) and all(hash_set.get(item.range_key) is item for item in items):
            return cached
    items = sorted(hash_set.values(), key=lambda item: item.range_key)
    cached = (items, [item.range_key for item in items])
    _sorted_partitions[cache_key] = cached
    return cached


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

    for name in (*_READ_RESPONSES, *_WRITE_RESPONSES):
        original = getattr(DynamoHandler, name, None)
        if original is None:
            continue

        def locked_read(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            with write_lock:
                return _original(self, *args, **kwargs)

        setattr(DynamoHandler, name, locked_read)


def _remember_backends_per_host() -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    original = DomainDispatcherApplication.get_backend_for_host
    found: dict[str | None, Any] = {}

    def get_backend_for_host(self: Any, host: str | None) -> Any:
        if host not in found:  # a miss may run twice under races; the answer is the same
            found[host] = original(self, host)
        return found[host]

    DomainDispatcherApplication.get_backend_for_host = get_backend_for_host  # type: ignore[method-assign]  # patching moto


def _transactions_without_table_copies() -> None:
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
    )
    from moto.dynamodb.models import DynamoDBBackend

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        if len(transact_items) > 100:
            raise TooManyTransactionsException()
        targets: set[tuple[str, str]] = set()
        planned: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
        errors: list[Any] = []
        for entry in transact_items:
            op_type, op = next(iter(entry.items()))
            table_name = op["TableName"]
            if op_type == "Put":
                table = self.get_table(table_name)
                key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = op["Item"][table.range_key_attr]
            else:
                key = op["Key"]
            target = (str(table_name), str(dict(sorted(key.items()))))
            if target in targets:
                raise MultipleTransactionsException()
            targets.add(target)
            current = self.get_item(table_name, key)
            condition = op.get("ConditionExpression")
            failed_item = None
            if condition is not None:
                check = get_filter_expression(
                    condition, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
                )
                if not check.expr(current):
                    if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                        failed_item = current.to_json()["Attributes"]
                    errors.append(("ConditionalCheckFailed", ConditionalCheckFailed().message, failed_item))
                    continue
            errors.append((None, None, None))
            planned.append((op_type, op, key))
        if any(code is not None for code, _, _ in errors):
            raise TransactionCanceledException(errors)
        for op_type, op, key in planned:  # every condition held, and nothing else writes meanwhile
            names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
            if op_type == "Put":
                self.put_item(op["TableName"], op["Item"])
            elif op_type == "Delete":
                self.delete_item(op["TableName"], key)
            elif op_type == "Update":
                self.update_item(
                    op["TableName"],
                    key,
                    update_expression=op["UpdateExpression"],
                    expression_attribute_names=names,
                    expression_attribute_values=values,
                )

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]  # patching moto


def _data_limit_is_terminal() -> None:
    from moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl import ErrorEqualsDecl
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )

    original = ErrorEqualsDecl._eval_body
    states_all = StatesErrorName(typ=StatesErrorNameType.StatesALL)

    def _eval_body(self: Any, env: Any) -> None:
        error = env.stack[-1]
        terminal = (
            isinstance(error, StatesErrorName)
            and error.typ == StatesErrorNameType.StatesStatesDataLimitExceeded
            and states_all in self.error_names
        )
        if terminal:
            env.stack.pop()
            env.stack.append(False)
            return
        original(self, env)

    ErrorEqualsDecl._eval_body = _eval_body  # type: ignore[method-assign]  # patching moto


def _map_results_within_quota() -> None:
    from moto.stepfunctions.parser.api import ExecutionFailedEventDetails, HistoryEventType
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.state_map import StateMap
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
    from moto.stepfunctions.parser.quotas import is_within_size_quota

    original = StateMap._eval_execution

    def _eval_execution(self: Any, env: Any) -> None:
        original(self, env)
        if is_within_size_quota(env.stack[-1]):  # the items' results, or the ResultWriter's details
            return
        error = StatesErrorNameType.StatesStatesDataLimitExceeded
        cause = (
            f"The state/task '{self.name}' returned a result with a size exceeding the maximum number of "
            "bytes service limit."
        )
        raise FailureEventException(
            failure_event=FailureEvent(
                env=env,
                error_name=StatesErrorName(typ=error),
                event_type=HistoryEventType.TaskFailed,
                event_details=EventDetails(  # type: ignore[typeddict-item]  # moto's TypedDict is total; moto fills it partially too
                    executionFailedEventDetails=ExecutionFailedEventDetails(
                        error=error.to_name(), cause=cause
                    )
                ),
            )
        )

    StateMap._eval_execution = _eval_execution  # type: ignore[method-assign]  # patching moto


def _names_an_error_type(payload: str) -> bool:
    try:
        body = json.loads(payload)
    except ValueError:
        return False
    return isinstance(body, dict) and isinstance(body.get("errorType"), str) and bool(body["errorType"])


def _lambda_error_names() -> None:
    from botocore.exceptions import ClientError
    from moto.stepfunctions.parser.api import (
        HistoryEventType,
        LambdaFunctionFailedEventDetails,
        TaskFailedEventDetails,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils import (
        LambdaFunctionErrorException,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_lambda,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import (
        StateTaskLambda,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    service_lambda = state_task_service_lambda.StateTaskServiceLambda
    unknown = "Lambda.Unknown"
    task_from_error = StateTaskLambda._from_error

    def lambda_from_error(self: Any, env: Any, ex: Exception) -> Any:
        if isinstance(ex, ClientError):
            error, cause = service_lambda._error_cause_from_client_error(ex)
        elif isinstance(ex, LambdaFunctionErrorException) and not _names_an_error_type(ex.payload):
            error, cause = unknown, ex.payload
        else:
            return task_from_error(self, env, ex)
        return FailureEvent(
            env=env,
            error_name=CustomErrorName(error),
            event_type=HistoryEventType.LambdaFunctionFailed,
            event_details=EventDetails(  # type: ignore[typeddict-item]  # moto's TypedDict is total; moto fills it partially too
                lambdaFunctionFailedEventDetails=LambdaFunctionFailedEventDetails(error=error, cause=cause)
            ),
        )

    service_from_error = service_lambda._from_error

    def service_lambda_from_error(self: Any, env: Any, ex: Exception) -> Any:
        if not (isinstance(ex, LambdaFunctionErrorException) and not _names_an_error_type(ex.payload)):
            return service_from_error(self, env, ex)
        return FailureEvent(
            env=env,
            error_name=CustomErrorName(unknown),
            event_type=HistoryEventType.TaskFailed,
            event_details=EventDetails(  # type: ignore[typeddict-item]  # moto's TypedDict is total; moto fills it partially too
                taskFailedEventDetails=TaskFailedEventDetails(
                    error=unknown,
                    cause=ex.payload,
                    resource=self._get_sfn_resource(),
                    resourceType=self._get_sfn_resource_type(),
                )
            ),
        )

    StateTaskLambda._from_error = lambda_from_error  # type: ignore[method-assign]  # patching moto
    service_lambda._from_error = service_lambda_from_error  # type: ignore[method-assign]  # patching moto


def retry_delay_scale() -> float:
    value = os.environ.get(RETRY_DELAY_SCALE_ENV)
    return float(value) if value else DEFAULT_RETRY_DELAY_SCALE


def _scaled_retry_delays() -> None:
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    scale = retry_delay_scale()
    # The retrier's module sleeps through its ``time`` global; only that module sees the scaled clock.
    retrier_decl.time = SimpleNamespace(sleep=lambda seconds: time.sleep(seconds * scale))  # type: ignore[attr-defined, assignment]  # its import; it only sleeps
