"""The engine over in-memory stores, driven by a clock the test moves: no AWS, no sleeps.

:class:`Engine` starts executions with the real initializer, runs segments with the real runner and chain,
checks stages with the real advancer and ends executions with the real finalizer, over
:mod:`segflow_local.memory_stores`. :meth:`Engine.run` drives the stages as the state machine does (Task or
Map, AdvanceStage, Wait states, the Catch that finalizes a failure); it stops where the state machine would
wait for an approval.

Two node types are registered for these tests (through the public :func:`segflow.nodes.custom.node_type`):
``unit_effect`` stands for a node with a side effect (it counts its calls, may take time on the test's clock,
fail its first attempts, or let "another attempt" run while it runs); ``unit_pure`` is a pure node that counts
its calls.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from segflow.contracts import (
    Cursor,
    ExecutionRequest,
    FinalizeEvent,
    FinalizeResult,
    InitializeResult,
    S3Pointer,
    SegmentResult,
    StateBag,
)
from segflow.domain.errors import NodeFailure, SegflowError
from segflow.domain.limits import SEGMENT_YIELD_MARGIN_MS
from segflow.domain.plan import SegmentConfig
from segflow.domain.records import NodeRecord
from segflow.domain.stage_layout import BatchRef
from segflow.engine.batching import BATCH_SECONDS
from segflow.engine.finalizer import finalize
from segflow.engine.initializer import Initializer
from segflow.engine.segment_chain import run_segment_chain
from segflow.engine.segment_runner import SegmentRunner
from segflow.engine.stage_advancer import advance_stage
from segflow.engine.stage_batch import BatchOutcome, run_map_batch, segment_nodes
from segflow.events.models import ExecutionEvent
from segflow.nodes import registry
from segflow.nodes.base import NodeContext
from segflow.nodes.custom import node_type
from segflow.nodes.services import NodeServices

from segflow_local.memory_stores import (
    MemoryApprovals,
    MemoryEventLog,
    MemoryExecutionRecords,
    MemoryJournal,
    MemoryManifests,
    MemoryOutputs,
    MemoryWorkflowVersions,
)

LAMBDA_SECONDS = 900.0  # what a fresh ExecuteSegment invocation has (its function's timeout)
MARGIN_SECONDS = SEGMENT_YIELD_MARGIN_MS / 1000
# A node with this timeout may take all a batch has: its segment is a batch of its own (a stage of such nodes
# runs as a Map, one item per segment).
WHOLE_BATCH_SECONDS = BATCH_SECONDS


class FakeClock:
    """Wall-clock time that moves only when a test (or a node's work, or a retry's backoff) moves it."""

    def __init__(self, now: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def iso(self) -> str:
        return datetime.fromtimestamp(self.now, UTC).isoformat()


class Invocation:
    """One Lambda invocation's remaining time, by the fake clock."""

    def __init__(self, clock: FakeClock, seconds: float) -> None:
        self.clock = clock
        self.ends_at = clock.now + seconds

    def remaining_ms(self) -> int:
        return max(0, int((self.ends_at - self.clock.now) * 1000))


# --- the test node types ----------------------------------------------------------------------------------


class Retryable(NodeFailure):
    retryable = True


@dataclass
class Work:
    """What the test nodes did and may do, for the current test."""

    clock: FakeClock = field(default_factory=FakeClock)
    calls: list[tuple[str, str, int]] = field(default_factory=list)  # (execution id, node id, attempt)
    # Run once while the node (execution id, node id) runs: "another attempt" racing it.
    during: dict[tuple[str, str], Callable[[], None]] = field(default_factory=dict)

    def calls_of(self, execution_id: str) -> list[str]:
        return [node_id for execution, node_id, _ in self.calls if execution == execution_id]


WORK = Work()


class EffectConfig(BaseModel):
    value: Any = None
    seconds: float = 0  # how long its work takes on the test's clock
    fail_times: int = 0  # its first attempts fail with error_type (retryable)
    error_type: str = "Flaky"


class PureConfig(BaseModel):
    value: Any = None
    seconds: float = 0  # how long its computation takes on the test's clock


