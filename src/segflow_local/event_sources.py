"""What AWS would call the functions with, emulated: EventBridge rules on execution status changes, and
DynamoDB stream event source mappings.

moto records executions and stream records but invokes nothing for them (its Lambda runs no code without
Docker). These pollers read the same facts through the AWS APIs and invoke the declared functions through the
local runtime with the event shapes AWS uses, so the handlers the stack deploys are the ones that run here:

- :class:`ExecutionStatusRules`: "Step Functions Execution Status Change" for the statuses a rule names;
- :class:`StreamConsumers`: a table's stream, in order (parallelization factor 1), in batches, only the
  records the consumer's filter accepts (its declared event names, as the mapping's filter criteria).

moto wakes them when an execution ends or a stream gets a record, so they look right away, and only then
(or after a quiet second).
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from segflow import declaration
from segflow.declaration import ExecutionStatusRuleSpec, StreamConsumerSpec

from segflow_local.lambda_invocation import LOCAL_ACCOUNT_ID, LOCAL_REGION, InvokeResult, local_function_name

logger = logging.getLogger(__name__)

Invoke = Callable[[str, bytes], InvokeResult]
# moto tells the pollers when to look (an execution ended, a stream got a record: :func:`_watch_moto`); these
# are how long a poller waits when told nothing.
STATUS_POLL_SECONDS = 1.0
STREAM_POLL_SECONDS = 1.0


def _ms(value: Any) -> int | None:
    return int(value.timestamp() * 1000) if isinstance(value, datetime) else None


def status_change_event(description: dict[str, Any]) -> dict[str, Any]:
    """EventBridge's event for an execution that reached ``description["status"]``."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": LOCAL_ACCOUNT_ID,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": LOCAL_REGION,
        "resources": [description["executionArn"]],
        "detail": {
            "executionArn": description["executionArn"],
            "stateMachineArn": description["stateMachineArn"],
            "name": description["name"],
            "status": description["status"],
            "startDate": _ms(description.get("startDate")),
            "stopDate": _ms(description.get("stopDate")),
            "input": description.get("input"),
            "output": description.get("output"),
            "error": description.get("error"),
            "cause": description.get("cause"),
        },
    }


_STATUS, _STREAM = "status", "stream"
_wake_ups: dict[str, set[threading.Event]] = {_STATUS: set(), _STREAM: set()}
_wake_lock = threading.Lock()
_watching = False


def _wake(kind: str) -> None:
    with _wake_lock:
        events = list(_wake_ups[kind])
    for event in events:
        event.set()


def _watch_moto() -> None:
    """Wake the pollers when moto changes what they read: an execution ends, a table's stream gets a record.
    They still read it through the APIs (ListExecutions, GetRecords) as before; they no longer look dozens
    of times a second to find nothing (each look a full request through moto)."""
    global _watching
    with _wake_lock:
        if _watching:
            return
        from moto.dynamodb.models.table import StreamShard
        from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication

        stream_add = StreamShard.add
        terminated = BaseExecutionWorkerCommunication.terminated

        def add(self: Any, old: Any, new: Any) -> None:
            stream_add(self, old, new)
            _wake(_STREAM)

        def ended(self: Any) -> None:
            terminated(self)
            _wake(_STATUS)

        StreamShard.add = add  # type: ignore[method-assign]
        BaseExecutionWorkerCommunication.terminated = ended  # type: ignore[method-assign]
        _watching = True


class _Poller:
    def __init__(self, name: str, interval: float, kind: str) -> None:
        self._name = name
        self._interval = interval
        self._kind = kind
        self._stop = threading.Event()
        self._wake_up = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._prime()
        with _wake_lock:
            _wake_ups[self._kind].add(self._wake_up)
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake_up.set()
        with _wake_lock:
            _wake_ups[self._kind].discard(self._wake_up)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake_up.clear()  # a change from now on wakes the wait below
            try:
                busy = self._poll()
            except Exception:  # keep polling: a failed round is retried, as AWS retries deliveries
                logger.exception("%s: poll failed", self._name)
                busy = False
            if not busy:
                self._wake_up.wait(self._interval)

    def _prime(self) -> None: ...

    def _poll(self) -> bool:
        raise NotImplementedError


