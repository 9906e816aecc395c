"""The segment runner over in-memory stores: order, outcomes kept once, retries, routing, yields, pauses."""

from __future__ import annotations

from typing import Any

import pytest
from segflow.contracts import SegmentResult, StateBag
from segflow.domain.errors import NodeFailed
from segflow.domain.plan import SegmentConfig
from segflow.engine.segment_chain import segment_nodes

from tests.support.workflows import (
    aggregator,
    approval,
    chain_edges,
    edge,
    judgment,
    transform,
    wait,
    workflow,
)
from tests.unit.engine.harness import MARGIN_SECONDS, Engine, FakeClock, Work, effect_node


def only_segment(
    engine: Engine, raw: dict[str, Any], execution_input: dict[str, Any] | None = None
) -> tuple[StateBag, SegmentConfig]:
    """Start an execution of a one-segment workflow: its statebag and that segment."""
    started = engine.start(raw, execution_input)
    [segment] = engine.stage(started.statebag, 0)
    return started.statebag, segment


# --- a chain ----------------------------------------------------------------------------------------------


def test_a_chain_runs_its_nodes_in_order_each_reading_the_ones_before(engine: Engine, work: Work) -> None:
    raw = workflow(
        "chain",
        [
            effect_node("a", "{{ input.x }}"),
            transform("b", {"from_a": "{{ nodes.a.value }}"}),
            effect_node("c", "{{ nodes.b.from_a }}"),
        ],
        chain_edges(["a", "b", "c"]),
    )
    statebag, segment = only_segment(engine, raw, {"x": 7})

    result = engine.run_segment(statebag, segment)

    assert (result.status, result.nodes_run, result.nodes_skipped) == ("succeeded", 3, 0)
    assert work.calls_of(statebag.execution_id) == ["a", "c"]
    assert engine.output(statebag, "b") == {"from_a": 7}
    assert engine.output(statebag, "c")["value"] == 7
    finished = [e.node_id for e in engine.events(statebag) if e.new_state == "succeeded"]
    assert finished == ["a", "b", "c"]
    [record] = engine.records.list_segments(statebag.tenant_id, statebag.execution_id, 0)
    assert (record.status, record.nodes_run) == ("succeeded", 3)


def test_running_a_finished_segment_again_runs_nothing_and_changes_nothing(
    engine: Engine, work: Work
) -> None:
    raw = workflow(
        "again", [effect_node("a", 1), transform("b", 2), effect_node("c", 3)], chain_edges(["a", "b", "c"])
    )
    statebag, segment = only_segment(engine, raw)
    engine.run_segment(statebag, segment)
    records = engine.records.list_nodes(statebag.tenant_id, statebag.execution_id)
    events = engine.events(statebag)

    again = engine.run_segment(statebag, segment)  # a retried invocation of the same segment

    assert (again.status, again.nodes_run) == ("succeeded", 0)
    assert work.calls_of(statebag.execution_id) == ["a", "c"], "each side effect ran once"
    assert engine.records.list_nodes(statebag.tenant_id, statebag.execution_id) == records
    assert engine.events(statebag) == events


def test_the_outcome_another_attempt_recorded_first_is_the_one_that_stands(
    engine: Engine, work: Work, clock: FakeClock
) -> None:
    raw = workflow(
        "race",
        [effect_node("a", "x", seconds=2), transform("b", {"a_call": "{{ nodes.a.call }}"})],
        chain_edges(["a", "b"]),
    )
    statebag, segment = only_segment(engine, raw)
    other_attempt: list[SegmentResult] = []

    def another_attempt_runs_node_a() -> None:
        clock.advance(1)
        # with too little time to go on after it: this attempt runs b, from the outcome of a that stands
        other_attempt.append(engine.run_segment(statebag, segment, seconds=MARGIN_SECONDS + 1))

    # While this attempt is inside node a, another attempt of the segment runs a too, and finishes first.
    work.during[(statebag.execution_id, "a")] = another_attempt_runs_node_a
    result = engine.run_segment(statebag, segment)

    assert (other_attempt[0].status, other_attempt[0].nodes_run) == ("yielded", 1)
    assert result.status == "succeeded"
    assert engine.output(statebag, "a")["call"] == 2, (
        "the other attempt's call finished and was recorded first"
    )
    assert engine.output(statebag, "b") == {"a_call": 2}, "b read the outcome of a that was recorded"
    a_states = [new for _, new in engine.node_events(statebag, "a")]
    assert a_states.count("succeeded") == 1, a_states


