"""Stages of a single segment, run back to back in one invocation.

A stage with one segment needs no Map: the state machine hands its ``segment_config`` to ExecuteSegment as a
plain Task, which returns the cursor of what runs next. When that is again a single segment that may start
at once, the same invocation runs it too while time remains, so a linear stretch of segments costs one
invocation and two state transitions instead of several per segment. Each segment still reads only its own
``segment_config`` (the next stage's item in S3, never the whole manifest) and records its nodes as it goes:
a crash or a retry resumes after the last recorded node.

A stage of several segments whose nodes are all pure runs here too, its segments one after another: they do
not depend on each other, and parallel Lambdas would buy nothing for work that has no I/O of its own. If time
runs short inside such a stage, the stage is handed back to run again; its completed segments answer from
their records.

Segments of pure nodes run one after another write their records together (the runner holds them, see
``SegmentRunner.run``'s ``hold``): in pages of many nodes, before anything with a side effect runs, and at
the latest when the chain returns.
"""

from __future__ import annotations

from collections.abc import Callable

from segflow.contracts import Cursor, SegmentResult, StateBag
from segflow.domain.limits import SEGMENT_YIELD_MARGIN_MS
from segflow.domain.plan import SegmentConfig, SegmentNode
from segflow.engine.ports import PlanStore
from segflow.engine.segment_runner import SegmentRunner
from segflow.engine.stage_advancer import cursor_after_segment, cursor_for_stage


def segment_nodes(manifests: PlanStore, segment: SegmentConfig) -> tuple[list[SegmentNode], list[str]]:
    """The segment's nodes and the outputs it reads: inline, or from its S3 body."""
    if segment.body_key:
        body = manifests.read_body(segment.body_key)
        return body.nodes, body.reads
    return segment.nodes or [], segment.reads


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
        for index, config in enumerate(to_run):
            if index and remaining_ms() <= SEGMENT_YIELD_MARGIN_MS:
                return cursor_for_stage(manifests, statebag, stage)
            nodes, reads = segment_nodes(manifests, config)
            result = runner.run(statebag, config, nodes, reads, hold=True)
            if on_segment is not None:
                on_segment(config, result)
            if result.status != "succeeded":
                return cursor_after_segment(manifests, statebag, stage, result)
        cursor = cursor_for_stage(manifests, statebag, stage + 1)
        continues = (
            cursor.mode == "single"
            and cursor.wait_seconds == 0
            and cursor.segment_config is not None
            and remaining_ms() > SEGMENT_YIELD_MARGIN_MS
        )
        if not continues:
            return cursor
        segment = SegmentConfig.model_validate(cursor.segment_config)
        stage_segments = cursor.stage_segments
