"""The execution log against moto's DynamoDB: many writers at once, writers that stall or die, and refusals.

AWS behaviour the embedded cloud does not produce by itself (a transaction conflict, a request that times
out, a process killed between two requests) is injected at the botocore layer of one writer's client, as the
network or DynamoDB would produce it. segflow's own code runs unchanged.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, ReadTimeoutError
from moto import mock_aws
from segflow.adapters.event_log import EventLog, EventLogContention, event_sk
from segflow.adapters.execution_records import ExecutionRecordStore, execution_pk
from segflow.adapters.journal import ExecutionJournal
from segflow.domain.errors import CheckpointConflict, ExecutionFinished
from segflow.domain.records import ExecutionIdentity, ExecutionRecord, NodeRecord
from segflow.engine.live_delivery import messages
from segflow.events.models import EventDraft

from segflow_local import moto_patches
from tests.support.e2e import create_pk_sk_table


@dataclass(frozen=True)
class Tables:
    events: str
    executions: str


class Killed(BaseException):
    """The Lambda's process dies here (SIGKILL, out of memory): nothing after runs, no handler sees it."""


@pytest.fixture()
def aws() -> Iterator[Tables]:
    """Two fresh tables (named apart: an embedded AWS of the same test session may share moto's state)."""
    moto_patches.apply()
    token = uuid.uuid4().hex[:8]
    tables = Tables(f"events-{token}", f"executions-{token}")
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        for table in (tables.events, tables.executions):
            create_pk_sk_table(client, table)
        yield tables


def dynamodb() -> Any:
    return boto3.client("dynamodb", region_name="us-east-1")


def started(aws: Tables, node_count: int = 10) -> ExecutionIdentity:
    execution_id = f"x-{uuid.uuid4().hex[:8]}"
    ExecutionRecordStore(aws.executions, dynamodb()).create_execution(
        ExecutionRecord(
            tenant_id="t", execution_id=execution_id, workflow_id="w", started_at="2026-01-01T00:00:00+00:00",
            node_count=node_count,
        )
    )  # fmt: skip
    return ExecutionIdentity("t", execution_id, "w", None)


def writer(aws: Tables, client: Any | None = None, **kwargs: Any) -> ExecutionJournal:
    client = client or dynamodb()
    return ExecutionJournal(
        ExecutionRecordStore(aws.executions, client), EventLog(aws.events, aws.executions, client, **kwargs)
    )


def change(node_id: str, status: str, attempt: int = 1) -> tuple[NodeRecord, EventDraft]:
    record = NodeRecord(
        node_id=node_id, segment_id="s", stage=1, type="action:api_call", status=status, attempt=attempt,
        started_at=time.time(),
    )  # fmt: skip
    draft = EventDraft(
        kind="node", node_id=node_id, previous_state="pending", new_state=status, timestamp=time.time(),
        completes_node=status in ("succeeded", "failed", "skipped"),
    )  # fmt: skip
    return record, draft


def stored(aws: Tables, execution: ExecutionIdentity) -> dict[int, dict[str, Any]]:
    """Every item of the log by seq, as stored (events and tombstones)."""
    items = dynamodb().query(
        TableName=aws.events,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": execution_pk(execution.tenant_id, execution.execution_id)}},
    )["Items"]
    return {int(item["seq"]["N"]): item for item in items}


def reader(aws: Tables) -> EventLog:
    return EventLog(aws.events, aws.executions, dynamodb())


def on(client: Any, event: str, handler: Callable[..., Any]) -> None:
    client.meta.events.register(f"{event}.dynamodb", handler)


