"""Performance and fidelity fixes to the embedded cloud (moto 5.2.5, pinned), applied by both local modes.

moto answers a DynamoDB Query on a table's own key by sorting and scanning *every item in the table*
(``Table.all_items()``), so each query costs O(table size): a long local session slows down with every
execution it has run. Real DynamoDB reads only the queried partition, from where its key condition starts,
and stops at ``Limit``. So does this patch: each partition's items are kept sorted by sort key (updated by
every put and delete), the query gets only the items its sort-key condition can match, and with a ``Limit``
only that many and one more (the one that tells moto to answer a ``LastEvaluatedKey``). moto still checks,
sorts, pages and copies what it gets, so results are unchanged (``tests/local/test_moto_patches.py``);
a log read of 500 events after seq 9,000 no longer walks the 9,000 before it.

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

- StopExecution ends the execution at once, whatever state it is in. moto's interpreter waited for the
  running Task to end first: a ``.waitForTaskToken`` task (an approval) stayed RUNNING until someone sent the
  token or its timeout passed, and the decision was then taken for an execution that had been stopped. Now a
  Task's wait also ends when the execution stops; the work it started goes on unwatched, as in AWS (a Lambda
  invocation is not cancelled), and its result is dropped.

Retry back-off sleeps in real time in moto; locally each wait is multiplied by
``$SEGFLOW_LOCAL_RETRY_DELAY_SCALE`` (default :data:`DEFAULT_RETRY_DELAY_SCALE`; ``1`` keeps AWS's timing), so
the AWS-sized intervals of ``asl/workflow.asl.json`` keep a local run fast. Everything else about a retrier
(matching, attempts, back-off rate, ``MaxDelaySeconds``, jitter) is moto's own.
"""

from __future__ import annotations

import bisect
import copy
import functools
import inspect
import json
import os
import threading
import time
from dataclasses import dataclass
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
_SORTED = "_segflow_sorted_partitions"  # a table's partitions, sorted, kept beside its items


def apply() -> None:
    global _applied
    with _lock:
        if _applied:
            return
        _partition_queries()
        _transactions_without_table_copies()
        _serialize_dynamodb_writes()
        _dict_members_by_name()
        _parsed_conditions_remembered()
        _remember_backends_per_host()
        _action_names_per_class()
        _json_paths_parsed_once()
        _one_lambda_client_per_region()
        _data_limit_is_terminal()
        _map_results_within_quota()
        _lambda_error_names()
        _scaled_retry_delays()
        _stop_ends_every_wait()
        _stop_right_after_start()
        _applied = True


