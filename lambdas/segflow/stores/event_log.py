"""The execution log: every state change of an execution, numbered 1, 2, 3 … without gaps, kept in DynamoDB.

Events live in the events table under the execution's key (``pk = EXEC#<tenant>#<execution_id>``,
``sk = SEQ#<seq>``), each with the full event as JSON. The counter is the ``event_seq`` attribute of the
execution's META item in the executions table: one transaction raises it from the value read and puts the
events numbered after it, so a number is never taken twice or skipped, whoever writes. A transaction may carry
other items (a node's checkpoint), so a state change and its event are stored together or not at all.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from segflow.events.models import EventDraft, ExecutionEvent, Progress
from segflow.limits import EVENT_PAGE_SIZE, EVENT_TEXT_MAX_CHARS
from segflow.stores.dynamo_items import encode_item, expires_at
from segflow.stores.execution_records import execution_pk

# DynamoDB allows 100 items per transaction: the counter update, then events and their companions.
MAX_TRANSACTION_ITEMS = 100
_MAX_ATTEMPTS = 50


class ExecutionNotStarted(Exception):
    """The execution has no META item yet: nothing can be logged for it."""


class ExecutionFinished(Exception):
    """The execution is no longer RUNNING: its end was already recorded (with its event)."""


class CompanionRejected(Exception):
    """A companion item's condition failed (its index among the companions): nothing was written."""

    def __init__(self, index: int) -> None:
        super().__init__(f"companion item {index} failed its condition")
        self.index = index


@dataclass
class _Counter:
    seq: int
    completed: int
    total: int
    status: str = "RUNNING"


@dataclass(frozen=True)
class ExecutionIdentity:
    tenant_id: str
    execution_id: str
    workflow_id: str
    version: int | None


def event_sk(seq: int) -> str:
    return f"SEQ#{seq:012d}"


def _cut(text: str | None) -> str | None:
    if text is None or len(text) <= EVENT_TEXT_MAX_CHARS:
        return text
    return text[: EVENT_TEXT_MAX_CHARS - 1] + "…"