def transact_items(operation: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    return params.get("TransactItems", []) if operation == "TransactWriteItems" else []


# --- many writers ---------------------------------------------------------------------------------------


def test_forty_concurrent_writers_number_every_change_once_in_order_and_share_no_transacted_item(
    aws: Tables,
) -> None:
    execution = started(aws, node_count=40 * 10)
    transacted: dict[str, set[str]] = {}  # item key -> the writers whose transactions held it
    lock = threading.Lock()

    def write(index: int) -> None:
        client = dynamodb()

        def record(params: dict[str, Any], model: Any, **_: Any) -> None:
            for entry in transact_items(model.name, params):
                body = next(iter(entry.values()))
                key = json.dumps(
                    [body["TableName"], body.get("Key") or {k: body["Item"][k] for k in ("pk", "sk")}]
                )
                with lock:
                    transacted.setdefault(key, set()).add(f"w{index}")

        on(client, "before-parameter-build", record)
        journal = writer(aws, client)
        for step in range(10):
            record_, draft = change(f"w{index}n{step}", "running")
            journal.put_node(execution, record_, draft)
            record_, draft = change(f"w{index}n{step}", "succeeded")
            journal.put_node(execution, record_, draft)

    with ThreadPoolExecutor(max_workers=40) as pool:
        list(pool.map(write, range(40)))

    events = reader(aws).read_all("t", execution.execution_id)
    assert [e.seq for e in events] == list(range(1, 801))  # no gaps, no duplicates
    changes = Counter((e.node_id, e.new_state) for e in events)
    assert len(changes) == 800 and set(changes.values()) == {1}
    completed = [e.progress.completed for e in events]
    assert completed == sorted(completed) and completed[-1] == 400
    # per node, its own order: running before succeeded
    position = {(e.node_id, e.new_state): e.seq for e in events}
    assert all(position[(n, "running")] < position[(n, "succeeded")] for n, _ in changes)
    # no item was in the transactions of two writers: nothing every writer must transact on
    assert all(len(writers) == 1 for writers in transacted.values())


# --- numbers in flight, stalled and dead writers --------------------------------------------------------


def test_a_reader_stops_at_a_number_in_flight_and_sees_everything_once_it_lands(aws: Tables) -> None:
    execution = started(aws)
    first, second = dynamodb(), dynamodb()
    release, holding = threading.Event(), threading.Event()

    def stall(model: Any, **_: Any) -> None:
        if model.name == "TransactWriteItems" and not release.is_set():
            holding.set()
            release.wait(10)

    writer(aws, second).publish(execution, [change("a", "running")[1]])  # seq 1 stored
    on(first, "before-call", stall)
    slow = threading.Thread(target=writer(aws, first).put_node, args=(execution, *change("b", "running")))
    slow.start()
    assert holding.wait(10)  # seq 2 handed out, not stored
    writer(aws, second).put_node(execution, *change("c", "running"))  # seq 3 stored before seq 2

    assert [seq for seq, _ in reader(aws).read("t", execution.execution_id)] == [1]
    assert [e.node_id for e in reader(aws).read_all("t", execution.execution_id)] == ["a"]
    release.set()
    slow.join(10)
    assert [(e.seq, e.node_id) for e in reader(aws).read_all("t", execution.execution_id)] == [
        (1, "a"),
        (2, "b"),
        (3, "c"),
    ]


def test_a_writer_that_dies_after_taking_a_number_leaves_a_hole_the_execution_end_closes(aws: Tables) -> None:
    execution = started(aws, node_count=2)
    doomed = dynamodb()

    def die(model: Any, **_: Any) -> None:
        if model.name == "TransactWriteItems":
            raise Killed()

    on(doomed, "before-call", die)
    with pytest.raises(Killed):
        writer(aws, doomed).put_node(execution, *change("a", "succeeded"))  # seq 1 handed out, never stored
    survivor = writer(aws)
    survivor.put_node(execution, *change("a", "succeeded"))  # the retried segment: seq 2
    survivor.put_node(execution, *change("b", "succeeded"))  # seq 3

    # the hole holds the later events back from readers
    assert reader(aws).read_all("t", execution.execution_id) == []

    # the execution's end closes it, and counts the finished nodes exactly (the dead writer's count was in)
    end = EventDraft(kind="execution", previous_state="running", new_state="succeeded", timestamp=time.time())
    survivor.log.append(execution, [end], finish={"status": "SUCCEEDED"}, completed=2)

    items = stored(aws, execution)
    assert items[1]["tombstone"] == {"BOOL": True} and "event" not in items[1]
    events = reader(aws).read_all("t", execution.execution_id)
    assert [(e.seq, e.node_id, e.progress.completed) for e in events] == [
        (2, "a", 2),  # 2 of 2: the dead writer's count was left in, capped at the total
        (3, "b", 2),
        (4, None, 2),
    ]
    # a live message says which number holds no event, so a client's seq moves past it
    page = reader(aws).read("t", execution.execution_id)
    [(last, message)] = list(messages(execution.execution_id, page))
    body = json.loads(message)
    assert last == 4 and body["skipped"] == [1] and [e["seq"] for e in body["events"]] == [2, 3, 4]
    with pytest.raises(ExecutionFinished):  # once only, and without taking a number
        survivor.log.append(execution, [end], finish={"status": "SUCCEEDED"})
    assert max(stored(aws, execution)) == 4


def test_a_sealing_pass_closes_a_dead_writers_number_and_a_stalled_writer_takes_new_ones(
    aws: Tables, monkeypatch: pytest.MonkeyPatch
) -> None:
    execution = started(aws)
    stalled = dynamodb()
    release, holding = threading.Event(), threading.Event()

    def stall(model: Any, **_: Any) -> None:
        if model.name == "TransactWriteItems" and not release.is_set():
            holding.set()
            release.wait(10)

    on(stalled, "before-call", stall)
    slow = threading.Thread(
        target=writer(aws, stalled).put_node, args=(execution, *change("slow", "succeeded"))
    )
    slow.start()
    assert holding.wait(10)  # seq 1 handed out, its writer stalled
    other = writer(aws)
    other.put_node(execution, *change("b", "running"))  # seq 2
    other.log.seal(execution, 2)  # a pass finds seq 1 empty past the grace: closes it
    release.set()
    slow.join(10)

    events = reader(aws).read_all("t", execution.execution_id)
    assert [(e.seq, e.node_id) for e in events] == [(2, "b"), (3, "slow")]  # stored once, under a new number
    assert stored(aws, execution)[1]["tombstone"] == {"BOOL": True}


def test_writers_seal_by_themselves_once_a_number_is_older_than_the_grace(
    aws: Tables, monkeypatch: pytest.MonkeyPatch
) -> None:
    from segflow.adapters import event_log

    monkeypatch.setattr(event_log, "EVENT_LOG_SEAL_GRACE_SECONDS", 0.2)
    monkeypatch.setattr(event_log, "EVENT_LOG_SEAL_INTERVAL_SECONDS", 0.0)
    execution = started(aws)
    doomed = dynamodb()

    def die(model: Any, **_: Any) -> None:
        if model.name == "TransactWriteItems":
            raise Killed()

    on(doomed, "before-call", die)
    with pytest.raises(Killed):
        writer(aws, doomed).put_node(execution, *change("a", "running"))  # seq 1: its writer died
    busy = writer(aws)
    busy.put_node(execution, *change("b", "running"))  # seq 2
    time.sleep(0.3)
    busy.put_node(execution, *change("b", "succeeded"))  # seq 3; seq 2 is now older than the grace: a pass

    assert [(e.seq, e.node_id) for e in reader(aws).read_all("t", execution.execution_id)] == [
        (2, "b"),
        (3, "b"),
    ]


# --- refusals and contention ----------------------------------------------------------------------------


def test_a_refused_checkpoint_writes_nothing_and_gives_its_number_and_count_back(aws: Tables) -> None:
    execution = started(aws, node_count=3)
    journal = writer(aws)
    journal.put_node(execution, *change("a", "succeeded"))  # seq 1, completed 1
    with pytest.raises(CheckpointConflict):  # another attempt's outcome stands
        journal.put_node(execution, *change("a", "failed", attempt=2))  # seq 2: closed
    journal.put_node(execution, *change("b", "succeeded"))  # seq 3, completed 2 (not 3)

    events = reader(aws).read_all("t", execution.execution_id)
    assert [(e.seq, e.node_id, e.new_state, e.progress.completed) for e in events] == [
        (1, "a", "succeeded", 1),
        (3, "b", "succeeded", 2),
    ]
    assert stored(aws, execution)[2]["tombstone"] == {"BOOL": True}


def test_a_batch_another_attempt_started_first_keeps_its_outcomes_and_stores_the_rest_after_them(
    aws: Tables,
) -> None:
    execution = started(aws, node_count=5)
    journal = writer(aws)
    # another attempt of the segment recorded a and b first (seq 1-2, one page)
    assert journal.put_nodes(execution, [change(n, "succeeded") for n in ("a", "b")]) == {}
    already = journal.put_nodes(execution, [change(n, "succeeded") for n in ("a", "b", "c", "d")])

    assert sorted(already) == ["a", "b"]
    events = reader(aws).read_all("t", execution.execution_id)
    assert [(e.seq, e.node_id, e.progress.completed) for e in events] == [
        (1, "a", 1),
        (2, "b", 2),
        (7, "c", 3),
        (8, "d", 4),
    ]
    # the refused batch's numbers (3-6) are closed by one tombstone, its count given back
    assert (stored(aws, execution)[3]["tombstone"], stored(aws, execution)[3]["last_seq"]) == (
        {"BOOL": True},
        {"N": "6"},
    )


def conflicts(client: Any, times: int | None) -> list[int]:
    """The next ``times`` (None: every) transaction of ``client`` is cancelled by a conflicting one."""
    seen: list[int] = []

    def conflict(model: Any, params: dict[str, Any], **_: Any) -> Any:
        if model.name != "TransactWriteItems" or (times is not None and len(seen) >= times):
            return None
        seen.append(1)
        reasons = [{"Code": "TransactionConflict"} for _ in json.loads(params["body"])["TransactItems"]]
        raise ClientError(
            {
                "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
                "CancellationReasons": reasons,
            },
            "TransactWriteItems",
        )

    on(client, "before-call", conflict)
    return seen


def test_transaction_conflicts_are_retried_in_the_same_numbers(aws: Tables) -> None:
    execution = started(aws)
    client = dynamodb()
    seen = conflicts(client, times=5)
    journal = writer(aws, client)
    journal.put_node(execution, *change("a", "running"))
    journal.put_node(execution, *change("a", "succeeded"))

    assert len(seen) == 5
    assert [e.seq for e in reader(aws).read_all("t", execution.execution_id)] == [1, 2]
    assert all("event" in item for item in stored(aws, execution).values())  # no number was given up


def test_conflicts_that_outlast_the_time_left_raise_event_log_contention_and_store_nothing(
    aws: Tables,
) -> None:
    execution = started(aws)
    client = dynamodb()
    conflicts(client, times=None)
    journal = writer(aws, client, remaining_ms=lambda: 6_000)  # one second before the margin
    began = time.monotonic()
    with pytest.raises(EventLogContention, match="EventLogContention"):
        journal.put_node(execution, *change("a", "succeeded"))

    assert time.monotonic() - began < 5
    assert (
        ExecutionRecordStore(aws.executions, dynamodb()).get_nodes("t", execution.execution_id, ["a"]) == {}
    )
    assert reader(aws).read_all("t", execution.execution_id) == []
    assert stored(aws, execution)[1]["tombstone"] == {"BOOL": True}
    writer(aws).put_node(execution, *change("a", "succeeded"))  # the segment's retry
    [event] = reader(aws).read_all("t", execution.execution_id)
    assert (event.seq, event.progress.completed) == (2, 1)  # the failed attempt's count was given back


def test_a_commit_whose_answer_was_lost_is_recognised_as_stored_not_logged_twice(aws: Tables) -> None:
    execution = started(aws)
    client = dynamodb()
    lost: list[int] = []

    def lose_answer(model: Any, **_: Any) -> None:
        if model.name == "TransactWriteItems" and not lost:
            lost.append(1)
            raise ReadTimeoutError(endpoint_url="https://dynamodb")  # the write landed, its answer did not

    on(client, "after-call", lose_answer)
    writer(aws, client).put_node(execution, *change("a", "succeeded"))

    assert lost and [(e.seq, e.node_id) for e in reader(aws).read_all("t", execution.execution_id)] == [
        (1, "a")
    ]


def test_an_execution_logged_by_the_earlier_design_continues_its_numbering(aws: Tables) -> None:
    execution = started(aws)
    client = dynamodb()
    pk = execution_pk(execution.tenant_id, execution.execution_id)
    client.update_item(  # the earlier design: the counter on META, events 1-3 stored
        TableName=aws.executions,
        Key={"pk": {"S": pk}, "sk": {"S": "META"}},
        UpdateExpression="SET event_seq = :three, nodes_completed = :one",
        ExpressionAttributeValues={":three": {"N": "3"}, ":one": {"N": "1"}},
    )
    for seq in (1, 2, 3):
        client.put_item(
            TableName=aws.events,
            Item={"pk": {"S": pk}, "sk": {"S": event_sk(seq)}, "seq": {"N": str(seq)}, "event": {"S": "{}"}},
        )
    writer(aws).put_node(execution, *change("a", "succeeded"))
    assert [
        (seq, json.loads(text or "{}").get("progress"))
        for seq, text in reader(aws).read("t", execution.execution_id, 3)
    ] == [(4, {"completed": 2, "total": 10})]
