"""After each stage: check it against the stored segment records and point the state machine onward.

The records, not the Map's result, decide: a Distributed Map may report success although a child failed
(moto swallows child failures), so every segment of the stage must have reported, and none may have failed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from segflow.contracts import ApprovalWait, Cursor, SegmentResult, StateBag
from segflow.domain import s3_layout
from segflow.domain.errors import StageFailed, StageIncomplete
from segflow.domain.limits import (
    DISTRIBUTED_MAP_MAX_CONCURRENCY,
    INLINE_MAP_MAX_CONCURRENCY,
    INLINE_STAGE_MAX_BYTES,
)
from segflow.engine.ports import ExecutionRecords, PlanStore


def cursor_for_stage(
    manifests: PlanStore,
    statebag: StateBag,
    stage: int,
    meta: dict[str, Any] | None = None,
    wait_seconds: int = 0,
    approval: ApprovalWait | None = None,
) -> Cursor:
    """How stage ``stage`` runs: as a Task when it has one segment or only pure nodes, else a Map, with inline
    items when they fit the budget, or a Distributed Map reading them from S3. With ``approval``, the state
    machine first waits for that decision."""
    if stage >= statebag.stage_count:
        return Cursor(stage=stage, mode="done")
    cursor = _stage_cursor(manifests, statebag, stage, meta, wait_seconds)
    return cursor.model_copy(update={"approval": approval}) if approval else cursor


def _stage_cursor(
    manifests: PlanStore, statebag: StateBag, stage: int, meta: dict[str, Any] | None, wait_seconds: int
) -> Cursor:
    meta = meta or manifests.read_stage_summary(statebag.manifest_prefix, stage)
    count = meta["count"]
    if count == 1 or meta.get("pure", False):
        first = manifests.read_stage_items(statebag.manifest_prefix, stage)[0]
        return Cursor(
            stage=stage, mode="single", wait_seconds=wait_seconds, segment_config=first, stage_segments=count
        )
    if meta["bytes"] <= INLINE_STAGE_MAX_BYTES:
        items = manifests.read_stage_items(statebag.manifest_prefix, stage)
        return Cursor(
            stage=stage,
            mode="inline",
            wait_seconds=wait_seconds,
            max_concurrency=min(count, INLINE_MAP_MAX_CONCURRENCY),
            items=items,
        )
    return Cursor(
        stage=stage,
        mode="s3",
        wait_seconds=wait_seconds,
        max_concurrency=max(1, min(count, DISTRIBUTED_MAP_MAX_CONCURRENCY)),
        items_key=s3_layout.stage_items_key(statebag.manifest_prefix, stage),
    )


def advance_stage(
    records: ExecutionRecords,
    manifests: PlanStore,
    statebag: StateBag,
    stage: int,
    clock: Callable[[], float] = time.time,
) -> Cursor:
    meta = manifests.read_stage_meta(statebag.manifest_prefix, stage)
    expected = set(meta["segment_ids"])
    reported = {
        r.segment_id: r for r in records.list_segments(statebag.tenant_id, statebag.execution_id, stage)
    }
    failed = [r for r in reported.values() if r.status == "failed"]
    if failed:
        raise StageFailed(failed[0].error or f"segment {failed[0].segment_id} failed")
    missing = sorted(expected - set(reported))
    if missing:
        shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        raise StageIncomplete(f"stage {stage}: segments {shown} did not report an outcome")
    now = clock()
    approvals = sorted(
        (r for r in reported.values() if r.status == "approval"), key=lambda r: r.resume_at or now
    )
    if approvals:  # one approval at a time; the stage runs again after each decision
        first = approvals[0]
        timeout = max(1, math.ceil((first.resume_at or now) - now))
        wait = ApprovalWait(node_id=first.approval_node or "", timeout_seconds=timeout)
        return cursor_for_stage(manifests, statebag, stage, meta, approval=wait)
    paused = [r for r in reported.values() if r.status in ("waiting", "yielded")]
    if paused:
        seconds = min(max(0.0, (r.resume_at or now) - now) for r in paused)
        return cursor_for_stage(manifests, statebag, stage, meta, wait_seconds=math.ceil(seconds))
    return cursor_for_stage(manifests, statebag, stage + 1)


def cursor_after_segment(
    manifests: PlanStore, statebag: StateBag, stage: int, result: SegmentResult
) -> Cursor:
    """After a stage ran as a Task: the same stage again if a segment paused, else the next one.

    Its outcome came straight from the handler (a failure raised), so no records need checking. A stage run
    again answers its completed segments from their records and resumes the paused one.
    """
    if result.status == "approval":
        return cursor_for_stage(manifests, statebag, stage, approval=result.approval)
    if result.status in ("waiting", "yielded"):
        return cursor_for_stage(manifests, statebag, stage, wait_seconds=result.wait_seconds)
    return cursor_for_stage(manifests, statebag, stage + 1)