def effect(config: EffectConfig, context: NodeContext) -> dict[str, Any]:
    execution_id = context.execution.execution_id
    WORK.calls.append((execution_id, context.node_id, context.attempt))
    call = sum(1 for e, n, _ in WORK.calls if (e, n) == (execution_id, context.node_id))  # this call's number
    race = WORK.during.pop((execution_id, context.node_id), None)
    if race is not None:
        race()
    WORK.clock.advance(config.seconds)
    if context.attempt <= config.fail_times:
        raise Retryable(f"attempt {context.attempt} failed", config.error_type)
    return {"value": config.value, "attempt": context.attempt, "call": call}


def pure(config: PureConfig, context: NodeContext) -> Any:
    WORK.calls.append((context.execution.execution_id, context.node_id, context.attempt))
    WORK.clock.advance(config.seconds)
    return config.value


if registry.lookup("unit_effect", None) is None:
    node_type("unit_effect", config=EffectConfig, description="A side effect, as the tests script it.")(
        effect
    )
    node_type("unit_pure", config=PureConfig, description="A pure node that counts its calls.", pure=True)(
        pure
    )


def effect_node(node_id: str, value: Any = None, **config: Any) -> dict[str, Any]:
    retry = config.pop("retry", None)
    timeout = config.pop("timeout_seconds", None)
    node: dict[str, Any] = {"node_id": node_id, "type": "unit_effect", "config": {"value": value, **config}}
    if retry is not None:
        node["retry"] = retry
    if timeout is not None:
        node["timeout_seconds"] = timeout
    return node


def pure_node(node_id: str, value: Any = None, seconds: float = 0) -> dict[str, Any]:
    return {"node_id": node_id, "type": "unit_pure", "config": {"value": value, "seconds": seconds}}


# --- the engine -------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """Where :meth:`Engine.run` stopped: finalized, or waiting for an approval (``cursor``)."""

    statebag: StateBag
    result: FinalizeResult | None = None
    cursor: Cursor | None = None
    error: SegflowError | None = None  # what failed the execution (the state machine's Catch)


