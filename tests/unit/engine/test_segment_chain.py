"""Stages run back to back in one invocation: how far a chain goes, and where it hands over."""

from __future__ import annotations

from typing import Any

from tests.support.workflows import aggregator, chain_edges, edge, judgment, transform, wait, workflow
from tests.unit.engine.harness import (
    MARGIN_SECONDS,
    WHOLE_BATCH_SECONDS,
    Engine,
    FakeClock,
    Work,
    effect_node,
    pure_node,
)


def routed(first: dict[str, Any], branches: list[dict[str, Any]]) -> dict[str, Any]:
    """first -> judge -> each branch (its own label) -> join."""
    labels = [branch["node_id"] for branch in branches]
    return workflow(
        "chain",
        [first, judgment("judge", "{{ input.tier }}"), *branches, aggregator("join")],
        [
            edge(first["node_id"], "judge"),
            *(edge("judge", label, label) for label in labels),
            *(edge(label, "join") for label in labels),
        ],
    )


def test_stages_that_run_as_tasks_all_run_in_one_invocation(engine: Engine, work: Work) -> None:
    started = engine.start(
        routed(transform("start", 1), [pure_node("x", 1), pure_node("y", 2)]), {"tier": "x"}
    )
    assert started.statebag.stage_count == 3

    cursor, results = engine.chain(started.statebag, started.cursor)

    assert cursor.mode == "done"
    assert len(engine.invocations) == 1
    assert [r.status for r in results] == ["succeeded"] * 4  # start+judge, x, y (one pure stage), join
    assert engine.statuses(started.statebag)["y"] == "skipped"
    assert work.calls_of(started.statebag.execution_id) == ["x"]


def test_a_stage_of_side_effects_in_one_batch_runs_in_the_chain(engine: Engine, work: Work) -> None:
    raw = routed(transform("start", 1), [effect_node("x"), effect_node("y")])
    started = engine.start(raw, {"tier": "x"})

    cursor, results = engine.chain(started.statebag, started.cursor)

    assert cursor.mode == "done" and len(engine.invocations) == 1
    assert sorted(r.segment_id for r in results[1:3]) == [
        s.segment_id for s in engine.stage(started.statebag, 1)
    ]
    assert work.calls_of(started.statebag.execution_id) == ["x"]
    assert engine.statuses(started.statebag)["y"] == "skipped"


def test_a_stage_of_several_batches_is_handed_to_a_map(engine: Engine, work: Work) -> None:
    branches = [
        effect_node("x", timeout_seconds=WHOLE_BATCH_SECONDS),
        effect_node("y", timeout_seconds=WHOLE_BATCH_SECONDS),
    ]
    started = engine.start(routed(transform("start", 1), branches), {"tier": "x"})

    cursor, _ = engine.chain(started.statebag, started.cursor)

    assert (cursor.stage, cursor.mode, cursor.max_concurrency) == (1, "inline", 2)
    assert [batch.batch for batch in engine.batches(cursor)] == [0, 1]
    assert work.calls_of(started.statebag.execution_id) == [], "nothing of the Map's stage ran in the Task"


def test_when_time_runs_short_between_stages_the_chain_returns_the_next_one(
    engine: Engine, work: Work, clock: FakeClock
) -> None:
    raw = routed(effect_node("start", seconds=30), [pure_node("x"), pure_node("y")])
    started = engine.start(raw, {"tier": "x"})

    cursor, results = engine.chain(started.statebag, started.cursor, seconds=MARGIN_SECONDS + 30)

    assert [r.status for r in results] == ["succeeded"]
    assert (cursor.stage, cursor.mode, cursor.stage_segments) == (1, "single", 2)
    assert set(engine.statuses(started.statebag)) == {"start", "judge"}

    rest, _ = engine.chain(started.statebag, cursor)
    assert rest.mode == "done"
    assert work.calls_of(started.statebag.execution_id) == ["start", "x"]


def test_a_pure_stage_handed_back_midway_runs_only_its_unfinished_segments_again(
    engine: Engine, work: Work, clock: FakeClock
) -> None:
    branches = [pure_node(f"b{i}", i, seconds=10) for i in range(3)]
    raw = workflow(
        "pure_fan",
        [transform("start", 0), *branches, aggregator("join")],
        [edge("start", b["node_id"]) for b in branches] + [edge(b["node_id"], "join") for b in branches],
    )
    started = engine.start(raw)

    cursor, _ = engine.chain(started.statebag, started.cursor, seconds=MARGIN_SECONDS + 15)

    assert (cursor.stage, cursor.mode, cursor.stage_segments) == (1, "single", 3), "the same stage again"
    assert work.calls_of(started.statebag.execution_id) == ["b0", "b1"]
    tenant, execution_id = started.statebag.tenant_id, started.statebag.execution_id
    stage_records = engine.records.list_segments(tenant, execution_id, 1)
    assert [r.status for r in stage_records] == ["succeeded", "succeeded"], "the third was not started"

    rest, results = engine.chain(started.statebag, cursor)

    assert rest.mode == "done"
    assert len(results) == 2, "the stage's finished segments were left out (one query), then the join ran"
    assert work.calls_of(started.statebag.execution_id) == ["b0", "b1", "b2"], "no segment ran twice"
    assert engine.output(started.statebag, "join")["branches"] == ["b0", "b1", "b2"]


def test_a_segment_that_waits_hands_its_stage_back_with_the_wait(
    engine: Engine, work: Work, clock: FakeClock
) -> None:
    raw = workflow("pause", [effect_node("a"), wait("w", 45), effect_node("b")], chain_edges(["a", "w", "b"]))
    started = engine.start(raw)

    cursor, results = engine.chain(started.statebag, started.cursor)

    assert [r.status for r in results] == ["succeeded", "waiting"]
    assert (cursor.stage, cursor.mode, cursor.wait_seconds) == (1, "single", 45)
    clock.advance(cursor.wait_seconds)
    rest, _ = engine.chain(started.statebag, cursor)
    assert rest.mode == "done"
    assert work.calls_of(started.statebag.execution_id) == ["a", "b"]


def test_pure_segments_run_in_a_chain_are_written_before_a_later_side_effect_runs(
    engine: Engine, work: Work
) -> None:
    # Given pure segments (a chain, a fork into two, a join) run in one invocation, then a side effect
    raw = workflow(
        "held",
        [pure_node("a"), pure_node("b"), pure_node("c"), aggregator("join"), effect_node("effect")],
        [edge("a", "b"), edge("a", "c"), edge("b", "join"), edge("c", "join"), edge("join", "effect")],
    )
    started = engine.start(raw)
    execution_id = started.statebag.execution_id
    seen: dict[str, str] = {}
    work.during[(execution_id, "effect")] = lambda: seen.update(engine.statuses(started.statebag))

    cursor, results = engine.chain(started.statebag, started.cursor)

    # Then when the side effect ran, every pure node before it was recorded, with its segment's outcome
    assert cursor.mode == "done" and len(engine.invocations) == 1
    assert seen == {
        "a": "succeeded",
        "b": "succeeded",
        "c": "succeeded",
        "join": "succeeded",
        "effect": "running",
    }
    assert all(r.status == "succeeded" for r in results)
    # and the log holds each change once, in the order the nodes ran
    assert [(e.node_id, e.new_state) for e in engine.events(started.statebag) if e.kind == "node"] == [
        ("a", "succeeded"),
        ("b", "succeeded"),
        ("c", "succeeded"),
        ("join", "succeeded"),
        ("effect", "running"),
        ("effect", "succeeded"),
    ]
