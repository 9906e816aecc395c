"""Pure nodes' checkpoints and events in pages, against moto's DynamoDB with the real runner and adapters.

A page write is all-or-nothing; a writer that dies between two pages leaves only pure nodes to run again,
and the log with neither a gap nor a change logged twice; readers see paged nodes and events exactly as
they see nodes and events stored one by one. Deaths and refusals are injected at the botocore layer of one
writer's client, as a killed process or DynamoDB would produce them; segflow's own code runs unchanged.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.exceptions import ReadTimeoutError
from moto import mock_aws
from segflow.adapters.event_log import EventLog, event_sk
from segflow.adapters.execution_records import ExecutionRecordStore, execution_pk, page_sk
from segflow.adapters.journal import ExecutionJournal
from segflow.adapters.outputs import NodeOutputStore
from segflow.contracts import StateBag
from segflow.domain.plan import PartitionPlan
from segflow.domain.records import ExecutionIdentity, ExecutionRecord, NodeRecord
from segflow.dsl.validation import validate_workflow
from segflow.engine.execution_events import finish
from segflow.engine.live_delivery import messages
from segflow.engine.partitioner import partition
from segflow.engine.segment_runner import SegmentRunner
from segflow.events.models import EventDraft, ExecutionEvent

from segflow_local import moto_patches
from tests.support.e2e import create_pk_sk_table
from tests.unit.engine import harness
from tests.unit.engine.harness import effect_node, pure_node

TENANT = "t"


@dataclass(frozen=True)
class Aws:
    events: str
    executions: str
    bucket: str


class Killed(BaseException):
    """The Lambda's process dies here (SIGKILL, out of memory): nothing after runs, no handler sees it."""


@pytest.fixture()
def aws() -> Iterator[Aws]:
    moto_patches.apply()
    token = uuid.uuid4().hex[:8]
    names = Aws(f"events-{token}", f"executions-{token}", f"data-{token}")
    with mock_aws():
        client = dynamodb()
        for table in (names.events, names.executions):
            create_pk_sk_table(client, table)
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=names.bucket)
        yield names


def dynamodb() -> Any:
    return boto3.client("dynamodb", region_name="us-east-1")


def journal_of(aws: Aws, client: Any | None = None) -> ExecutionJournal:
    client = client or dynamodb()
    return ExecutionJournal(
        ExecutionRecordStore(aws.executions, client), EventLog(aws.events, aws.executions, client)
    )


def started(aws: Aws, node_count: int) -> ExecutionIdentity:
    execution_id = f"x-{uuid.uuid4().hex[:8]}"
    ExecutionRecordStore(aws.executions, dynamodb()).create_execution(
        ExecutionRecord(
            tenant_id=TENANT, execution_id=execution_id, workflow_id="w", node_count=node_count,
            started_at="2026-01-01T00:00:00+00:00",
        )
    )  # fmt: skip
    return ExecutionIdentity(TENANT, execution_id, "w", None)


def on(client: Any, event: str, handler: Callable[..., Any]) -> None:
    client.meta.events.register(f"{event}.dynamodb", handler)


def writes_page(params: dict[str, Any], sk: str) -> bool:
    """Whether a request's parameters are a transaction writing the records' page ``sk``."""
    items = params.get("TransactItems", [])
    return any(entry.get("Put", {}).get("Item", {}).get("sk", {}).get("S") == sk for entry in items)


