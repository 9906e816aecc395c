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
    """How stage ``stage`` runs: as a Task when it is one batch (one segment, pure nodes only, or segments
    with side effects that fit one batch), else a Map over its batches, with inline items when they fit the
    budget, or a Distributed Map reading them from S3. With ``approval``, the state machine first waits for
    that decision. ``meta``: the stage's summary, when the caller has it (a Distributed Map needs no read)."""
    if stage >= statebag.stage_count:
        return Cursor(stage=stage, mode="done")
    cursor = _stage_cursor(manifests, statebag, stage, meta, wait_seconds)
    return cursor.model_copy(update={"approval": approval}) if approval else cursor


def _stage_cursor(
    manifests: PlanStore, statebag: StateBag, stage: int, meta: dict[str, Any] | None, wait_seconds: int
) -> Cursor:
    prefix = statebag.manifest_prefix
    if meta is not None and meta.get("batches", 1) > 1 and meta.get("bytes", 0) > INLINE_STAGE_MAX_BYTES:
        return _distributed(prefix, stage, meta["batches"], wait_seconds)
    entry = manifests.read_stage(prefix, stage)
    if entry.runs_as_task:
        first = (
            entry.segments[0] if entry.segments is not None else manifests.read_stage_items(prefix, stage)[0]
        )
        return Cursor(
            stage=stage,
            mode="single",
            wait_seconds=wait_seconds,
            segment_config=first,
            stage_segments=entry.count,
        )
    if entry.items is not None:
        return Cursor(
            stage=stage,
            mode="inline",
            wait_seconds=wait_seconds,
            max_concurrency=min(entry.batches, INLINE_MAP_MAX_CONCURRENCY),
            items=entry.items,
        )
    return _distributed(prefix, stage, entry.batches, wait_seconds)


def _distributed(prefix: str, stage: int, batches: int, wait_seconds: int) -> Cursor:
    return Cursor(
        stage=stage,
        mode="s3",
        wait_seconds=wait_seconds,
        max_concurrency=max(1, min(batches, DISTRIBUTED_MAP_MAX_CONCURRENCY)),
        items_key=s3_layout.stage_batches_key(prefix, stage),
    )


def advance_stage(
    records: ExecutionRecords,
    manifests: PlanStore,
    statebag: StateBag,
    stage: int,
    clock: Callable[[], float] = time.time,
) -> Cursor:
    entry = manifests.read_stage(statebag.manifest_prefix, stage)
    reported = {
        r.segment_id: r for r in records.list_segments(statebag.tenant_id, statebag.execution_id, stage)
    }
    failed = [r for r in reported.values() if r.status == "failed"]
    if failed:
        raise StageFailed(failed[0].error or f"segment {failed[0].segment_id} failed")
    if len(reported) < entry.count:  # only then are the stage's segment ids needed
        expected = {
            item["segment_id"] for item in manifests.read_stage_items(statebag.manifest_prefix, stage)
        }
        missing = sorted(expected - set(reported))
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
        return cursor_for_stage(manifests, statebag, stage, entry.summary(), approval=wait)
    paused = [r for r in reported.values() if r.status in ("waiting", "yielded")]
    if paused:
        seconds = min(max(0.0, (r.resume_at or now) - now) for r in paused)
        return cursor_for_stage(manifests, statebag, stage, entry.summary(), wait_seconds=math.ceil(seconds))
    return cursor_for_stage(manifests, statebag, stage + 1)


def cursor_after_stage(
    manifests: PlanStore, statebag: StateBag, stage: int, results: list[SegmentResult]
) -> Cursor:
    """After a stage ran as a Task: the same stage again if a segment paused (after the earliest approval
    first, else after the shortest wait), else the next one.

    Its outcome came straight from the handler (a failure raised), so no records need checking. A stage run
    again answers its completed segments from their records and resumes the paused ones.
    """
    approvals = [r.approval for r in results if r.status == "approval" and r.approval is not None]
    if approvals:
        first = min(approvals, key=lambda approval: approval.timeout_seconds)
        return cursor_for_stage(manifests, statebag, stage, approval=first)
    paused = [r.wait_seconds for r in results if r.status in ("waiting", "yielded")]
    if paused:
        return cursor_for_stage(manifests, statebag, stage, wait_seconds=min(paused))
    return cursor_for_stage(manifests, statebag, stage + 1)