# --- retries ----------------------------------------------------------------------------------------------

RETRY = {"max_attempts": 3, "backoff_seconds": 2, "backoff_rate": 3, "retry_on": ["Flaky"]}


def test_a_retryable_failure_is_retried_after_its_backoff(
    engine: Engine, work: Work, clock: FakeClock
) -> None:
    statebag, segment = only_segment(
        engine, workflow("retry", [effect_node("a", 1, fail_times=2, retry=RETRY)])
    )

    result = engine.run_segment(statebag, segment)

    assert result.status == "succeeded"
    assert clock.slept == [2, 6], "backoff_seconds, then times backoff_rate"
    record = engine.node(statebag, "a")
    assert record is not None and (record.status, record.attempt) == ("succeeded", 3)
    assert engine.output(statebag, "a")["attempt"] == 3
    # every transition starts from the state the log last showed the node in
    assert engine.node_events(statebag, "a") == [
        ("pending", "running"),
        ("running", "retrying"),
        ("retrying", "retrying"),
        ("retrying", "succeeded"),
    ]


def test_when_the_attempts_run_out_the_node_fails_and_nothing_after_it_runs(
    engine: Engine, work: Work, clock: FakeClock
) -> None:
    retry = {**RETRY, "max_attempts": 2}
    raw = workflow(
        "exhausted", [effect_node("a", fail_times=5, retry=retry), effect_node("b")], chain_edges(["a", "b"])
    )
    statebag, segment = only_segment(engine, raw)

    with pytest.raises(NodeFailed, match="node 'a' failed with Flaky: attempt 2 failed"):
        engine.run_segment(statebag, segment)

    record = engine.node(statebag, "a")
    assert record is not None and (record.status, record.attempt, record.error_type) == ("failed", 2, "Flaky")
    assert engine.node(statebag, "b") is None
    assert work.calls_of(statebag.execution_id) == ["a", "a"]
    [segment_record] = engine.records.list_segments(statebag.tenant_id, statebag.execution_id, 0)
    assert segment_record.status == "failed" and "Flaky" in (segment_record.error or "")


def test_an_error_the_policy_does_not_list_fails_the_node_at_once(
    engine: Engine, work: Work, clock: FakeClock
) -> None:
    raw = workflow("refused", [effect_node("a", fail_times=1, error_type="Refused", retry=RETRY)])
    statebag, segment = only_segment(engine, raw)

    with pytest.raises(NodeFailed, match="Refused"):
        engine.run_segment(statebag, segment)

    assert work.calls_of(statebag.execution_id) == ["a"]
    assert clock.slept == []


def test_a_retry_whose_backoff_passes_the_deadline_waits_for_the_next_invocation(
    engine: Engine, work: Work, clock: FakeClock
) -> None:
    retry = {**RETRY, "backoff_seconds": 60}
    statebag, segment = only_segment(engine, workflow("later", [effect_node("a", fail_times=1, retry=retry)]))

    first = engine.run_segment(statebag, segment, seconds=MARGIN_SECONDS + 30)

    assert (first.status, first.wait_seconds) == ("yielded", 60)
    assert clock.slept == [], "no invocation sleeps through a backoff it cannot afford"
    waiting = engine.node(statebag, "a")
    assert waiting is not None and (waiting.status, waiting.attempt) == ("waiting", 2)
    assert waiting.resume_at == pytest.approx(clock.now + 60)

    clock.advance(60)  # the state machine's Wait state
    second = engine.run_segment(statebag, segment)

    assert second.status == "succeeded"
    assert engine.output(statebag, "a")["attempt"] == 2, (
        "the next invocation goes on with the attempt it owed"
    )
    assert work.calls_of(statebag.execution_id) == ["a", "a"]
    assert engine.node_events(statebag, "a") == [
        ("pending", "running"),
        ("running", "waiting"),
        ("waiting", "retrying"),
        ("retrying", "succeeded"),
    ]