@dataclass
class Engine:
    clock: FakeClock
    records: MemoryExecutionRecords = field(default_factory=MemoryExecutionRecords)
    outputs: MemoryOutputs = field(default_factory=MemoryOutputs)
    manifests: MemoryManifests = field(default_factory=MemoryManifests)
    approvals: MemoryApprovals = field(default_factory=MemoryApprovals)
    versions: MemoryWorkflowVersions = field(default_factory=MemoryWorkflowVersions)
    tenant: str = "default"
    invocations: list[Invocation] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.manifests.clock = self.clock
        self.log = MemoryEventLog(self.records)
        self.journal = MemoryJournal(self.records, self.log)

    def start(
        self, workflow: dict[str, Any], execution_input: dict[str, Any] | None = None
    ) -> InitializeResult:
        key = self.manifests.submit(self.tenant, "workflows", workflow)
        request = ExecutionRequest(
            tenant_id=self.tenant, workflow=S3Pointer(s3_key=key), input=execution_input
        )
        initializer = Initializer(
            self.records, self.manifests, self.outputs, self.versions, self.journal, clock=self.clock
        )
        return initializer.initialize(request, f"e-{uuid.uuid4().hex[:12]}", self.clock.iso())

    def runner(self, seconds: float = LAMBDA_SECONDS) -> SegmentRunner:
        """The runner of a new ExecuteSegment invocation with ``seconds`` to go."""
        invocation = Invocation(self.clock, seconds)
        self.invocations.append(invocation)
        return SegmentRunner(
            self.records,
            self.outputs,
            invocation.remaining_ms,
            clock=self.clock,
            sleep=self.clock.sleep,
            services=NodeServices(
                approvals_factory=lambda: self.approvals,
                workflow_versions_factory=lambda: self.versions,
            ),
            journal=self.journal,
        )

    def stage(self, statebag: StateBag, stage: int) -> list[SegmentConfig]:
        items = self.manifests.read_stage_items(statebag.manifest_prefix, stage)
        return [SegmentConfig.model_validate(item) for item in items]

    def batches(self, cursor: Cursor) -> list[BatchRef]:
        """The Map items of a stage run as a Map: its batches."""
        assert cursor.mode in ("inline", "s3")
        items = cursor.items if cursor.items is not None else self.manifests.read_json(cursor.items_key or "")
        return [BatchRef.model_validate(item) for item in items]

    def run_segment(
        self, statebag: StateBag, segment: SegmentConfig, seconds: float = LAMBDA_SECONDS
    ) -> SegmentResult:
        nodes, reads = segment_nodes(self.manifests, segment)
        return self.runner(seconds).run(statebag, segment, nodes, reads)

    def chain(
        self, statebag: StateBag, cursor: Cursor, seconds: float = LAMBDA_SECONDS
    ) -> tuple[Cursor, list[SegmentResult]]:
        """A stage run as a Task (``single``): ExecuteSegment with ``advance``; returns the next cursor."""
        assert cursor.mode == "single" and cursor.segment_config is not None
        runner = self.runner(seconds)
        results: list[SegmentResult] = []
        next_cursor = run_segment_chain(
            runner,
            self.manifests,
            statebag,
            SegmentConfig.model_validate(cursor.segment_config),
            runner.remaining_ms,
            lambda _config, result: results.append(result),
            stage_segments=cursor.stage_segments,
        )
        return next_cursor, results

    def map(self, statebag: StateBag, cursor: Cursor) -> Cursor:
        """A stage run as a Map (inline or distributed): each item (a batch) in an invocation, then
        AdvanceStage. A batch that raises fails the Map (the state machine's Catch)."""
        for batch in self.batches(cursor):
            self.run_batch(statebag, batch).raise_failure()
        return self.advance(statebag, cursor.stage)

    def run_batch(self, statebag: StateBag, batch: BatchRef, seconds: float = LAMBDA_SECONDS) -> BatchOutcome:
        """One Map item: ExecuteSegment running a batch of the stage's segments."""
        return run_map_batch(self.runner(seconds), self.manifests, statebag, batch)

    def advance(self, statebag: StateBag, stage: int) -> Cursor:
        return advance_stage(
            self.records,
            self.manifests,
            statebag,
            stage,
            clock=self.clock,
        )

    def finalize(self, event: FinalizeEvent) -> FinalizeResult:
        return finalize(
            self.records,
            self.manifests,
            self.outputs,
            event,
            self.journal,
        )

    def run(self, workflow: dict[str, Any], execution_input: dict[str, Any] | None = None) -> Outcome:
        """Start an execution and drive it as the state machine does."""
        started = self.start(workflow, execution_input)
        return self.resume(started.statebag, started.cursor)

    def resume(self, statebag: StateBag, cursor: Cursor) -> Outcome:
        """Drive an execution from ``cursor`` (after an approval was decided, say) until it ends or waits."""
        try:
            while cursor.mode != "done":
                if cursor.approval is not None:
                    return Outcome(statebag, cursor=cursor)
                self.clock.advance(cursor.wait_seconds)  # the Wait state
                if cursor.mode == "single":
                    cursor, _ = self.chain(statebag, cursor)
                else:
                    cursor = self.map(statebag, cursor)
        except SegflowError as error:
            cause = json.dumps({"errorMessage": str(error), "errorType": type(error).__name__})
            failure = {"Error": type(error).__name__, "Cause": cause}
            result = self.finalize(FinalizeEvent(statebag=statebag, outcome="FAILED", error=failure))
            return Outcome(statebag, result=result, error=error)
        return Outcome(statebag, result=self.finalize(FinalizeEvent(statebag=statebag, outcome="SUCCEEDED")))

    # --- what a user sees ---------------------------------------------------------------------------------

    def node(self, statebag: StateBag, node_id: str) -> NodeRecord | None:
        return self.records.get_nodes(statebag.tenant_id, statebag.execution_id, [node_id]).get(node_id)

    def output(self, statebag: StateBag, node_id: str) -> Any:
        record = self.node(statebag, node_id)
        assert record is not None and record.status == "succeeded", record
        return self.outputs.load(record.output_json, record.output_key)

    def statuses(self, statebag: StateBag) -> dict[str, str]:
        return {
            r.node_id: r.status for r in self.records.list_nodes(statebag.tenant_id, statebag.execution_id)
        }

    def events(self, statebag: StateBag) -> list[ExecutionEvent]:
        return self.log.read_all(statebag.tenant_id, statebag.execution_id)

    def node_events(self, statebag: StateBag, node_id: str) -> list[tuple[str, str]]:
        return [(e.previous_state, e.new_state) for e in self.events(statebag) if e.node_id == node_id]
