"""Running a batch: several segments of one stage in one invocation, at the same time.

A stage with side effects is stored in batches (:mod:`segflow.engine.batching`): a Map item names one, and a
stage of one batch runs as a Task. Each segment of a batch runs in a thread of its own (at most
:data:`~segflow.domain.limits.BATCH_MAX_CONCURRENT_SEGMENTS` at once) with a runner of its own
(:meth:`~segflow.engine.segment_runner.SegmentRunner.sibling`: the segment's state apart; the invocation's
deadline, stores, services and node type slots shared), so their nodes' I/O overlaps while each node type
keeps to its ``max_concurrency``.

Each segment records its outcome as it would alone, so the stage is still decided from the records. One that
fails does not stop the others: they run to their end, and the failure is raised once all are recorded. A
segment that can no longer start before the yield margin is recorded ``yielded``, so the stage runs again,
its completed segments answering from their records.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from segflow.contracts import SegmentResult, StateBag
from segflow.domain.errors import SegflowError
from segflow.domain.limits import BATCH_MAX_CONCURRENT_SEGMENTS
from segflow.domain.plan import SegmentConfig, SegmentNode
from segflow.domain.records import SegmentRecord
from segflow.domain.stage_layout import BatchRef
from segflow.engine.ports import PlanStore, SegmentRecords
from segflow.engine.segment_runner import SegmentRunner

OnSegment = Callable[[SegmentConfig, SegmentResult], None]


def segment_nodes(manifests: PlanStore, segment: SegmentConfig) -> tuple[list[SegmentNode], list[str]]:
    """The segment's nodes and the outputs it reads: inline, or from its S3 body."""
    if segment.body_key:
        body = manifests.read_body(segment.body_key)
        return body.nodes, body.reads
    return segment.nodes or [], segment.reads


@dataclass
class BatchOutcome:
    results: list[SegmentResult] = field(default_factory=list)  # of the segments that returned
    failures: list[Exception] = field(default_factory=list)  # what the others raised, in segment order

    @property
    def finished(self) -> bool:
        """Every segment succeeded."""
        return not self.failures and all(result.status == "succeeded" for result in self.results)

    def raise_failure(self) -> None:
        """Raise what failed the batch, if anything: segflow's own error first (a node failed: the stage
        fails, as that segment alone would have failed it), else the first other one (an AWS error, which the
        state machine may retry: the batch then resumes from its records)."""
        if self.failures:
            own = [failure for failure in self.failures if isinstance(failure, SegflowError)]
            raise (own or self.failures)[0]


def succeeded_segments(
    records: SegmentRecords, statebag: StateBag, stage: int, between: tuple[str, str]
) -> set[str]:
    """Segments of ``stage`` with ids in ``between`` that succeeded already (a retry, or the stage run
    again)."""
    return {
        record.segment_id
        for record in records.list_segments(statebag.tenant_id, statebag.execution_id, stage, between)
        if record.status == "succeeded"
    }


def run_batch(
    runner: SegmentRunner,
    manifests: PlanStore,
    statebag: StateBag,
    segments: list[SegmentConfig],
    on_segment: OnSegment | None = None,
    max_workers: int = BATCH_MAX_CONCURRENT_SEGMENTS,
) -> BatchOutcome:
    """Run ``segments`` (of one stage) at the same time, ``runner`` running the first of them."""
    runners = [runner, *(runner.sibling() for _ in segments[1:])]

    def run_one(index: int) -> SegmentResult:
        own, config = runners[index], segments[index]
        if index and own.remaining_ms() < own.yield_margin_ms:
            return _not_started(own, statebag, config)
        nodes, reads = segment_nodes(manifests, config)
        result = own.run(statebag, config, nodes, reads)
        if on_segment is not None:
            on_segment(config, result)
        return result

    outcome = BatchOutcome()
    if not segments:
        return outcome
    if len(segments) == 1:
        try:
            outcome.results.append(run_one(0))
        except Exception as error:
            outcome.failures.append(error)
        return outcome
    with ThreadPoolExecutor(min(max_workers, len(segments)), thread_name_prefix="segflow-batch") as pool:
        # Each thread runs in a copy of this one's context: the invocation's log keys.
        futures = [pool.submit(contextvars.copy_context().run, run_one, i) for i in range(len(segments))]
    for future in futures:
        failure = future.exception()
        if failure is None:
            outcome.results.append(future.result())
        elif isinstance(failure, Exception):
            outcome.failures.append(failure)
        else:
            raise failure
    return outcome


def run_map_batch(
    runner: SegmentRunner,
    manifests: PlanStore,
    statebag: StateBag,
    batch: BatchRef,
    on_segment: OnSegment | None = None,
) -> BatchOutcome:
    """A Map item: its batch's segments, but for those that succeeded already (found with one range query)."""
    configs = [SegmentConfig.model_validate(c) for c in manifests.read_batch(statebag.manifest_prefix, batch)]
    ids = [config.segment_id for config in configs]
    done = succeeded_segments(runner.records, statebag, batch.stage, (min(ids), max(ids)))
    pending = [config for config in configs if config.segment_id not in done]
    return run_batch(runner, manifests, statebag, pending, on_segment)


def _not_started(runner: SegmentRunner, statebag: StateBag, config: SegmentConfig) -> SegmentResult:
    """Too little time was left to start the segment: recorded ``yielded``, it runs when the stage runs
    again."""
    runner.records.put_segment(
        statebag.tenant_id,
        statebag.execution_id,
        SegmentRecord(
            segment_id=config.segment_id, stage=config.stage, status="yielded", resume_at=runner.clock()
        ),
    )
    return SegmentResult(segment_id=config.segment_id, status="yielded")