# --- routing ----------------------------------------------------------------------------------------------


def routed(tiers: list[str]) -> dict[str, Any]:
    return workflow(
        "routed",
        [
            transform("start", {"ok": True}),
            judgment("judge", "{{ input.tier }}"),
            effect_node("gold", "g"),
            effect_node("silver", "s"),
            effect_node("after_silver"),
            aggregator("join"),
        ],
        [
            edge("start", "judge"),
            *(edge("judge", tier, tier) for tier in tiers),
            edge("silver", "after_silver"),
            edge("gold", "join"),
            edge("after_silver", "join"),
        ],
    )


def test_a_judgment_runs_the_branch_it_chose_and_skips_the_others_to_the_join(
    engine: Engine, work: Work
) -> None:
    outcome = engine.run(routed(["gold", "silver"]), {"tier": "gold"})

    assert outcome.result is not None and outcome.result.status == "SUCCEEDED"
    statebag = outcome.statebag
    assert engine.statuses(statebag) == {
        "start": "succeeded",
        "judge": "succeeded",
        "gold": "succeeded",
        "silver": "skipped",
        "after_silver": "skipped",
        "join": "succeeded",
    }
    assert work.calls_of(statebag.execution_id) == ["gold"]
    judge = engine.node(statebag, "judge")
    assert judge is not None and judge.route == "gold"
    joined = engine.output(statebag, "join")
    assert joined["branches"] == ["gold"], "the join gets the output of the branch taken only"
    assert joined["results"]["gold"]["value"] == "g"
    skipped = [e for e in engine.events(statebag) if e.node_id == "after_silver"]
    assert [(e.new_state, e.reason) for e in skipped] == [("skipped", "no incoming edge was taken")]


def test_a_judgment_whose_value_no_edge_accepts_fails_the_execution(engine: Engine, work: Work) -> None:
    outcome = engine.run(routed(["gold", "silver"]), {"tier": "bronze"})

    assert outcome.result is not None and outcome.result.status == "FAILED"
    assert isinstance(outcome.error, NodeFailed)
    judge = engine.node(outcome.statebag, "judge")
    assert judge is not None and (judge.status, judge.error_type) == ("failed", "NoBranchMatched")
    assert work.calls_of(outcome.statebag.execution_id) == []


# --- the deadline -----------------------------------------------------------------------------------------


def test_a_segment_yields_at_the_margin_and_the_next_invocation_goes_on_where_it_stopped(
    engine: Engine, work: Work, clock: FakeClock
) -> None:
    nodes = [effect_node(node_id, seconds=30) for node_id in ("a", "b", "c")]
    statebag, segment = only_segment(engine, workflow("yield", nodes, chain_edges(["a", "b", "c"])))

    first = engine.run_segment(statebag, segment, seconds=MARGIN_SECONDS + 50)

    assert (first.status, first.nodes_run, first.wait_seconds) == ("yielded", 2, 0)
    assert engine.statuses(statebag) == {"a": "succeeded", "b": "succeeded"}
    [paused] = engine.records.list_segments(statebag.tenant_id, statebag.execution_id, 0)
    assert paused.status == "yielded"

    second = engine.run_segment(statebag, segment)

    assert (second.status, second.nodes_run) == ("succeeded", 1)
    assert work.calls_of(statebag.execution_id) == ["a", "b", "c"], "nothing ran twice"


def test_a_node_that_may_need_more_than_is_left_waits_for_a_fresh_invocation(
    engine: Engine, work: Work, clock: FakeClock
) -> None:
    raw = workflow(
        "long", [effect_node("a", seconds=30), effect_node("b", timeout_seconds=120)], chain_edges(["a", "b"])
    )
    statebag, segment = only_segment(engine, raw)

    first = engine.run_segment(statebag, segment, seconds=MARGIN_SECONDS + 100)

    assert (first.status, first.nodes_run) == ("yielded", 1)
    assert work.calls_of(statebag.execution_id) == ["a"]

    # The first node of an invocation always starts, however little is left: every invocation progresses.
    runner = engine.runner(seconds=MARGIN_SECONDS + 100)
    clock.advance(60)  # a cold start and slow reads used most of it
    second = runner.run(statebag, segment, *segment_nodes(engine.manifests, segment))
    assert (second.status, second.nodes_run) == ("succeeded", 1)
    assert work.calls_of(statebag.execution_id) == ["a", "b"]


