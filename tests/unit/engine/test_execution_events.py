"""The execution's events as a watcher reads them: numbered without a gap, in order, one end, last."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

from segflow.contracts import FinalizeEvent
from segflow.engine.execution_events import record_status_change
from segflow.events.models import ExecutionEvent

from tests.support.workflows import (
    approval,
    chain_edges,
    edge,
    fan_out_workflow,
    judgment,
    transform,
    workflow,
)
from tests.unit.engine.harness import WHOLE_BATCH_SECONDS, Engine, FakeClock, Work, effect_node

NODE_ORDER = {
    "pending": 0,
    "running": 1,
    "retrying": 1,
    "waiting": 1,
    "succeeded": 2,
    "failed": 2,
    "skipped": 2,
}


def assert_one_story(events: list[ExecutionEvent], node_count: int) -> None:
    """What every execution's events must tell: seq 1..n, started first, one end last, each node in order."""
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert (events[0].kind, events[0].new_state) == ("execution", "running")
    ends = [e for e in events if e.ends_execution]
    assert ends == [events[-1]]
    completed = [e.progress.completed for e in events]
    assert completed == sorted(completed), "progress never goes back"
    assert all(e.progress.total == node_count for e in events)
    last_state: dict[str, str] = {}
    for event in events:
        if event.node_id is None:
            continue
        previous = last_state.get(event.node_id, "pending")
        assert NODE_ORDER[event.new_state] >= NODE_ORDER[previous], (event.node_id, previous, event.new_state)
        last_state[event.node_id] = event.new_state


def test_a_run_tells_its_story_once_in_order(engine: Engine, work: Work) -> None:
    raw = workflow(
        "story",
        [transform("start", 1), judgment("judge", "{{ input.go }}"), effect_node("yes"), effect_node("no")],
        [edge("start", "judge"), edge("judge", "yes", "true"), edge("judge", "no", "false")],
    )

    outcome = engine.run(raw, {"go": True})

    events = engine.events(outcome.statebag)
    assert_one_story(events, node_count=4)
    assert events[-1].new_state == "succeeded" and events[-1].progress.completed == 4
    by_node = {node_id: engine.node_events(outcome.statebag, node_id) for node_id in ("start", "yes", "no")}
    assert by_node == {
        "start": [("pending", "succeeded")],
        "yes": [("pending", "running"), ("running", "succeeded")],
        "no": [("pending", "skipped")],
    }


def test_segments_running_at_once_still_number_their_events_without_a_gap(engine: Engine) -> None:
    branches = [effect_node(f"b{i}", timeout_seconds=WHOLE_BATCH_SECONDS) for i in range(24)]
    started = engine.start(fan_out_workflow("wide", branches))
    statebag = started.statebag
    cursor, _ = engine.chain(statebag, started.cursor)

    with ThreadPoolExecutor(max_workers=8) as pool:  # a Map's batches, each in its own invocation
        outcomes = list(pool.map(lambda batch: engine.run_batch(statebag, batch), engine.batches(cursor)))
    assert all(outcome.finished for outcome in outcomes)
    engine.resume(statebag, engine.advance(statebag, cursor.stage))

    assert_one_story(engine.events(statebag), node_count=26)


def test_the_segments_of_one_batch_running_at_once_number_their_events_without_a_gap(engine: Engine) -> None:
    outcome = engine.run(fan_out_workflow("wide", [effect_node(f"b{i}") for i in range(24)]))

    assert outcome.result is not None and outcome.result.status == "SUCCEEDED"
    assert len(engine.invocations) == 1, "the start, its 24 branches at once, and the join"
    assert_one_story(engine.events(outcome.statebag), node_count=26)


def test_a_stop_no_handler_saw_is_recorded_once_and_the_late_finalizer_adds_nothing(
    engine: Engine, clock: FakeClock
) -> None:
    raw = workflow(
        "stopped", [effect_node("a"), approval("ok", "Go?"), effect_node("b")], chain_edges(["a", "ok", "b"])
    )
    outcome = engine.run(raw)
    assert outcome.cursor is not None and outcome.cursor.approval is not None, "it waits for the approval"
    statebag = outcome.statebag
    detail = {
        "status": "ABORTED",
        "name": f"default.{statebag.execution_id}",
        "input": json.dumps({"tenant_id": "default"}),
    }

    recorded = record_status_change(engine.records, engine.journal, detail, clock.iso())
    again = record_status_change(engine.records, engine.journal, detail, clock.iso())
    late = engine.finalize(
        FinalizeEvent(statebag=statebag, outcome="FAILED", error={"Error": "States.Aborted"})
    )

    assert (recorded, again) == (True, False)
    assert late.status == "FAILED"
    record = engine.records.get_execution(statebag.tenant_id, statebag.execution_id)
    assert record is not None and record.status == "ABORTED"
    events = engine.events(statebag)
    assert_one_story(events, node_count=3)
    assert (events[-1].new_state, events[-1].reason) == ("aborted", "stopped (StopExecution)")


def test_a_timeout_is_recorded_with_the_error_step_functions_names(engine: Engine, clock: FakeClock) -> None:
    outcome = engine.run(workflow("slow", [effect_node("a"), approval("ok", "Go?")], [edge("a", "ok")]))
    statebag = outcome.statebag
    detail = {
        "status": "TIMED_OUT",
        "name": f"default.{statebag.execution_id}",
        "input": json.dumps({"tenant_id": "default"}),
    }

    assert record_status_change(engine.records, engine.journal, detail, clock.iso())

    record = engine.records.get_execution(statebag.tenant_id, statebag.execution_id)
    assert record is not None and (record.status, record.error) == ("TIMED_OUT", "States.Timeout")
    assert engine.events(statebag)[-1].new_state == "timed_out"


def test_a_status_change_of_an_execution_segflow_did_not_start_is_ignored(
    engine: Engine, clock: FakeClock
) -> None:
    detail = {"status": "FAILED", "name": "someone-elses", "input": "not json"}

    assert record_status_change(engine.records, engine.journal, detail, clock.iso()) is False
