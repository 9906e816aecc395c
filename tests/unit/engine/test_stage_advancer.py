"""How a stage runs (one Task, inline Map or Distributed Map of batches) and the check of a stage from its
records."""

from __future__ import annotations

from typing import Any

import pytest
from segflow.contracts import Cursor, StateBag
from segflow.domain.errors import StageFailed, StageIncomplete
from segflow.domain.limits import BATCH_MAX_SEGMENTS, INLINE_STAGE_MAX_BYTES
from segflow.domain.s3_layout import stage_batches_key
from segflow.engine.stage_advancer import cursor_for_stage

from tests.support.workflows import approval, fan_out_workflow
from tests.unit.engine.harness import (
    MARGIN_SECONDS,
    WHOLE_BATCH_SECONDS,
    Engine,
    FakeClock,
    Work,
    effect_node,
    pure_node,
)


def fan_out(branches: list[dict[str, Any]]) -> dict[str, Any]:
    """start -> every branch -> join: stage 1 holds one segment per branch."""
    return fan_out_workflow("fan", branches)


def long_effect(node_id: str, **config: Any) -> dict[str, Any]:
    """A side effect that may take all a batch has: its segment is a batch of its own."""
    return effect_node(node_id, timeout_seconds=WHOLE_BATCH_SECONDS, **config)


def at_the_fan_out(engine: Engine, branches: list[dict[str, Any]]) -> tuple[StateBag, Cursor]:
    """An execution of :func:`fan_out` whose first stage has run: the cursor of the branches' stage."""
    started = engine.start(fan_out(branches))
    cursor, _ = engine.chain(started.statebag, started.cursor)
    assert cursor.stage == 1
    return started.statebag, cursor


def batch_members(engine: Engine, statebag: StateBag, cursor: Cursor) -> list[list[str]]:
    prefix = statebag.manifest_prefix
    return [
        [config["segment_id"] for config in engine.manifests.read_batch(prefix, batch)]
        for batch in engine.batches(cursor)
    ]


def test_a_stage_of_side_effects_that_fits_one_batch_runs_as_one_task(engine: Engine) -> None:
    statebag = engine.start(fan_out([effect_node(f"b{i}") for i in range(3)])).statebag

    cursor = cursor_for_stage(engine.manifests, statebag, 1)

    assert (cursor.mode, cursor.stage_segments) == ("single", 3)
    assert cursor.segment_config == engine.stage(statebag, 1)[0].wire()


def test_a_stage_of_long_side_effects_is_an_inline_map_of_one_batch_each(engine: Engine) -> None:
    statebag = engine.start(fan_out([long_effect(f"b{i}") for i in range(3)])).statebag

    cursor = cursor_for_stage(engine.manifests, statebag, 1)

    assert (cursor.mode, cursor.max_concurrency) == ("inline", 3)
    assert batch_members(engine, statebag, cursor) == [[s.segment_id] for s in engine.stage(statebag, 1)]


def test_a_stage_wider_than_a_batch_is_a_map_of_full_batches_covering_every_segment(engine: Engine) -> None:
    width = 2 * BATCH_MAX_SEGMENTS + 50
    statebag = engine.start(fan_out([effect_node(f"b{i:03d}") for i in range(width)])).statebag

    cursor = cursor_for_stage(engine.manifests, statebag, 1)

    assert (cursor.mode, cursor.max_concurrency) == ("inline", 3)
    members = batch_members(engine, statebag, cursor)
    assert [len(batch) for batch in members] == [BATCH_MAX_SEGMENTS, BATCH_MAX_SEGMENTS, 50]
    every = [segment_id for batch in members for segment_id in batch]
    assert every == sorted(s.segment_id for s in engine.stage(statebag, 1)), "each once, in id order"


def test_a_stage_with_too_many_batches_to_carry_inline_is_a_distributed_map_over_its_batches_in_the_bucket(
    engine: Engine,
) -> None:
    statebag = engine.start(fan_out([long_effect(f"b{i}") for i in range(60)])).statebag
    summary = engine.manifests.read_stage_summary(statebag.manifest_prefix, 1)
    assert summary["bytes"] > INLINE_STAGE_MAX_BYTES

    cursor = cursor_for_stage(engine.manifests, statebag, 1)

    assert (cursor.mode, cursor.max_concurrency, cursor.items) == ("s3", 60, None)
    assert cursor.items_key == stage_batches_key(statebag.manifest_prefix, 1)
    assert len(batch_members(engine, statebag, cursor)) == 60