class ExecutionStatusRules(_Poller):
    """Each rule's function gets one event per execution that reaches one of its statuses."""

    def __init__(self, sfn: Any, state_machine_arns: dict[str, str], stage: str, invoke: Invoke) -> None:
        super().__init__("segflow-status-rules", STATUS_POLL_SECONDS, _STATUS)
        self._sfn = sfn
        self._invoke = invoke
        self._rules: list[tuple[ExecutionStatusRuleSpec, str, str]] = [
            (
                rule,
                state_machine_arns[rule.state_machine],
                local_function_name(stage, declaration.function_by_id(rule.function)),
            )
            for rule in declaration.EXECUTION_STATUS_RULES
        ]
        self._seen: set[str] = set()

    def _ended(self, machine_arn: str, status: str) -> list[dict[str, Any]]:
        found, kwargs = [], {"stateMachineArn": machine_arn, "statusFilter": status, "maxResults": 1000}
        while True:
            page = self._sfn.list_executions(**kwargs)
            found += page["executions"]
            if not page.get("nextToken"):
                return found
            kwargs["nextToken"] = page["nextToken"]

    def _prime(self) -> None:
        for rule, machine_arn, _ in self._rules:
            for status in rule.statuses:
                self._seen.update(e["executionArn"] for e in self._ended(machine_arn, status))

    def _poll(self) -> bool:
        for rule, machine_arn, function in self._rules:
            for status in rule.statuses:
                for execution in self._ended(machine_arn, status):
                    arn = execution["executionArn"]
                    if arn in self._seen:
                        continue
                    self._seen.add(arn)
                    description = self._sfn.describe_execution(executionArn=arn)
                    self._invoke(function, json.dumps(status_change_event(description), default=str).encode())
        return False


class StreamConsumers(_Poller):
    """Each consumer's function gets its table's new stream records that pass its filter, in order, up to its
    batch size; records filtered out are consumed without an invocation, as Lambda's filter criteria do."""

    def __init__(
        self, dynamodb: Any, streams: Any, table_names: dict[str, str], stage: str, invoke: Invoke
    ) -> None:
        super().__init__("segflow-stream-consumers", STREAM_POLL_SECONDS, _STREAM)
        self._dynamodb = dynamodb
        self._streams = streams
        self._invoke = invoke
        self._consumers: list[tuple[StreamConsumerSpec, str, str]] = []
        for consumer in declaration.STREAM_CONSUMERS:
            table = self._dynamodb.describe_table(TableName=table_names[consumer.table])["Table"]
            function = local_function_name(stage, declaration.function_by_id(consumer.function))
            self._consumers.append((consumer, table["LatestStreamArn"], function))
        self._iterators: dict[str, str] = {}

    def _prime(self) -> None:
        for _, stream_arn, _ in self._consumers:
            shard = self._streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]
            self._iterators[stream_arn] = self._streams.get_shard_iterator(
                StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="LATEST"
            )["ShardIterator"]

    def _poll(self) -> bool:
        busy = False
        for consumer, stream_arn, function in self._consumers:
            response = self._streams.get_records(
                ShardIterator=self._iterators[stream_arn], Limit=consumer.batch_size
            )
            records = [record for record in response.get("Records", []) if consumer.accepts(record)]
            if records:
                for record in records:
                    record["eventSourceARN"] = stream_arn
                payload = json.dumps({"Records": records}, default=_stream_json).encode()
                result = self._invoke(function, payload)
                if result.function_error:  # AWS retries the batch; so do we, from the same position
                    logger.warning("%s failed on a stream batch: %s", function, result.payload[:300])
                    continue
                busy = True
            self._iterators[stream_arn] = response["NextShardIterator"]
        return busy


def _stream_json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, bytes | bytearray):  # a binary attribute: base64 in the event, as Lambda sends it
        return base64.b64encode(value).decode()
    return str(value)


def start_event_sources(aws_session: Any, stack: Any, invoke: Invoke, streams: bool) -> list[_Poller]:
    """Start the status rules (always) and the stream consumers (when something can receive their pushes)."""
    _watch_moto()
    pollers: list[_Poller] = [
        ExecutionStatusRules(
            aws_session.client("stepfunctions", region_name=LOCAL_REGION),
            stack.state_machine_arns,
            stack.stage,
            invoke,
        )
    ]
    if streams:
        pollers.append(
            StreamConsumers(
                aws_session.client("dynamodb", region_name=LOCAL_REGION),
                aws_session.client("dynamodbstreams", region_name=LOCAL_REGION),
                stack.table_names,
                stack.stage,
                invoke,
            )
        )
    for poller in pollers:
        poller.start()
    return pollers


def stop_event_sources(pollers: list[_Poller]) -> None:
    for poller in pollers:
        poller.stop()
