"""Stages that run as one Task each, run back to back in one invocation.

A stage of one batch needs no Map: the state machine hands its first ``segment_config`` to ExecuteSegment as a
plain Task, which runs the stage and returns the cursor of what runs next. When that is again a stage of one
batch that may start at once, the same invocation runs it too while time remains, so a linear stretch of
segments costs one invocation and two state transitions instead of several per segment. Stages are read from
the plan's chunks (:mod:`segflow.domain.stage_layout`), many stages to a read, and each segment records its
nodes as it goes: a crash or a retry resumes after the last recorded node.

A stage of several segments whose nodes are all pure runs its segments one after another: they do not depend
on each other, and parallel threads would buy nothing for work that has no I/O of its own. If time runs short
inside such a stage, the stage is handed back to run again; its completed segments answer from their records.
A stage of several segments with side effects that fits one batch runs them at the same time
(:mod:`segflow.engine.stage_batch`).

Segments run one after another write their records together (the runner holds them, see
``SegmentRunner.run``'s ``hold``): in pages of many nodes, before anything with a side effect runs (a batch
included), and at the latest when the chain returns.
"""

from __future__ import annotations

from collections.abc import Callable

from segflow.contracts import Cursor, SegmentResult, StateBag
from segflow.domain.limits import SEGMENT_YIELD_MARGIN_MS
from segflow.domain.plan import SegmentConfig
from segflow.engine.ports import PlanStore
from segflow.engine.segment_runner import SegmentRunner
from segflow.engine.stage_advancer import cursor_after_stage, cursor_for_stage
from segflow.engine.stage_batch import run_batch, segment_nodes


def _stage_segments(
    runner: SegmentRunner,
    manifests: PlanStore,
    statebag: StateBag,
    first: SegmentConfig,
    count: int,
    may_have_run: bool,
) -> list[SegmentConfig]:
    """The segments the Task runs for this stage, ``first`` first. In a stage that may have run before (the
    one this invocation was handed: a retry, or a stage handed back), segments that already succeeded are
    left out: one query, rather than replaying each of them."""
    if count <= 1:
        return [first]
    items = manifests.read_stage_items(statebag.manifest_prefix, first.stage)
    done: set[str] = set()
    if may_have_run:
        tenant, execution_id = statebag.tenant_id, statebag.execution_id
        done = {
            record.segment_id
            for record in runner.records.list_segments(tenant, execution_id, first.stage)
            if record.status == "succeeded"
        }
    ordered = [
        first,
        *(SegmentConfig.model_validate(i) for i in items if i["segment_id"] != first.segment_id),
    ]
    return [segment for segment in ordered if segment.segment_id not in done]


def handed_back(manifests: PlanStore, statebag: StateBag, cursor: Cursor) -> Cursor:
    """RunFirstStage's answer when the first stage is not a Task that starts at once: the stage's cursor for
    RouteStage, whole again (InitializeStateBag left an inline Map's items out)."""
    if cursor.mode not in ("inline", "s3", "single"):
        return cursor
    whole = cursor_for_stage(
        manifests, statebag, cursor.stage, wait_seconds=cursor.wait_seconds, approval=cursor.approval
    )
    return whole.model_copy(update={"events": cursor.events})


def run_segment_chain(
    runner: SegmentRunner,
    manifests: PlanStore,
    statebag: StateBag,
    segment: SegmentConfig,
    remaining_ms: Callable[[], int],
    on_segment: Callable[[SegmentConfig, SegmentResult], None] | None = None,
    stage_segments: int = 1,
) -> Cursor:
    cursor = _run_chain(runner, manifests, statebag, segment, remaining_ms, on_segment, stage_segments)
    runner.flush()
    return cursor


def _run_chain(
    runner: SegmentRunner,
    manifests: PlanStore,
    statebag: StateBag,
    segment: SegmentConfig,
    remaining_ms: Callable[[], int],
    on_segment: Callable[[SegmentConfig, SegmentResult], None] | None,
    stage_segments: int,
) -> Cursor:
    entry_stage = segment.stage
    while True:
        stage = segment.stage
        to_run = _stage_segments(runner, manifests, statebag, segment, stage_segments, stage == entry_stage)
        if len(to_run) > 1 and not manifests.read_stage(statebag.manifest_prefix, stage).pure:
            runner.flush()  # what the chain holds is written before the batch's side effects
            outcome = run_batch(runner, manifests, statebag, to_run, on_segment)
            outcome.raise_failure()
            if not outcome.finished:
                return cursor_after_stage(manifests, statebag, stage, outcome.results)
        else:
            for index, config in enumerate(to_run):
                if index and remaining_ms() <= SEGMENT_YIELD_MARGIN_MS:
                    return cursor_for_stage(manifests, statebag, stage)
                nodes, reads = segment_nodes(manifests, config)
                result = runner.run(statebag, config, nodes, reads, hold=True)
                if on_segment is not None:
                    on_segment(config, result)
                if result.status != "succeeded":
                    return cursor_after_stage(manifests, statebag, stage, [result])
        cursor = cursor_for_stage(manifests, statebag, stage + 1)
        if not cursor.starts_as_task() or remaining_ms() <= SEGMENT_YIELD_MARGIN_MS:
            return cursor
        segment = SegmentConfig.model_validate(cursor.segment_config)
        stage_segments = cursor.stage_segments