def test_a_stage_of_pure_segments_or_a_single_segment_runs_as_a_task(engine: Engine) -> None:
    statebag = engine.start(fan_out([pure_node(f"b{i}") for i in range(3)])).statebag

    pure_stage = cursor_for_stage(engine.manifests, statebag, 1)
    join = cursor_for_stage(engine.manifests, statebag, 2)
    after_last = cursor_for_stage(engine.manifests, statebag, 3)

    assert (pure_stage.mode, pure_stage.stage_segments) == ("single", 3)
    assert pure_stage.segment_config == engine.stage(statebag, 1)[0].wire()
    assert (join.mode, join.stage_segments) == ("single", 1)
    assert after_last.mode == "done"


def test_a_stage_whose_segments_all_succeeded_moves_on(engine: Engine, work: Work) -> None:
    statebag, cursor = at_the_fan_out(engine, [long_effect(f"b{i}") for i in range(3)])

    after = engine.map(statebag, cursor)

    assert (after.stage, after.mode) == (2, "single")
    assert sorted(work.calls_of(statebag.execution_id)) == ["b0", "b1", "b2"]


def test_a_stage_with_a_failed_segment_fails_with_its_error(engine: Engine) -> None:
    statebag, cursor = at_the_fan_out(
        engine, [long_effect("b0"), long_effect("b1", fail_times=1), long_effect("b2")]
    )
    for batch in engine.batches(cursor):
        engine.run_batch(statebag, batch)  # a Distributed Map may report success anyway: records decide

    with pytest.raises(StageFailed, match="node 'b1' failed with Flaky: attempt 1 failed"):
        engine.advance(statebag, 1)


def test_a_stage_with_a_segment_that_never_reported_is_incomplete(engine: Engine) -> None:
    statebag, cursor = at_the_fan_out(engine, [long_effect(f"b{i}") for i in range(3)])
    batches = engine.batches(cursor)
    for batch in batches[:2]:
        engine.run_batch(statebag, batch)
    [missing] = batch_members(engine, statebag, cursor)[2]

    with pytest.raises(StageIncomplete, match=f"stage 1: segments {missing} did not report"):
        engine.advance(statebag, 1)


def test_a_stage_with_paused_segments_runs_again_after_the_shortest_wait(
    engine: Engine, work: Work, clock: FakeClock
) -> None:
    retry = {"max_attempts": 2, "backoff_seconds": 45, "retry_on": ["Flaky"]}
    branches = [
        long_effect("b0"),
        long_effect("b1", fail_times=1, retry=retry),
        long_effect("b2", fail_times=1, retry={**retry, "backoff_seconds": 90}),
    ]
    statebag, cursor = at_the_fan_out(engine, branches)
    for batch in engine.batches(cursor):
        engine.run_batch(statebag, batch, seconds=MARGIN_SECONDS + 10)

    cursor = engine.advance(statebag, 1)

    assert (cursor.stage, cursor.mode, cursor.wait_seconds) == (1, "inline", 45)
    clock.advance(cursor.wait_seconds)
    after = engine.map(statebag, cursor)
    assert (after.stage, after.wait_seconds) == (1, 45), "b2 still has 45 s of its backoff to wait"
    clock.advance(after.wait_seconds)
    assert engine.map(statebag, after).stage == 2
    assert sorted(work.calls_of(statebag.execution_id)) == ["b0", "b1", "b1", "b2", "b2"]


def test_a_stage_waiting_for_approvals_waits_for_the_one_due_first(engine: Engine, clock: FakeClock) -> None:
    branches = [
        approval("late", "Late?", timeout_seconds=900),
        approval("soon", "Soon?", timeout_seconds=300),
    ]
    started = engine.start(fan_out(branches))

    # run as one Task (nothing in the stage blocks), which hands the stage back for the earliest decision
    cursor, _ = engine.chain(started.statebag, started.cursor)
    assert cursor.stage == 1 and cursor.approval is not None
    assert (cursor.approval.node_id, cursor.approval.timeout_seconds) == ("soon", 300)
    clock.advance(100)

    # and decided from the records, as after a Map
    cursor = engine.advance(started.statebag, 1)

    assert cursor.stage == 1 and cursor.approval is not None
    assert (cursor.approval.node_id, cursor.approval.timeout_seconds) == ("soon", 200)