def kill_at(client: Any, sk: str, when: str) -> list[str]:
    """Kill the writer at the transaction that writes page ``sk``: before it is sent, or after it landed."""
    fired: list[str] = []

    def before(params: dict[str, Any], **_: Any) -> None:
        if when == "before" and writes_page(params, sk) and not fired:
            fired.append(sk)
            raise Killed(sk)

    def remember(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["page_params"] = params

    def after(context: dict[str, Any], **_: Any) -> None:
        if when == "after" and writes_page(context.get("page_params") or {}, sk) and not fired:
            fired.append(sk)
            raise Killed(sk)

    on(client, "before-parameter-build", remember)
    on(client, "before-parameter-build", before)
    on(client, "after-call", after)
    return fired


# --- the runner over the real adapters ------------------------------------------------------------------


@dataclass
class Execution:
    identity: ExecutionIdentity
    statebag: StateBag
    plan: PartitionPlan


def start(aws: Aws, document: dict[str, Any]) -> Execution:
    plan = partition(validate_workflow(document), body_key_for=lambda segment_id: f"bodies/{segment_id}.json")
    identity = started(aws, plan.node_count)
    statebag = StateBag(
        tenant_id=TENANT, workflow_id="w", execution_id=identity.execution_id, started_at="2026-01-01",
        manifest_prefix="m/", stage_count=len(plan.stages), segment_count=len(plan.segments),
        node_count=plan.node_count,
    )  # fmt: skip
    return Execution(identity, statebag, plan)


def runner_of(aws: Aws, client: Any | None = None) -> SegmentRunner:
    client = client or dynamodb()
    records = ExecutionRecordStore(aws.executions, client)
    return SegmentRunner(
        records,
        NodeOutputStore(aws.bucket, boto3.client("s3", region_name="us-east-1")),
        lambda: 900_000,
        journal=ExecutionJournal(records, EventLog(aws.events, aws.executions, client)),
    )


def run_chain(runner: SegmentRunner, execution: Execution) -> None:
    """Every segment in stage order in one invocation, as the chain runs pure stages (records held)."""
    for segment in execution.plan.segments:
        config = segment.config
        result = runner.run(execution.statebag, config, config.nodes or [], config.reads, hold=True)
        assert result.status == "succeeded"
    runner.flush()


def end(aws: Aws, execution: Execution) -> None:
    """The execution's end, which closes every number a dead writer left open."""
    finish(journal_of(aws), execution.identity, "2026-01-01T00:00:00", "SUCCEEDED", {"finished_at": "now"})


def chain(prefix: str, count: int) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    nodes = [pure_node(f"{prefix}{index}", index) for index in range(1, count + 1)]
    edges = [{"source": f"{prefix}{i}", "target": f"{prefix}{i + 1}"} for i in range(1, count)]
    return nodes, edges


def log_is_whole(aws: Aws, identity: ExecutionIdentity) -> list[ExecutionEvent]:
    """The log's events, after checking that every number up to the last holds one thing (no gap) and that
    each node reached each state once (nothing logged twice)."""
    log = EventLog(aws.events, aws.executions, dynamodb())
    latest = log.latest_seq(TENANT, identity.execution_id)
    numbers = log.read(TENANT, identity.execution_id, 0, limit=latest + 10)
    assert [seq for seq, _ in numbers] == list(range(1, latest + 1)), "a gap in the log"
    events = log.read_all(TENANT, identity.execution_id)
    changes = [(event.node_id, event.new_state) for event in events]
    assert len(changes) == len(set(changes)), "a change logged twice"
    return events


# --- a page write is all-or-nothing ---------------------------------------------------------------------


def test_a_page_write_killed_before_it_lands_leaves_neither_records_nor_events(aws: Aws) -> None:
    nodes, edges = chain("p", 5)
    execution = start(aws, {"workflow_id": "w", "nodes": nodes, "edges": edges})
    client = dynamodb()
    fired = kill_at(client, page_sk("s00001", "p1"), "before")

    with pytest.raises(Killed):
        run_chain(runner_of(aws, client), execution)

    assert fired
    records = ExecutionRecordStore(aws.executions, dynamodb())
    assert records.list_nodes(TENANT, execution.identity.execution_id) == []
    end(aws, execution)  # the end closes the numbers the dead writer took
    assert [(e.kind, e.new_state) for e in log_is_whole(aws, execution.identity)] == [
        ("execution", "succeeded")
    ]


def test_a_page_refused_for_its_events_stores_no_records_and_lands_whole_under_new_numbers(aws: Aws) -> None:
    identity = started(aws, node_count=3)
    pk = execution_pk(TENANT, identity.execution_id)
    # A sealer closed number 1 (the writer's reservation will be 1-3) before the writer commits
    dynamodb().put_item(
        TableName=aws.events,
        Item={"pk": {"S": pk}, "sk": {"S": event_sk(1)}, "seq": {"N": "1"}, "tombstone": {"BOOL": True}},
    )
    client = dynamodb()
    seen_between: list[dict[str, NodeRecord]] = []

    def check_nothing_stored(parsed: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name == "TransactWriteItems" and "Error" in parsed and not seen_between:
            records = ExecutionRecordStore(aws.executions, dynamodb())
            seen_between.append(records.get_nodes(TENANT, identity.execution_id, ["a", "b", "c"], ["s"]))

    on(client, "after-call", check_nothing_stored)
    changes = [change(node_id) for node_id in ("a", "b", "c")]

    assert journal_of(aws, client).put_nodes(identity, changes) == {}

    assert seen_between == [{}]  # the refused transaction stored no record
    events = EventLog(aws.events, aws.executions, dynamodb()).read_all(TENANT, identity.execution_id)
    assert [(e.seq, e.node_id, e.progress.completed) for e in events] == [
        (4, "a", 1),
        (5, "b", 2),
        (6, "c", 3),
    ]
    stored = ExecutionRecordStore(aws.executions, dynamodb()).list_nodes(TENANT, identity.execution_id)
    assert [r.node_id for r in stored] == ["a", "b", "c"]


def test_a_page_whose_answer_was_lost_is_recognised_as_stored_not_logged_twice(aws: Aws) -> None:
    identity = started(aws, node_count=3)
    client = dynamodb()
    lost: list[int] = []

    def lose_answer(model: Any, **_: Any) -> None:
        if model.name == "TransactWriteItems" and not lost:
            lost.append(1)
            raise ReadTimeoutError(endpoint_url="https://dynamodb")  # the write landed, its answer did not

    on(client, "after-call", lose_answer)
    journal_of(aws, client).put_nodes(identity, [change(node_id) for node_id in ("a", "b", "c")])

    events = EventLog(aws.events, aws.executions, dynamodb()).read_all(TENANT, identity.execution_id)
    assert lost and [(e.seq, e.node_id) for e in events] == [(1, "a"), (2, "b"), (3, "c")]


def test_pages_another_attempt_wrote_first_refuse_the_whole_batch_and_their_outcomes_stand(aws: Aws) -> None:
    identity = started(aws, node_count=4)
    # another attempt of segment t ran t1 first
    journal_of(aws).put_nodes(identity, [change("t1", segment="t", output='"theirs"')])
    batch = [change("s1", segment="s"), change("s2", segment="s"), change("t1", segment="t", output='"ours"')]
    batch.append(change("t2", segment="t"))
    client = dynamodb()
    transactions: list[bool] = []
    on(client, "after-call", lambda model, parsed, **_: transactions.append("Error" not in parsed)
       if model.name == "TransactWriteItems" else None)  # fmt: skip

    adopted = journal_of(aws, client).put_nodes(identity, batch)

    assert {node_id: r.output_json for node_id, r in adopted.items()} == {"t1": '"theirs"'}
    assert transactions == [False, True]  # the first, refused for t's page, stored nothing of s either
    events = log_is_whole(aws, identity)
    assert [(e.node_id, e.progress.completed) for e in events] == [("t1", 1), ("s1", 2), ("s2", 3), ("t2", 4)]


# --- a writer that dies between pages -------------------------------------------------------------------


def crash_workflow() -> dict[str, Any]:
    """Pure nodes, a side effect, pure nodes: two pages of one segment, with the effect's own item between."""
    before, edges = chain("a", 4)
    after, more = chain("b", 4)
    nodes = [*before, effect_node("effect", "done"), *after]
    edges += [*more, {"source": "a4", "target": "effect"}, {"source": "effect", "target": "b1"}]
    return {"workflow_id": "w", "nodes": nodes, "edges": edges}


def test_a_crash_between_pages_runs_only_the_unrecorded_pure_nodes_again_and_leaves_the_log_whole(
    aws: Aws,
) -> None:
    execution = start(aws, crash_workflow())
    client = dynamodb()
    fired = kill_at(client, page_sk("s00001", "b1"), "before")  # the second page never lands

    with pytest.raises(Killed):
        run_chain(runner_of(aws, client), execution)
    assert fired
    run_chain(runner_of(aws), execution)  # the state machine's retry: a fresh invocation
    end(aws, execution)

    calls = harness.WORK.calls_of(execution.identity.execution_id)
    assert {node_id: calls.count(node_id) for node_id in dict.fromkeys(calls)} == {
        **dict.fromkeys(["a1", "a2", "a3", "a4", "effect"], 1),  # recorded: never run again
        **dict.fromkeys(["b1", "b2", "b3", "b4"], 2),  # pure and lost with the first invocation
    }
    events = log_is_whole(aws, execution.identity)
    node_events = [(e.node_id, e.new_state) for e in events if e.kind == "node"]
    assert node_events == [
        *((f"a{i}", "succeeded") for i in range(1, 5)),
        ("effect", "running"),
        ("effect", "succeeded"),
        *((f"b{i}", "succeeded") for i in range(1, 5)),
    ]
    assert any(text is None for _, text in EventLog(aws.events, aws.executions, dynamodb()).read(
        TENANT, execution.identity.execution_id
    ))  # fmt: skip  # the dead writer's numbers, closed by the end


def test_a_crash_right_after_a_page_landed_runs_none_of_its_nodes_again(aws: Aws) -> None:
    nodes, edges = chain("p", 30)  # a few segments, held and written together
    execution = start(aws, {"workflow_id": "w", "nodes": nodes, "edges": edges})
    assert len(execution.plan.segments) > 1
    client = dynamodb()
    fired = kill_at(client, page_sk("s00001", "p1"), "after")

    with pytest.raises(Killed):
        run_chain(runner_of(aws, client), execution)
    assert fired
    run_chain(runner_of(aws), execution)
    end(aws, execution)

    calls = harness.WORK.calls_of(execution.identity.execution_id)
    assert sorted(calls) == sorted(f"p{i}" for i in range(1, 31))  # each once
    events = log_is_whole(aws, execution.identity)
    assert [e.node_id for e in events if e.kind == "node"] == [f"p{i}" for i in range(1, 31)]


# --- readers see pages as they see items ----------------------------------------------------------------


def change(
    node_id: str, status: str = "succeeded", segment: str = "s", output: str | None = None
) -> tuple[NodeRecord, EventDraft]:
    at = 1_767_225_600.0 + int(node_id[1:] or 0)
    record = NodeRecord(
        node_id=node_id, segment_id=segment, stage=0, type="transform", status=status, attempt=1,
        started_at=at, finished_at=at + 0.5, duration_ms=500, output_json=output or f'"{node_id}"',
    )  # fmt: skip
    draft = EventDraft(
        kind="node", node_id=node_id, previous_state="pending", new_state=status, timestamp=at + 0.5,
        duration_ms=500, completes_node=status in ("succeeded", "failed", "skipped"),
    )  # fmt: skip
    return record, draft


def without_ids(text: str | None, execution_id: str) -> str | None:
    return None if text is None else text.replace(execution_id, "X")


def test_readers_see_paged_nodes_and_events_exactly_as_those_stored_one_by_one(aws: Aws) -> None:
    names = [f"n{index}" for index in range(1, 8)]
    one_by_one, paged = started(aws, len(names)), started(aws, len(names))
    journal = journal_of(aws)
    for node_id in names:
        journal.put_node(one_by_one, *change(node_id))
    journal.put_nodes(paged, [change(node_id) for node_id in names[:3]])  # two batches: two pages each
    journal.put_nodes(paged, [change(node_id) for node_id in names[3:]])
    records = ExecutionRecordStore(aws.executions, dynamodb())
    log = EventLog(aws.events, aws.executions, dynamodb())
    a, b = one_by_one.execution_id, paged.execution_id

    assert records.list_nodes(TENANT, b) == records.list_nodes(TENANT, a)
    assert records.get_nodes(TENANT, b, ["n2", "n6", "zz"], ["s"]) == records.get_nodes(
        TENANT, a, ["n2", "n6"]
    )
    assert records.get_nodes(TENANT, b, ["n5"]) == records.get_nodes(TENANT, a, ["n5"])  # where: not known
    assert log.latest_seq(TENANT, b) == log.latest_seq(TENANT, a) == len(names)
    for after in range(len(names) + 1):  # from any number, pages cut anywhere
        for limit in range(1, len(names) + 2):
            theirs = [(seq, without_ids(t, a)) for seq, t in log.read(TENANT, a, after, limit)]
            assert [(seq, without_ids(t, b)) for seq, t in log.read(TENANT, b, after, limit)] == theirs
        ids = {"event_id", "execution_id", "instance_id"}
        assert [e.model_dump(exclude=ids) for e in log.read_all(TENANT, b, after)] == [
            e.model_dump(exclude=ids) for e in log.read_all(TENANT, a, after)
        ]
    live = [(last, without_ids(m, b)) for last, m in messages(b, log.read(TENANT, b))]
    assert live == [(last, without_ids(m, a)) for last, m in messages(a, log.read(TENANT, a))]


def test_a_node_deferred_to_the_next_invocation_is_replaced_in_its_page_by_its_next_state(aws: Aws) -> None:
    identity = started(aws, node_count=2)
    journal = journal_of(aws)
    records = ExecutionRecordStore(aws.executions, dynamodb())
    journal.put_nodes(identity, [change("n1"), change("n2", "waiting")])  # n2 waits for the next invocation
    journal.put_nodes(identity, [change("n2", "waiting")])  # again: its own page, open
    assert records.get_nodes(TENANT, identity.execution_id, ["n2"], ["s"])["n2"].status == "waiting"

    journal.put_nodes(identity, [change("n2", "succeeded", output='"done"')])  # replaces the open page
    assert journal.put_nodes(identity, [change("n2", "failed")])["n2"].output_json == '"done"'  # final

    [stored] = [r for r in records.list_nodes(TENANT, identity.execution_id) if r.node_id == "n2"]
    assert (stored.status, stored.output_json) == ("succeeded", '"done"')
    events = EventLog(aws.events, aws.executions, dynamodb()).read_all(TENANT, identity.execution_id)
    assert [(e.node_id, e.new_state) for e in events] == [
        ("n1", "succeeded"),
        ("n2", "waiting"),
        ("n2", "waiting"),
        ("n2", "succeeded"),
    ]


def test_a_page_is_one_compressed_item_per_segment_and_one_log_item_per_batch(aws: Aws) -> None:
    identity = started(aws, node_count=40)
    kilobyte = '"' + "x" * 1000 + '"'
    batch = [change(f"n{i}", segment="s" if i <= 20 else "u", output=kilobyte) for i in range(40)]
    journal_of(aws).put_nodes(identity, batch)
    pk = {":pk": {"S": execution_pk(TENANT, identity.execution_id)}}
    client = dynamodb()
    records = client.query(
        TableName=aws.executions,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
        ExpressionAttributeValues={**pk, ":p": {"S": "NODE"}},
    )["Items"]
    log = client.query(TableName=aws.events, KeyConditionExpression="pk = :pk", ExpressionAttributeValues=pk)
    assert sorted(item["sk"]["S"] for item in records) == [page_sk("s", "n0"), page_sk("u", "n21")]
    assert all(len(item["nodes"]["B"]) < 1024 for item in records)  # 20 KB of similar records, compressed
    assert [(item["seq"]["N"], item["last_seq"]["N"]) for item in log["Items"]] == [("1", "40")]
