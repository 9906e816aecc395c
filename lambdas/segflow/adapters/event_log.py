"""The execution log: every state change of an execution, numbered by a per-execution ``seq``, in DynamoDB.

Events live in the events table under the execution's key (``pk = EXEC#<tenant>#<execution_id>``,
``sk = SEQ#<seq>``). Numbers come from the execution's counter, the ``LOG`` item beside its META item in the
executions table (``event_seq``, ``nodes_completed``, ``node_count``, ``sealed_seq``, ``sealed_at``). Every
number handed out ends up holding exactly one item: its event, or a tombstone (a number whose change was not
stored).

Writing a batch of changes (:meth:`EventLog.append`) takes two requests, and no item every writer shares is
ever part of a transaction:

1. **Reserve** numbers for the whole batch: one ``UpdateItem ADD event_seq :n`` on the counter, without a
   condition on its value and outside any transaction. DynamoDB applies the updates of one item one after the
   other, so concurrent writers each get their own range and none fails or retries because of another.
2. **Commit** the events (each a Put allowed only into an empty slot) in one transaction with their companion
   items: a node's checkpoint, or the execution's end on META. Only the same node's other attempt, or a sealer
   closing a stalled number, can touch the same items. Conflicts and throttling are retried in the same
   numbers with jittered exponential backoff while the Lambda has time; then the numbers are closed and
   :class:`EventLogContention` is raised, which the state machine retries (the segment resumes from its
   checkpoints). A checkpoint and its event are stored together or not at all, as before.

Pages: a batch of more than one change (the pure nodes a segment ran, a resume's reused nodes) is stored as
one item, a page: ``sk = SEQ#<first>`` with ``last_seq`` and the events' JSON texts, one a line, compressed
(``events``, binary). Its numbers are the batch's reservation, so a page never straddles two writers'
numbers. Everything that closes numbers goes up from a reservation's first number and steps over an item
that covers a range, so no number is ever stored twice; a writer closes its own unused reservation with one
tombstone covering all of it. Readers expand pages: what they return is the same, number by number, as
if each event were an item of its own.

Reading: numbers are handed out before they are stored, so with concurrent writers seq 7 may be stored before
seq 6. Readers (``segflow events``, a subscription's replay, the live pusher) read in seq order up to the
first number not stored yet and never past it, so what they returned is final and resuming after its last seq
misses nothing; the missing number's item, when it comes, has its own stream record, which wakes the pusher.
Tombstones are no events: ``segflow events`` leaves them out, a live message lists them under ``skipped``.

Closing numbers: a writer closes its own numbers whenever its change is not stored (a companion refused, the
execution ended, out of time). A writer that dies between reserving and committing leaves a number nobody will
fill; sealing passes close those: writers run one at most every ``EVENT_LOG_SEAL_INTERVAL_SECONDS`` per
execution (claimed on the counter), up to one of their own numbers reserved at least
``EVENT_LOG_SEAL_GRACE_SECONDS`` ago, and the execution's end seals everything before its terminal event. A
tombstone is a conditional Put, so a stalled writer that comes back finds its slot taken, writes nothing and
takes new numbers: a slot never holds two things, a change is never lost or logged twice.

Progress: the reservation ADDs the batch's completed nodes to ``nodes_completed`` and returns the sum, so each
event carries the count up to itself; a change not stored gives its count back. A writer that died after
reserving leaves its count in (the node then completes again), so ``completed`` is capped at ``total`` and the
execution's end sets it to the count of finished node records.

docs/architecture.md ("Live events") weighs the alternatives: the one conditional counter this replaces, a
seq of per-writer parts, a sequencer that consumes the stream.
"""

from __future__ import annotations