class EventLog:
    def __init__(self, events_table: str, executions_table: str, dynamodb_client: Any) -> None:
        self.events_table = events_table
        self.executions_table = executions_table
        self._client = dynamodb_client
        self._counters: dict[tuple[str, str], _Counter] = {}

    # --- writing ------------------------------------------------------------------------------------------

    def append(
        self,
        execution: ExecutionIdentity,
        drafts: list[EventDraft],
        companions: list[dict[str, Any]] | None = None,
        finish: dict[str, Any] | None = None,
    ) -> list[ExecutionEvent]:
        """Number and store ``drafts``, with ``companions`` (TransactWriteItems entries) in the same
        transaction. Raises :class:`CompanionRejected` if a companion's condition fails.

        ``finish``: attributes that end the execution (status, finished_at, …), set on its META item in the
        same transaction, only while it is RUNNING; else :class:`ExecutionFinished`, nothing written."""
        companions = companions or []
        if len(drafts) + len(companions) + 1 > MAX_TRANSACTION_ITEMS:
            raise ValueError(f"{len(drafts)} events and {len(companions)} items exceed one transaction")
        key = (execution.tenant_id, execution.execution_id)
        for attempt in range(_MAX_ATTEMPTS):
            counter = self._counters.get(key) or self._read_counter(execution)
            if finish is not None and counter.status != "RUNNING":
                raise ExecutionFinished(f"execution {execution.execution_id} is {counter.status}")
            events = self._number(execution, drafts, counter)
            try:
                self._write(execution, counter, events, drafts, companions, finish)
            except ClientError as error:
                if error.response["Error"]["Code"] != "TransactionCanceledException":
                    raise
                reasons = [r.get("Code") for r in error.response.get("CancellationReasons", [])]
                rejected = [
                    i for i, code in enumerate(reasons[1 + len(events) :]) if code == "ConditionalCheckFailed"
                ]
                if rejected:
                    raise CompanionRejected(rejected[0]) from error
                self._counters.pop(key, None)  # another writer moved the counter: read it again
                time.sleep(random.uniform(0, 0.005 * min(attempt + 1, 10)))
                continue
            self._counters[key] = _Counter(
                counter.seq + len(events),
                counter.completed + sum(1 for d in drafts if d.completes_node),
                counter.total,
                str((finish or {}).get("status", counter.status)),
            )
            return events
        raise RuntimeError(f"could not log events for {execution.execution_id}: the counter kept moving")

    def _read_counter(self, execution: ExecutionIdentity) -> _Counter:
        response = self._client.get_item(
            TableName=self.executions_table,
            Key=encode_item({"pk": execution_pk(execution.tenant_id, execution.execution_id), "sk": "META"}),
            ProjectionExpression="event_seq, nodes_completed, node_count, #status",
            ExpressionAttributeNames={"#status": "status"},
            ConsistentRead=True,
        )
        item = response.get("Item")
        if not item:
            raise ExecutionNotStarted(f"execution {execution.execution_id} has no record")
        return _Counter(
            int(item.get("event_seq", {}).get("N", 0)),
            int(item.get("nodes_completed", {}).get("N", 0)),
            int(item.get("node_count", {}).get("N", 0)),
            item.get("status", {}).get("S", "RUNNING"),
        )

    @staticmethod
    def _number(
        execution: ExecutionIdentity, drafts: list[EventDraft], counter: _Counter
    ) -> list[ExecutionEvent]:
        events, completed = [], counter.completed
        for offset, draft in enumerate(drafts, start=1):
            completed += 1 if draft.completes_node else 0
            seq = counter.seq + offset
            events.append(
                ExecutionEvent(
                    event_id=f"{execution.execution_id}:{seq}",
                    seq=seq,
                    execution_id=execution.execution_id,
                    instance_id=execution.execution_id,
                    workflow_id=execution.workflow_id,
                    version=execution.version,
                    tenant_id=execution.tenant_id,
                    progress=Progress(completed=completed, total=counter.total),
                    **{
                        **draft.model_dump(exclude={"completes_node"}),
                        "reason": _cut(draft.reason),
                        "error": _cut(draft.error),
                    },
                )
            )
        return events

    def _write(
        self,
        execution: ExecutionIdentity,
        counter: _Counter,
        events: list[ExecutionEvent],
        drafts: list[EventDraft],
        companions: list[dict[str, Any]],
        finish: dict[str, Any] | None,
    ) -> None:
        pk = execution_pk(execution.tenant_id, execution.execution_id)
        completed = sum(1 for d in drafts if d.completes_node)
        condition = "attribute_not_exists(event_seq)" if counter.seq == 0 else "event_seq = :expected"
        values: dict[str, Any] = {":count": len(events), ":completed": completed}
        names: dict[str, str] = {}
        if counter.seq:
            values[":expected"] = counter.seq
        update = "ADD event_seq :count, nodes_completed :completed"
        if finish:
            sets = []
            for index, (field, value) in enumerate(sorted(finish.items())):
                if value is not None:
                    names[f"#f{index}"], values[f":f{index}"] = field, value
                    sets.append(f"#f{index} = :f{index}")
            update += " SET " + ", ".join(sets)
            names["#current"], values[":running"] = "status", "RUNNING"
            condition += " AND #current = :running"
        counter_update = {
            "Update": {
                "TableName": self.executions_table,
                "Key": encode_item({"pk": pk, "sk": "META"}),
                "UpdateExpression": update,
                "ConditionExpression": f"attribute_exists(pk) AND {condition}",
                "ExpressionAttributeValues": encode_item(values),
                **({"ExpressionAttributeNames": names} if names else {}),
            }
        }
        ttl = expires_at()
        puts = [
            {
                "Put": {
                    "TableName": self.events_table,
                    "Item": encode_item(
                        {
                            "pk": pk,
                            "sk": event_sk(event.seq),
                            "seq": event.seq,
                            "event": event.model_dump_json(exclude_none=True),
                            "expires_at": ttl,
                        }
                    ),
                    "ConditionExpression": "attribute_not_exists(sk)",
                }
            }
            for event in events
        ]
        self._client.transact_write_items(TransactItems=[counter_update, *puts, *companions])

    # --- reading ------------------------------------------------------------------------------------------

    def read(
        self, tenant_id: str, execution_id: str, after_seq: int = 0, limit: int = EVENT_PAGE_SIZE
    ) -> list[tuple[int, str]]:
        """Up to ``limit`` stored events after ``after_seq``, in order: (seq, the JSON it was stored as)."""
        response = self._client.query(
            TableName=self.events_table,
            KeyConditionExpression="pk = :pk AND sk > :after",
            ExpressionAttributeValues=encode_item(
                {":pk": execution_pk(tenant_id, execution_id), ":after": event_sk(after_seq)}
            ),
            ConsistentRead=True,
            Limit=limit,
        )
        return [(int(item["seq"]["N"]), item["event"]["S"]) for item in response.get("Items", [])]

    def read_all(self, tenant_id: str, execution_id: str, after_seq: int = 0) -> list[ExecutionEvent]:
        events: list[ExecutionEvent] = []
        while True:
            page = self.read(tenant_id, execution_id, after_seq)
            events += [ExecutionEvent.model_validate_json(text) for _, text in page]
            if len(page) < EVENT_PAGE_SIZE:
                return events
            after_seq = events[-1].seq

    def latest_seq(self, tenant_id: str, execution_id: str) -> int:
        response = self._client.query(
            TableName=self.events_table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues=encode_item({":pk": execution_pk(tenant_id, execution_id)}),
            ProjectionExpression="seq",
            ScanIndexForward=False,
            ConsistentRead=True,
            Limit=1,
        )
        items = response.get("Items", [])
        return int(items[0]["seq"]["N"]) if items else 0