# --- pauses -----------------------------------------------------------------------------------------------


def test_a_wait_node_hands_its_wait_to_the_state_machine(
    engine: Engine, work: Work, clock: FakeClock
) -> None:
    started = engine.start(
        workflow("wait", [effect_node("a"), wait("w", 30), effect_node("b")], chain_edges(["a", "w", "b"]))
    )
    statebag = started.statebag
    engine.run_segment(statebag, engine.stage(statebag, 0)[0])
    [segment] = engine.stage(statebag, 1)

    first = engine.run_segment(statebag, segment)
    clock.advance(10)
    early = engine.run_segment(statebag, segment)  # a stage run again early (a sibling's shorter wait)
    clock.advance(20)
    last = engine.run_segment(statebag, segment)

    assert (first.status, first.wait_seconds) == ("waiting", 30)
    assert (early.status, early.wait_seconds) == ("waiting", 20)
    assert last.status == "succeeded"
    record = engine.node(statebag, "w")
    assert record is not None and record.duration_ms == 30_000
    assert work.calls_of(statebag.execution_id) == ["a", "b"]


def approval_workflow(**config: Any) -> dict[str, Any]:
    return workflow(
        "approve",
        [effect_node("a"), approval("ok", "Ship {{ input.release }}?", **config), effect_node("b")],
        chain_edges(["a", "ok", "b"]),
    )


def test_an_approval_stops_the_segment_until_it_is_decided_and_asks_once(
    engine: Engine, work: Work, clock: FakeClock
) -> None:
    raw = approval_workflow(timeout_seconds=3600, approvers=["alice"])
    statebag, segment = only_segment(engine, raw, {"release": "1.2"})
    tenant, execution_id = statebag.tenant_id, statebag.execution_id

    first = engine.run_segment(statebag, segment)

    assert first.status == "approval" and first.approval is not None
    assert (first.approval.node_id, first.approval.timeout_seconds) == ("ok", 3600)
    asked = engine.approvals.get(tenant, execution_id, "ok")
    assert asked is not None and asked.message == "Ship 1.2?" and not asked.decided
    assert engine.statuses(statebag) == {"a": "succeeded", "ok": "waiting"}

    clock.advance(600)
    still = engine.run_segment(statebag, segment)  # run again before anyone decided
    assert still.approval is not None and still.approval.timeout_seconds == 3000
    again = engine.approvals.get(tenant, execution_id, "ok")
    assert again is not None and again.requested_at == asked.requested_at, "asked once, its deadline stands"

    engine.approvals.decide(tenant, execution_id, "ok", "approve", "alice", "ship it", clock())
    last = engine.run_segment(statebag, segment)

    assert last.status == "succeeded"
    output = engine.output(statebag, "ok")
    assert (output["decision"], output["approver"], output["comment"], output["timed_out"]) == (
        "approve",
        "alice",
        "ship it",
        False,
    )
    assert work.calls_of(execution_id) == ["a", "b"]
    [decided] = [e for e in engine.events(statebag) if e.node_id == "ok" and e.new_state == "succeeded"]
    assert decided.reason == "approve by alice: ship it"


def test_an_approval_nobody_decides_takes_its_default_at_its_deadline(
    engine: Engine, work: Work, clock: FakeClock
) -> None:
    statebag, segment = only_segment(engine, approval_workflow(timeout_seconds=600), {"release": "1.3"})
    engine.run_segment(statebag, segment)

    clock.advance(601)
    result = engine.run_segment(statebag, segment)

    assert result.status == "succeeded"
    output = engine.output(statebag, "ok")
    assert (output["decision"], output["approved"], output["timed_out"]) == ("reject", False, True)