def _partition_queries() -> None:
    from moto.dynamodb.models.table import Table

    original_query = Table.query
    original_all_items = Table.all_items
    original_put_item = Table.put_item
    original_delete_item = Table.delete_item
    signature = inspect.signature(original_query)

    def query(self: Any, *args: Any, **kwargs: Any) -> Any:
        arguments = signature.bind(self, *args, **kwargs).arguments
        if arguments.get("index_name") or arguments.get("hash_key") is None:
            return original_query(self, *args, **kwargs)
        _partition.query = _PartitionQuery.of(self, arguments)
        try:
            return original_query(self, *args, **kwargs)
        finally:
            _partition.query = None

    def all_items(self: Any) -> list[Any]:
        request: _PartitionQuery | None = getattr(_partition, "query", None)
        if request is None or not self.range_key_attr:
            return original_all_items(self)
        hash_set = self.items.get(request.hash_key)  # .get: do not create an empty partition
        if not hash_set:
            return []
        return request.candidates(_sorted_partition(self, request.hash_key, hash_set))

    def put_item(self: Any, item_attrs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        item = original_put_item(self, item_attrs, *args, **kwargs)
        _placed(self, item)
        return item

    def delete_item(self: Any, hash_key: Any, range_key: Any) -> Any:
        item = original_delete_item(self, hash_key, range_key)
        if item is not None:
            _removed(self, item)
        return item

    Table.query = query  # type: ignore[method-assign]  # patching moto
    Table.all_items = all_items  # type: ignore[method-assign]  # patching moto
    Table.put_item = put_item  # type: ignore[method-assign]  # patching moto
    Table.delete_item = delete_item  # type: ignore[method-assign]  # patching moto


@dataclass(frozen=True)
class _PartitionQuery:
    """A query on a table's own key: which of the partition's sorted items can be in its answer.

    ``exact``: every item in the window matches the sort-key condition, so when there is no start key and no
    legacy filter, the answer is the first ``limit`` of them (in the query's direction), and the one after
    tells moto there is more (its ``LastEvaluatedKey``)."""

    hash_key: Any
    comparison: str | None
    values: tuple[Any, ...]
    forward: bool
    limit: int | None

    @classmethod
    def of(cls, table: Any, arguments: dict[str, Any]) -> _PartitionQuery:
        comparison = arguments.get("range_comparison")
        values = tuple(value.cast_value for value in arguments.get("range_objs") or ())
        conditions = arguments.get("range_key_conditions") or []
        plain = (
            len(conditions) <= 1
            and all(name == table.range_key_attr for name, _, _ in conditions)
            and not arguments.get("exclusive_start_key")
            and not arguments.get("filter_kwargs")
            and len(arguments.get("hash_key_conditions") or []) <= 1
        )
        limit = arguments.get("limit")
        return cls(
            hash_key=arguments["hash_key"],
            comparison=comparison.upper() if isinstance(comparison, str) else None,
            values=values,
            forward=arguments.get("scan_index_forward", True) is not False,
            limit=int(limit) if plain and limit else None,
        )

    def candidates(self, partition: tuple[list[Any], list[Any]]) -> list[Any]:
        items, keys = partition
        low, high, exact = self._window(keys)
        if not exact or self.limit is None:
            return items[low:high]
        if self.forward:  # moto sorts what it gets, then reverses it for a backward query
            return items[low : min(high, low + self.limit + 1)]
        return items[max(low, high - self.limit - 1) : high]

    def _window(self, keys: list[Any]) -> tuple[int, int, bool]:
        """[low, high) of the sorted keys the condition can match; exact if all of them do."""
        comparison, values = self.comparison, self.values
        try:
            if comparison is None:
                return 0, len(keys), True
            if comparison in ("=", "EQ"):
                return bisect.bisect_left(keys, values[0]), bisect.bisect_right(keys, values[0]), True
            if comparison in (">", "GT"):
                return bisect.bisect_right(keys, values[0]), len(keys), True
            if comparison in (">=", "GE"):
                return bisect.bisect_left(keys, values[0]), len(keys), True
            if comparison in ("<", "LT"):
                return 0, bisect.bisect_left(keys, values[0]), True
            if comparison in ("<=", "LE"):
                return 0, bisect.bisect_right(keys, values[0]), True
            if comparison == "BETWEEN":
                return bisect.bisect_left(keys, values[0]), bisect.bisect_right(keys, values[1]), True
            if comparison == "BEGINS_WITH":  # the matches start at the prefix; moto checks where they end
                return bisect.bisect_left(keys, values[0]), len(keys), False
        except (TypeError, IndexError):  # a value of another type than the key's: moto decides
            pass
        return 0, len(keys), False


def _sorted_partition(table: Any, hash_key: Any, hash_set: dict[Any, Any]) -> tuple[list[Any], list[Any]]:
    """The partition's items sorted by sort key, and their keys' values; kept up to date by every put and
    delete of the table (moto updates items in place, so updates keep the order), rebuilt if it ever
    disagrees with the partition's size."""
    partitions: dict[Any, tuple[list[Any], list[Any]]] = table.__dict__.setdefault(_SORTED, {})
    cached = partitions.get(hash_key)
    if cached is not None and len(cached[0]) == len(hash_set):
        return cached
    items = sorted(hash_set.values(), key=lambda item: item.range_key.cast_value)
    cached = (items, [item.range_key.cast_value for item in items])
    partitions[hash_key] = cached
    return cached


def _position(table: Any, item: Any) -> tuple[list[Any], list[Any], int, bool] | None:
    """Where ``item`` stands in its partition's sorted cache: (items, keys, index, whether it is there);
    None when the partition has no cache (or the table no sort key)."""
    cached = table.__dict__.get(_SORTED, {}).get(item.hash_key)
    if cached is None or item.range_key is None:
        return None
    items, keys = cached
    key = item.range_key.cast_value
    index = bisect.bisect_left(keys, key)
    return items, keys, index, index < len(keys) and keys[index] == key


def _placed(table: Any, item: Any) -> None:
    position = _position(table, item)
    if position is None:
        return
    items, keys, index, present = position
    if present:
        items[index] = item  # replaced
    else:
        keys.insert(index, item.range_key.cast_value)
        items.insert(index, item)


def _removed(table: Any, item: Any) -> None:
    position = _position(table, item)
    if position is not None and position[3]:
        items, keys, index, _ = position
        del keys[index]
        del items[index]


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


def _dict_members_by_name() -> None:
    """moto's JSON serializer looks each member of a structure up under every alias it might have (the name,
    its snake_case, the model's serialization name, prefixes stripped), for every member the model lists,
    whether the value has it or not: an item's attribute value (``{"S": "…"}``) is searched for ten members,
    a history event for sixty. That search was most of the cost of answering a Query or
    GetExecutionHistory. For a plain dict whose keys are all member names, the first alias moto tries (the
    name itself) is the one it would find, and a member the dict lacks has no alias among its keys: so each
    member is taken by its name, in the model's order, and serialized as before (binary still
    base64-encoded). Only the JSON protocol (DynamoDB, Step Functions): REST protocols route each member to
    the body or a header. Anything else (objects, other keys, services with response transformers) goes the
    usual way."""
    from moto.core.serialize import JSONSerializer

    original = JSONSerializer._serialize_type_structure

    @functools.wraps(original)
    def _serialize_type_structure(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        members = shape.members
        if (
            type(value) is not dict
            or shape.is_document_type
            or self._value_picker.response_transformers
            or not value.keys() <= members.keys()
        ):
            original(self, serialized, value, shape, key)
            return
        wrapper = self.MAP_TYPE() if key else serialized
        for member_key, member_shape in members.items():
            member_value = value.get(member_key)
            if member_value is not None:
                member_shape.parent = shape
                self._serialize(wrapper, member_value, member_shape, member_key)
        if key:
            self._default_serialize(serialized, wrapper, shape, key)

    serializer: Any = JSONSerializer  # patching moto's serializer class
    serializer._serialize_type_structure = _serialize_type_structure


_PARSED_CONDITIONS_KEPT = 5_000


def _parsed_conditions_remembered() -> None:
    """moto lexes and parses every condition expression of every request anew (a regex per token); a
    transaction of 50 events parses ``attribute_not_exists(sk)`` 50 times. The parse of an expression with
    the same names and values is the same tree of operators (they keep no state while evaluating), so it is
    kept, with the names and values the parser reports having found."""
    from moto.dynamodb.comparisons import ConditionExpressionParser

    original = ConditionExpressionParser.parse
    kept: dict[str, tuple[Any, list[str], list[str]]] = {}
    kept_lock = threading.Lock()

    def parse(self: Any) -> Any:
        try:
            key = json.dumps(
                [
                    self.condition_expression,
                    self.expression_attribute_names,
                    self.expression_attribute_values,
                ],
                sort_keys=True,
            )
        except (TypeError, ValueError):  # not JSON (bytes in a value): parse it as moto does
            return original(self)
        with kept_lock:
            found = kept.get(key)
        if found is None:
            op = original(self)  # raises for an invalid expression: nothing is kept
            found = (op, list(self.expr_attr_names_found), list(self.expr_attr_values_found))
            with kept_lock:
                if len(kept) >= _PARSED_CONDITIONS_KEPT:
                    kept.pop(next(iter(kept)))
                kept[key] = found
            return op
        op, names, values = found
        self.expr_attr_names_found.extend(names)
        self.expr_attr_values_found.extend(values)
        return op

    ConditionExpressionParser.parse = parse  # type: ignore[method-assign]  # patching moto


def _remember_backends_per_host() -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    original = DomainDispatcherApplication.get_backend_for_host
    found: dict[str | None, Any] = {}

    def get_backend_for_host(self: Any, host: str | None) -> Any:
        if host not in found:  # a miss may run twice under races; the answer is the same
            found[host] = original(self, host)
        return found[host]

    DomainDispatcherApplication.get_backend_for_host = get_backend_for_host  # type: ignore[method-assign]  # patching moto


def _action_names_per_class() -> None:
    """moto lists a response class's methods (``inspect.getmembers``) on every request to find the action's
    handler; the list changes only when a class or one of its bases gains or loses an attribute (an
    emulation adding an action), so it is kept per class and the sizes of its classes' namespaces."""
    from moto.core import responses

    original = vars(responses)["method_names_from_class"]  # moto re-exports it without saying so
    kept: dict[tuple[Any, ...], list[str]] = {}

    def method_names_from_class(clazz: Any) -> list[str]:
        key = (clazz, *(len(vars(base)) for base in clazz.__mro__))
        names = kept.get(key)
        if names is None:
            names = kept[key] = original(clazz)
        return names

    responses.method_names_from_class = method_names_from_class  # type: ignore[attr-defined]


def _json_paths_parsed_once() -> None:
    """moto's interpreter parses a state's JSONPath (``InputPath``, ``ResultPath``, ``$.x`` parameters) on
    every evaluation, and jsonpath_ng builds a new yacc parser for each: a few milliseconds per state. A
    parsed path is a value (``find`` and ``update`` never change it), so each is parsed once."""
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    for module in (json_path, result_path):  # patching moto's modules
        patched: Any = module
        patched.parse = functools.lru_cache(maxsize=4096)(patched.parse)


def _one_lambda_client_per_region() -> None:
    """moto's interpreter builds a new boto3 Lambda client for every Task it runs (creating one costs more
    than the invoke it makes); one client per region and endpoint serves every Task, from any thread, as a
    long-lived Step Functions service would."""
    from moto.core.models import botocore_stubber
    from moto.settings import moto_server_port
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    original = vars(lambda_eval_utils)["boto_client_for"]  # moto re-exports it without saying so
    clients: dict[tuple[str, str, bool, str], Any] = {}
    clients_lock = threading.Lock()

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        # moto builds the same client whatever the state's credentials (its ``Credentials`` field)
        key = (region, service, bool(botocore_stubber.enabled), str(moto_server_port()))
        with clients_lock:
            client = clients.get(key)
            if client is None:
                client = clients[key] = original(region=region, service=service)
        return client

    lambda_eval_utils.boto_client_for = boto_client_for  # type: ignore[attr-defined]  # patching moto


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


# How often a Task's wait looks whether its execution was stopped meanwhile.
_STOP_POLL_SECONDS = 0.05


def _stop_ends_every_wait() -> None:
    """``ExecutionState._evaluate_with_timeout`` of moto 5.2.5, waiting for the Task's thread only while the
    execution runs: once it is stopped the state returns without a result, and the interpreter (which looks
    whether the program still runs after every state) ends the execution ABORTED."""
    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import EvalTimeoutError
    from moto.stepfunctions.parser.asl.component.state.exec import execute_state
    from moto.stepfunctions.parser.asl.eval.environment import Environment
    from moto.stepfunctions.parser.utils import TMP_THREADS

    original = execute_state.ExecutionState._evaluate_with_timeout
    assert "terminated_event.wait(timeout_seconds)" in inspect.getsource(original), "moto changed"

    def _evaluate_with_timeout(self: Any, env: Environment) -> None:
        self.timeout.eval(env=env)
        timeout_seconds: int = env.stack.pop()

        frame: Environment = env.open_frame()
        frame.states.reset(input_value=env.states.get_input())
        frame.stack = copy.deepcopy(env.stack)
        execution_outputs: list[Any] = []
        execution_exceptions: list[Exception | None] = [None]
        terminated_event = threading.Event()

        def _exec_and_notify() -> None:
            try:
                self._eval_execution(frame)
                execution_outputs.extend(frame.stack)
            except Exception as ex:
                execution_exceptions.append(ex)
            terminated_event.set()

        thread = threading.Thread(target=_exec_and_notify, daemon=True)
        TMP_THREADS.append(thread)
        thread.start()

        ends = time.monotonic() + timeout_seconds
        finished_on_time = False
        while env.is_running():
            left = ends - time.monotonic()
            if left <= 0:
                break
            if terminated_event.wait(min(left, _STOP_POLL_SECONDS)):
                finished_on_time = True
                break
        frame.set_ended()
        env.close_frame(frame)
        if not env.is_running() and not finished_on_time:
            return  # stopped while the task ran: nothing of it counts

        execution_exception = execution_exceptions.pop()
        if execution_exception:
            raise execution_exception

        if not finished_on_time:
            raise EvalTimeoutError()

        execution_output = execution_outputs.pop()
        env.stack.append(execution_output)

        if not self._is_language_query_jsonpath():
            env.states.set_result(execution_output)

        if self.assign_decl:
            self.assign_decl.eval(env=env)

        if self.result_selector:
            self.result_selector.eval(env=env)

        if self.result_path:
            self.result_path.eval(env)
        else:
            res = env.stack.pop()
            env.states.reset(input_value=res)

    execute_state.ExecutionState._evaluate_with_timeout = _evaluate_with_timeout  # type: ignore[method-assign]  # patching moto


# How long a stop waits for an execution's worker thread to set up its environment.
_WORKER_START_SECONDS = 5.0


def _stop_right_after_start() -> None:
    """moto 5.2.5's ``ExecutionWorker.stop`` fails with AttributeError (a 500 to StopExecution) when the stop
    comes before the worker thread created its environment, a moment after StartExecution returned; on AWS a
    stop right after a start is accepted. The stop waits for the environment, then stops as moto does."""
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    original = ExecutionWorker.stop
    assert "self.env.set_stop" in inspect.getsource(original), "moto changed"

    def stop(self: Any, stop_date: Any, error: str | None, cause: str | None) -> None:
        deadline = time.monotonic() + _WORKER_START_SECONDS
        while self.env is None and time.monotonic() < deadline:
            time.sleep(0.005)
        original(self, stop_date, error, cause)

    ExecutionWorker.stop = stop  # type: ignore[method-assign]