import base64
import logging
import random
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from segflow.adapters.dynamo_items import encode_item, expires_at
from segflow.adapters.execution_records import execution_pk
from segflow.domain.errors import ExecutionFinished, ExecutionNotStarted
from segflow.domain.limits import (
    DYNAMODB_TRANSACTION_MAX_ITEMS,
    EVENT_LOG_BACKOFF_BASE_SECONDS,
    EVENT_LOG_BACKOFF_CAP_SECONDS,
    EVENT_LOG_DEADLINE_MARGIN_MS,
    EVENT_LOG_RETRY_SECONDS,
    EVENT_LOG_SEAL_GRACE_SECONDS,
    EVENT_LOG_SEAL_INTERVAL_SECONDS,
    EVENT_PAGE_SIZE,
    EVENT_TEXT_MAX_CHARS,
    LOG_PAGE_MAX_EVENTS,
)
from segflow.domain.records import ExecutionIdentity
from segflow.events.models import EventDraft, ExecutionEvent, Progress

logger = logging.getLogger(__name__)

MAX_TRANSACTION_ITEMS = DYNAMODB_TRANSACTION_MAX_ITEMS
COUNTER_SK = "LOG"
_CHECK_FAILED = "ConditionalCheckFailed"
# What a request that was not applied answers when DynamoDB is only busy: try again later.
_BUSY_CODES = frozenset(
    {
        "TransactionConflictException",
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "TransactionInProgressException",
    }
)
# The same, as the cancellation reasons of a transaction.
_BUSY_REASONS = frozenset(
    {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"}
)

Entry = tuple[int, str | None]  # (seq, the JSON the event was stored as; None for a closed number)


class CompanionRejected(Exception):
    """Companion items' conditions failed (their indexes among the companions, the first as ``index``):
    nothing was written."""

    def __init__(self, indexes: tuple[int, ...]) -> None:
        super().__init__(f"companion items {list(indexes)} failed their conditions")
        self.index = indexes[0]
        self.indexes = indexes


class EventLogContention(Exception):
    """Transaction conflicts or throttling outlasted the retries: nothing of the change was stored, and
    running the segment again is safe (it resumes from its checkpoints)."""


@dataclass(frozen=True)
class Appended:
    events: list[ExecutionEvent]


@dataclass(frozen=True)
class _Reservation:
    first: int
    count: int
    completed: int  # nodes_completed after the reservation
    completions: int  # how many of them this reservation added
    total: int
    sealed_seq: int
    sealed_at: float
    at: float  # time.monotonic() when it was taken

    @property
    def last(self) -> int:
        return self.first + self.count - 1


@dataclass(frozen=True)
class _Outcome:
    kind: str  # stored | rejected | finished | overtaken | busy
    rejected: tuple[int, ...] = ()


def event_sk(seq: int) -> str:
    return f"SEQ#{seq:012d}"


def _cut(text: str | None) -> str | None:
    if text is None or len(text) <= EVENT_TEXT_MAX_CHARS:
        return text
    return text[: EVENT_TEXT_MAX_CHARS - 1] + "…"


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _binary(value: Any) -> bytes:
    """A binary attribute's bytes: raw from the SDK, base64 in a stream record's JSON."""
    if isinstance(value, str):
        return base64.b64decode(value)
    return bytes(value)


def pack_events(texts: list[str]) -> bytes:
    """A page's ``events`` attribute: the events' JSON texts, one a line (JSON text holds no raw newline)."""
    return zlib.compress("\n".join(texts).encode())


def log_entries(item: dict[str, Any]) -> list[Entry]:
    """What one item of the log holds, number by number (an item as DynamoDB returns it, or a stream
    record's image): an event, a closed number, a page of consecutive events, or a closed range."""
    seq = int(item["seq"]["N"])
    if "events" in item:
        texts = zlib.decompress(_binary(item["events"]["B"])).decode().split("\n")
        return [(seq + offset, text) for offset, text in enumerate(texts)]
    if "event" in item:
        return [(seq, item["event"]["S"])]
    last = int(item["last_seq"]["N"]) if "last_seq" in item else seq
    return [(number, None) for number in range(seq, last + 1)]


def _last_of(item: dict[str, Any]) -> int:
    """The last number an item of the log covers."""
    return int(item["last_seq"]["N"]) if "last_seq" in item else int(item["seq"]["N"])


class EventLogReader:
    """Reading the log: only the events table."""

    def __init__(self, events_table: str, dynamodb_client: Any) -> None:
        self.events_table = events_table
        self._client = dynamodb_client

    def read(
        self, tenant_id: str, execution_id: str, after_seq: int = 0, limit: int = EVENT_PAGE_SIZE
    ) -> list[tuple[int, str | None]]:
        """Up to ``limit`` numbers after ``after_seq``, in order, up to the first one not stored yet: (seq,
        the JSON the event was stored as), or (seq, None) for a tombstone. A page shorter than ``limit``
        ends at the log's end or at a number still in flight."""
        return self._entries(execution_pk(tenant_id, execution_id), after_seq, limit)

    def read_all(self, tenant_id: str, execution_id: str, after_seq: int = 0) -> list[ExecutionEvent]:
        """Every event after ``after_seq`` up to the first number not stored yet (tombstones left out)."""
        entries = self._entries(execution_pk(tenant_id, execution_id), after_seq, None)
        return [ExecutionEvent.model_validate_json(text) for _, text in entries if text is not None]

    def latest_seq(self, tenant_id: str, execution_id: str) -> int:
        """The highest number stored (an event or a tombstone); lower ones may still be in flight."""
        response = self._client.query(
            TableName=self.events_table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues=encode_item({":pk": execution_pk(tenant_id, execution_id)}),
            ProjectionExpression="seq, last_seq",
            ScanIndexForward=False,
            ConsistentRead=True,
            Limit=1,
        )
        items = response.get("Items", [])
        return _last_of(items[0]) if items else 0

    def _entries(self, pk: str, after_seq: int, limit: int | None) -> list[Entry]:
        """The numbers after ``after_seq`` (``limit`` of them at most) up to the first not stored yet."""
        found: list[Entry] = []
        wanted = after_seq + 1

        def take(entries: list[Entry]) -> bool:
            """Add what follows on; False at a number not stored yet or once ``limit`` are taken."""
            nonlocal wanted
            for seq, text in entries:
                if seq < wanted:
                    continue
                if seq != wanted or (limit is not None and len(found) >= limit):
                    return False
                found.append((seq, text))
                wanted += 1
            return limit is None or len(found) < limit

        request: dict[str, Any] = {
            "TableName": self.events_table,
            "KeyConditionExpression": "pk = :pk AND sk > :after",
            "ExpressionAttributeValues": encode_item({":pk": pk, ":after": event_sk(after_seq)}),
            "ConsistentRead": True,
        }
        if limit is not None:
            request["Limit"] = limit
        first = True
        while True:
            response = self._client.query(**request)
            items = response.get("Items", [])
            if first and after_seq > 0 and (not items or int(items[0]["seq"]["N"]) != wanted):
                # the number after ``after_seq`` may be inside a page that starts at or before it
                covering = self._item_at_or_before(pk, wanted)
                if covering is not None and _last_of(covering) >= wanted and not take(log_entries(covering)):
                    return found
            first = False
            for item in items:
                if not take(log_entries(item)):
                    return found
            if "LastEvaluatedKey" not in response:
                return found
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def _item_at_or_before(self, pk: str, seq: int) -> dict[str, Any] | None:
        response = self._client.query(
            TableName=self.events_table,
            KeyConditionExpression="pk = :pk AND sk <= :seq",
            ExpressionAttributeValues=encode_item({":pk": pk, ":seq": event_sk(seq)}),
            ScanIndexForward=False,
            ConsistentRead=True,
            Limit=1,
        )
        items: list[dict[str, Any]] = response.get("Items", [])
        return items[0] if items else None


class EventLog(EventLogReader):
    """Reading and writing the log (writers also need the executions table, for the counter)."""

    def __init__(
        self,
        events_table: str,
        executions_table: str,
        dynamodb_client: Any,
        remaining_ms: Callable[[], int] | None = None,
    ) -> None:
        super().__init__(events_table, dynamodb_client)
        self.executions_table = executions_table
        self._remaining_ms = remaining_ms
        # This writer's reservations per execution, newest last: (last seq, time.monotonic()).
        self._reserved: dict[str, list[tuple[int, float]]] = {}

    # --- writing ------------------------------------------------------------------------------------------

    def append(
        self,
        execution: ExecutionIdentity,
        drafts: list[EventDraft],
        companions: list[dict[str, Any]] | None = None,
        finish: dict[str, Any] | None = None,
        completed: int | None = None,
    ) -> Appended:
        """Number and store ``drafts`` (more than one as pages of consecutive events) in one transaction with
        ``companions`` (TransactWriteItems entries): all of it is stored, or nothing. A companion whose
        condition fails raises :class:`CompanionRejected` (nothing written).

        ``finish``: attributes that end the execution (status, finished_at, …), set on its META item with the
        event, only while it is RUNNING; else :class:`ExecutionFinished`, nothing written. ``completed`` sets
        the progress count the event carries (the execution's end knows it exactly)."""
        companions = companions or []
        pages = -(-len(drafts) // LOG_PAGE_MAX_EVENTS) if len(drafts) > 1 else len(drafts)
        if pages + len(companions) + (1 if finish else 0) > MAX_TRANSACTION_ITEMS:
            raise ValueError(f"{len(drafts)} events and {len(companions)} items exceed one transaction")
        if not drafts:
            return Appended([])
        pk = execution_pk(execution.tenant_id, execution.execution_id)
        if finish is not None:
            self._check_running(pk, execution)
        deadline = self._deadline()
        reservation: _Reservation | None = None
        reservations = 0
        while True:
            if reservation is None:
                if reservations:  # the first numbers could not be used: take new ones while there is time
                    self._check_time(execution, deadline)
                reservations += 1
                reservation = self._reserve(pk, execution, drafts, completed, deadline)
                if finish is not None:  # the end closes every number before its own
                    try:
                        self.seal(execution, reservation.first - 1, reservation.sealed_seq)
                    except Exception:
                        self._close(pk, reservation)
                        raise
            events = self._number(execution, drafts, reservation)
            request, event_items = self._request(pk, events, companions, finish)
            try:
                outcome = self._commit(request, event_items, len(companions), finish, deadline)
            except Exception:
                if not self._committed_anyway(pk, reservation, request[:event_items]):
                    raise
                outcome = _Outcome("stored")
            if outcome.kind == "stored":
                self._after_commit(pk, execution, reservation)
                return Appended(events)
            self._close(pk, reservation)
            if outcome.kind == "rejected":
                raise CompanionRejected(outcome.rejected)
            if outcome.kind == "finished":
                raise ExecutionFinished(f"execution {execution.execution_id} is no longer running")
            if outcome.kind == "busy":
                raise EventLogContention(
                    f"EventLogContention: could not log events for {execution.execution_id}: DynamoDB kept "
                    "answering with conflicts or throttling"
                )
            reservation = None  # overtaken: a sealer closed one of the numbers; take new ones

    def _deadline(self) -> float:
        budget = EVENT_LOG_RETRY_SECONDS
        if self._remaining_ms is not None:
            budget = min(budget, (self._remaining_ms() - EVENT_LOG_DEADLINE_MARGIN_MS) / 1000)
        return time.monotonic() + max(0.0, budget)

    @staticmethod
    def _check_time(execution: ExecutionIdentity, deadline: float) -> None:
        if time.monotonic() > deadline:
            raise EventLogContention(
                f"EventLogContention: could not log events for {execution.execution_id} in time"
            )

    @staticmethod
    def _backoff(attempt: int, deadline: float) -> bool:
        """Sleep a jittered, growing delay; False (no sleep) if it would pass the deadline."""
        delay = random.uniform(
            0, min(EVENT_LOG_BACKOFF_CAP_SECONDS, EVENT_LOG_BACKOFF_BASE_SECONDS * 2**attempt)
        )
        if time.monotonic() + delay > deadline:
            return False
        time.sleep(delay)
        return True

    def _counter_key(self, pk: str) -> dict[str, Any]:
        return encode_item({"pk": pk, "sk": COUNTER_SK})

    def _check_running(self, pk: str, execution: ExecutionIdentity) -> None:
        item = self._client.get_item(
            TableName=self.executions_table,
            Key=encode_item({"pk": pk, "sk": "META"}),
            ProjectionExpression="#status",
            ExpressionAttributeNames={"#status": "status"},
            ConsistentRead=True,
        ).get("Item")
        if not item:
            raise ExecutionNotStarted(f"execution {execution.execution_id} has no record")
        status = item.get("status", {}).get("S", "RUNNING")
        if status != "RUNNING":
            raise ExecutionFinished(f"execution {execution.execution_id} is {status}")

    def _reserve(
        self,
        pk: str,
        execution: ExecutionIdentity,
        drafts: list[EventDraft],
        completed: int | None,
        deadline: float,
    ) -> _Reservation:
        completions = sum(1 for d in drafts if d.completes_node)
        if completed is None:
            update, values = "ADD event_seq :n, nodes_completed :c", {":n": len(drafts), ":c": completions}
        else:
            update, values = "SET nodes_completed = :c ADD event_seq :n", {":n": len(drafts), ":c": completed}
        attempt = 0
        while True:
            try:
                response = self._client.update_item(
                    TableName=self.executions_table,
                    Key=self._counter_key(pk),
                    UpdateExpression=update,
                    ConditionExpression="attribute_exists(pk)",
                    ExpressionAttributeValues=encode_item(values),
                    ReturnValues="ALL_NEW",
                )
                break
            except ClientError as error:
                if _code(error) == "ConditionalCheckFailedException":
                    self._create_counter(pk, execution)
                    continue
                if _code(error) not in _BUSY_CODES:
                    raise
                if not self._backoff(attempt, deadline):
                    raise EventLogContention(
                        f"EventLogContention: the log counter of {execution.execution_id} stayed throttled"
                    ) from error
                attempt += 1
        item = response["Attributes"]
        last = int(item["event_seq"]["N"])
        reservation = _Reservation(
            first=last - len(drafts) + 1,
            count=len(drafts),
            completed=int(item.get("nodes_completed", {}).get("N", 0)),
            completions=completions if completed is None else 0,
            total=int(item.get("node_count", {}).get("N", 0)),
            sealed_seq=int(item.get("sealed_seq", {}).get("N", 0)),
            sealed_at=float(item.get("sealed_at", {}).get("N", 0)),
            at=time.monotonic(),
        )
        self._reserved.setdefault(pk, []).append((reservation.last, reservation.at))
        return reservation

    def _create_counter(self, pk: str, execution: ExecutionIdentity) -> None:
        """The counter, created on the execution's first event. An execution logged by the earlier design
        (its counter on META, every number stored) continues from there."""
        meta = self._client.get_item(
            TableName=self.executions_table,
            Key=encode_item({"pk": pk, "sk": "META"}),
            ProjectionExpression="event_seq, nodes_completed, node_count, expires_at",
            ConsistentRead=True,
        ).get("Item")
        if not meta:
            raise ExecutionNotStarted(f"execution {execution.execution_id} has no record")
        seq = int(meta.get("event_seq", {}).get("N", 0))
        item = {
            "pk": pk,
            "sk": COUNTER_SK,
            "event_seq": seq,
            "nodes_completed": int(meta.get("nodes_completed", {}).get("N", 0)),
            "node_count": int(meta.get("node_count", {}).get("N", 0)),
            "sealed_seq": seq,
            "expires_at": int(meta["expires_at"]["N"]) if "expires_at" in meta else expires_at(),
        }
        try:
            self._client.put_item(
                TableName=self.executions_table,
                Item=encode_item(item),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as error:
            if _code(error) != "ConditionalCheckFailedException":  # another writer created it first
                raise

    @staticmethod
    def _number(
        execution: ExecutionIdentity, drafts: list[EventDraft], reservation: _Reservation
    ) -> list[ExecutionEvent]:
        events = []
        completed = reservation.completed - reservation.completions
        for offset, draft in enumerate(drafts):
            completed += 1 if draft.completes_node else 0
            seq = reservation.first + offset
            shown = min(completed, reservation.total) if reservation.total else completed
            events.append(
                ExecutionEvent(
                    event_id=f"{execution.execution_id}:{seq}",
                    seq=seq,
                    execution_id=execution.execution_id,
                    instance_id=execution.execution_id,
                    workflow_id=execution.workflow_id,
                    version=execution.version,
                    tenant_id=execution.tenant_id,
                    progress=Progress(completed=max(0, shown), total=reservation.total),
                    **{
                        **draft.model_dump(exclude={"completes_node"}),
                        "reason": _cut(draft.reason),
                        "error": _cut(draft.error),
                    },
                )
            )
        return events

    def _event_item(self, pk: str, event: ExecutionEvent, ttl: int) -> dict[str, Any]:
        return {
            "pk": pk,
            "sk": event_sk(event.seq),
            "seq": event.seq,
            "event": event.model_dump_json(exclude_none=True),
            "expires_at": ttl,
        }

    def _page_item(self, pk: str, events: list[ExecutionEvent], ttl: int) -> dict[str, Any]:
        return {
            "pk": pk,
            "sk": event_sk(events[0].seq),
            "seq": events[0].seq,
            "last_seq": events[-1].seq,
            "events": pack_events([event.model_dump_json(exclude_none=True) for event in events]),
            "expires_at": ttl,
        }

    def _request(
        self,
        pk: str,
        events: list[ExecutionEvent],
        companions: list[dict[str, Any]],
        finish: dict[str, Any] | None,
    ) -> tuple[list[dict[str, Any]], int]:
        """The transaction's items, and how many of the first ones hold the events."""
        ttl = expires_at()
        if len(events) == 1:
            stored = [self._event_item(pk, events[0], ttl)]
        else:
            stored = [
                self._page_item(pk, events[start : start + LOG_PAGE_MAX_EVENTS], ttl)
                for start in range(0, len(events), LOG_PAGE_MAX_EVENTS)
            ]
        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self.events_table,
                    "Item": encode_item(item),
                    "ConditionExpression": "attribute_not_exists(sk)",
                }
            }
            for item in stored
        ]
        items += companions
        if finish:
            names, values, sets = {"#current": "status"}, {":running": "RUNNING"}, []
            for index, (name, value) in enumerate(sorted(finish.items())):
                if value is not None:
                    names[f"#f{index}"], values[f":f{index}"] = name, value
                    sets.append(f"#f{index} = :f{index}")
            items.append(
                {
                    "Update": {
                        "TableName": self.executions_table,
                        "Key": encode_item({"pk": pk, "sk": "META"}),
                        "UpdateExpression": "SET " + ", ".join(sets),
                        "ConditionExpression": "attribute_exists(pk) AND #current = :running",
                        "ExpressionAttributeNames": names,
                        "ExpressionAttributeValues": encode_item(values),
                    }
                }
            )
        return items, len(stored)

    def _commit(
        self,
        request: list[dict[str, Any]],
        event_items: int,
        companions: int,
        finish: dict[str, Any] | None,
        deadline: float,
    ) -> _Outcome:
        attempt = 0
        while True:
            try:
                self._client.transact_write_items(TransactItems=request)
                return _Outcome("stored")
            except ClientError as error:
                code = _code(error)
                if code == "TransactionCanceledException":
                    reasons = [
                        str(r.get("Code") or "None") for r in error.response.get("CancellationReasons", [])
                    ]
                    refused = [
                        i
                        for i, c in enumerate(reasons[event_items : event_items + companions])
                        if c == _CHECK_FAILED
                    ]
                    if refused:
                        return _Outcome("rejected", tuple(refused))
                    if finish is not None and reasons[event_items + companions :][:1] == [_CHECK_FAILED]:
                        return _Outcome("finished")
                    if _CHECK_FAILED in reasons[:event_items]:
                        return _Outcome("overtaken")
                    if not _BUSY_REASONS.intersection(reasons):
                        raise
                elif code not in _BUSY_CODES:
                    raise
            if not self._backoff(attempt, deadline):
                return _Outcome("busy")
            attempt += 1

    def _tombstone(self, pk: str, seq: int, last: int | None = None) -> int | None:
        """Close ``seq`` (through ``last``, with one item, when given) unless something is stored there: None
        if this call closed it, else the last number the item stored there covers."""
        item: dict[str, Any] = {"pk": pk, "sk": event_sk(seq), "seq": seq, "tombstone": True}
        if last is not None and last > seq:
            item["last_seq"] = last
        try:
            self._client.put_item(
                TableName=self.events_table,
                Item=encode_item({**item, "expires_at": expires_at()}),
                ConditionExpression="attribute_not_exists(sk)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if _code(error) != "ConditionalCheckFailedException":
                raise
            taken = error.response.get("Item") or self._client.get_item(
                TableName=self.events_table,
                Key=encode_item({"pk": pk, "sk": event_sk(seq)}),
                ConsistentRead=True,
            ).get("Item")
            return _last_of(taken) if taken else seq
        return None

    def _close_numbers(self, pk: str, first: int, last: int, own: bool = False) -> int:
        """Close every number from ``first`` to ``last`` that holds nothing, going up and stepping over what
        an item stored covers; returns how many this call closed. ``own``: the numbers are this writer's one
        reservation, which one tombstone may close at once (nobody else stores a page inside it)."""
        if own and last > first and self._tombstone(pk, first, last) is None:
            return last - first + 1
        closed, seq = 0, first
        while seq <= last:
            taken = self._tombstone(pk, seq)
            if taken is None:
                closed, seq = closed + 1, seq + 1
            else:
                seq = max(seq, taken) + 1
        return closed

    def _give_back(self, pk: str, completions: int) -> None:
        if completions:
            self._client.update_item(
                TableName=self.executions_table,
                Key=self._counter_key(pk),
                UpdateExpression="ADD nodes_completed :c",
                ExpressionAttributeValues=encode_item({":c": -completions}),
            )

    def _close(self, pk: str, reservation: _Reservation) -> None:
        """The reservation's changes were not stored: close its numbers and give its count back. Best effort:
        a number left open is closed by the next sealing pass."""
        try:
            self._close_numbers(pk, reservation.first, reservation.last, own=True)
            self._give_back(pk, reservation.completions)
        except (ClientError, BotoCoreError):
            logger.warning(
                "could not close numbers %s-%s", reservation.first, reservation.last, exc_info=True
            )

    def _committed_anyway(
        self, pk: str, reservation: _Reservation, event_items: list[dict[str, Any]]
    ) -> bool:
        """After a commit whose outcome is unknown (a timeout, a 5xx after the SDK's retries): True if it
        was stored. Otherwise its numbers are closed (it can never be stored later), its count given back."""
        try:
            if self._close_numbers(pk, reservation.first, reservation.last, own=True):
                self._give_back(pk, reservation.completions)
                return False
            stored = self._client.get_item(
                TableName=self.events_table,
                Key=encode_item({"pk": pk, "sk": event_sk(reservation.first)}),
                ConsistentRead=True,
            ).get("Item", {})
        except (ClientError, BotoCoreError):
            logger.warning(
                "could not tell whether events %s-%s were stored", reservation.first, reservation.last
            )
            return False
        sent = event_items[0]["Put"]["Item"]
        if stored and log_entries(stored) == log_entries(sent):
            return True
        self._give_back(pk, reservation.completions)
        return False

    # --- sealing ------------------------------------------------------------------------------------------

    def _after_commit(self, pk: str, execution: ExecutionIdentity, reservation: _Reservation) -> None:
        """Run a sealing pass if this writer holds a number reserved long enough ago above the sealed part and
        no pass ran lately (claimed on the counter, so one writer runs it)."""
        now = time.monotonic()
        mine = self._reserved.get(pk, [])
        old = [last for last, at in mine if now - at >= EVENT_LOG_SEAL_GRACE_SECONDS]
        if not old:
            return
        self._reserved[pk] = [(last, at) for last, at in mine if now - at < EVENT_LOG_SEAL_GRACE_SECONDS]
        through = max(old)
        wall = time.time()
        if (
            through <= reservation.sealed_seq
            or wall - reservation.sealed_at < EVENT_LOG_SEAL_INTERVAL_SECONDS
        ):
            return
        try:
            self._client.update_item(
                TableName=self.executions_table,
                Key=self._counter_key(pk),
                UpdateExpression="SET sealed_at = :now",
                ConditionExpression="attribute_not_exists(sealed_at) OR sealed_at <= :stale",
                ExpressionAttributeValues=encode_item(
                    {":now": wall, ":stale": wall - EVENT_LOG_SEAL_INTERVAL_SECONDS}
                ),
            )
            self.seal(execution, through, reservation.sealed_seq)
        except ClientError as error:
            if _code(error) != "ConditionalCheckFailedException":  # not claimed: another writer seals
                logger.warning("sealing pass failed", exc_info=True)
        except BotoCoreError:  # this writer's change is stored; the next pass seals
            logger.warning("sealing pass failed", exc_info=True)

    def seal(self, execution: ExecutionIdentity, through: int, sealed_seq: int | None = None) -> int:
        """Close every number up to ``through`` that holds nothing yet (from ``sealed_seq``, the counter's
        mark of what is sealed, read if not given); returns how many this call closed."""
        pk = execution_pk(execution.tenant_id, execution.execution_id)
        if sealed_seq is None:
            item = self._client.get_item(
                TableName=self.executions_table,
                Key=self._counter_key(pk),
                ProjectionExpression="sealed_seq",
                ConsistentRead=True,
            ).get("Item", {})
            sealed_seq = int(item.get("sealed_seq", {}).get("N", 0))
        if through <= sealed_seq:
            return 0
        stored = self._stored(pk, sealed_seq + 1, through)
        closed, seq = 0, sealed_seq + 1
        for first, last in [*sorted(stored.items()), (through + 1, through)]:
            if seq < first:  # a run of numbers holding nothing (one reservation's or several): one by one
                closed += self._close_numbers(pk, seq, min(through, first - 1))
            seq = max(seq, last + 1)
        try:
            self._client.update_item(
                TableName=self.executions_table,
                Key=self._counter_key(pk),
                UpdateExpression="SET sealed_seq = :through",
                ConditionExpression="attribute_not_exists(sealed_seq) OR sealed_seq < :through",
                ExpressionAttributeValues=encode_item({":through": through}),
            )
        except ClientError as error:
            if _code(error) != "ConditionalCheckFailedException":  # a later pass got further
                raise
        return closed

    def _stored(self, pk: str, first: int, last: int) -> dict[int, int]:
        """The items stored from ``first`` to ``last``: first number -> last number each covers."""
        request: dict[str, Any] = {
            "TableName": self.events_table,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :first AND :last",
            "ExpressionAttributeValues": encode_item(
                {":pk": pk, ":first": event_sk(first), ":last": event_sk(last)}
            ),
            "ProjectionExpression": "seq, last_seq",
            "ConsistentRead": True,
        }
        found: dict[int, int] = {}
        while True:
            response = self._client.query(**request)
            found.update((int(item["seq"]["N"]), _last_of(item)) for item in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return found
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
