"""A batch: many segments of a stage in one invocation, at the same time, each recording its own outcome."""

from __future__ import annotations

import threading
from typing import Any

from pydantic import BaseModel
from segflow.domain.errors import NodeFailed
from segflow.engine.stage_batch import run_batch
from segflow.nodes import registry
from segflow.nodes.base import NodeContext
from segflow.nodes.custom import node_type

from tests.support.workflows import fan_out_workflow
from tests.unit.engine.harness import MARGIN_SECONDS, WHOLE_BATCH_SECONDS, Engine, Work, effect_node

LIMIT = 2


class Overlap:
    """Counts the nodes of ``unit_limited`` running at once. Each holds its slot until one more than the limit
    runs (which a working limit never lets happen) or a short while has passed."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.peak = 0
        self.calls = 0
        self.crowded = threading.Event()

    def enter(self) -> None:
        with self.lock:
            self.running += 1
            self.calls += 1
            self.peak = max(self.peak, self.running)
            if self.running > LIMIT:
                self.crowded.set()
        self.crowded.wait(timeout=0.3)
        with self.lock:
            self.running -= 1


OVERLAP = Overlap()


class LimitedConfig(BaseModel):
    value: Any = None


def limited(config: LimitedConfig, context: NodeContext) -> Any:
    OVERLAP.enter()
    return config.value


if registry.lookup("unit_limited", None) is None:
    node_type(
        "unit_limited",
        config=LimitedConfig,
        description="A side effect whose type runs at most LIMIT at once.",
        max_concurrency=LIMIT,
    )(limited)


def test_a_failing_segment_does_not_stop_its_siblings_and_fails_the_stage(engine: Engine, work: Work) -> None:
    branches = [effect_node("b0"), effect_node("b1", fail_times=1), effect_node("b2")]

    outcome = engine.run(fan_out_workflow("fan", branches))

    assert isinstance(outcome.error, NodeFailed) and "node 'b1' failed" in str(outcome.error)
    assert outcome.result is not None and outcome.result.status == "FAILED"
    assert sorted(work.calls_of(outcome.statebag.execution_id)) == ["b0", "b1", "b2"]
    statuses = engine.statuses(outcome.statebag)
    assert (statuses["b0"], statuses["b1"], statuses["b2"]) == ("succeeded", "failed", "succeeded")
    segments = engine.records.list_segments(outcome.statebag.tenant_id, outcome.statebag.execution_id, 1)
    assert sorted(record.status for record in segments) == ["failed", "succeeded", "succeeded"]
    assert "join" not in statuses


def test_a_map_item_run_again_runs_only_what_did_not_succeed(engine: Engine, work: Work) -> None:
    branches = [effect_node(f"b{i}", timeout_seconds=WHOLE_BATCH_SECONDS) for i in range(3)]
    branches[1] = effect_node("b1", fail_times=1, timeout_seconds=WHOLE_BATCH_SECONDS)
    started = engine.start(fan_out_workflow("fan", branches))
    cursor, _ = engine.chain(started.statebag, started.cursor)
    [first, *_] = engine.batches(cursor)
    engine.run_batch(started.statebag, first)

    again = engine.run_batch(started.statebag, first)  # a retried invocation, or the stage run again

    assert again.results == [] and again.failures == [], "its segment had succeeded: nothing ran"
    assert work.calls_of(started.statebag.execution_id).count("b0") == 1


def test_segments_a_batch_cannot_start_in_time_are_recorded_yielded_and_run_with_the_stage_again(
    engine: Engine, work: Work
) -> None:
    branches = [effect_node(f"b{i}", seconds=30) for i in range(3)]
    statebag = engine.start(fan_out_workflow("fan", branches)).statebag
    [start] = engine.stage(statebag, 0)
    engine.run_segment(statebag, start)

    # one segment at a time, in an invocation with time for two of them
    outcome = run_batch(
        engine.runner(MARGIN_SECONDS + 50),
        engine.manifests,
        statebag,
        engine.stage(statebag, 1),
        max_workers=1,
    )

    assert [r.status for r in outcome.results] == ["succeeded", "succeeded", "yielded"]
    assert work.calls_of(statebag.execution_id) == ["b0", "b1"]
    cursor = engine.advance(statebag, 1)
    assert (cursor.stage, cursor.wait_seconds) == (1, 0), "the stage runs again at once"
    rest, _ = engine.chain(statebag, cursor)
    assert rest.mode == "done"
    assert work.calls_of(statebag.execution_id) == ["b0", "b1", "b2"]


def test_the_nodes_of_a_type_with_a_concurrency_limit_run_at_most_that_many_at_once(engine: Engine) -> None:
    branches = [{"node_id": f"b{i}", "type": "unit_limited", "config": {"value": i}} for i in range(8)]

    outcome = engine.run(fan_out_workflow("limited", branches))

    assert outcome.result is not None and outcome.result.status == "SUCCEEDED"
    assert len(engine.invocations) == 1, "one batch, in the Task that ran the start"
    assert OVERLAP.calls == 8
    assert OVERLAP.peak == LIMIT
