"""The segment runner: executes one segment's nodes in order, storing each node's outcome once.

It resumes where an earlier attempt stopped (completed nodes are never re-run), decides for each node whether
it runs or is skipped from the outcomes of its incoming edges, yields before the Lambda deadline, and hands
``wait`` nodes and polling nodes (:class:`~segflow.nodes.base.Poll`) back to the state machine instead of
sleeping.

No node starts what it cannot finish: each runs with a :class:`~segflow.domain.deadline.Deadline` (the time
left before the yield margin), which caps every call it makes. A node that may need more than is left (its
``timeout_seconds`` or its type's ``blocks_for``) is left to the next invocation, unless it is this
invocation's first node or what is left is nearly all an invocation gives; a retry whose backoff does not fit
waits for the next invocation (the node is recorded ``waiting``, its attempt kept); a node the deadline cuts
runs again in the next invocation, or, as the invocation's first node (it had all the time there is), fails
its attempt with ``InvocationDeadline``, which its retry policy may list.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

from segflow.contracts import ApprovalWait, SegmentResult, StateBag
from segflow.domain.approvals import ApprovalNotPending, ApprovalRecord, Decision
from segflow.domain.deadline import Deadline
from segflow.domain.errors import (
    CheckpointConflict,
    DeadlineReached,
    NodeFailed,
    NodeFailure,
    NodeTypeUnavailable,
    UpstreamIncomplete,
)
from segflow.domain.limits import (
    ERROR_MESSAGE_MAX_CHARS,
    NODE_BATCH_MAX_BYTES,
    NODE_BATCH_MAX_NODES,
    NODE_BATCH_MAX_SEGMENTS,
    SEGMENT_YIELD_MARGIN_MS,
)
from segflow.domain.plan import SegmentConfig, SegmentNode
from segflow.domain.records import ExecutionIdentity, ExecutionRecord, NodeRecord, SegmentRecord
from segflow.domain.statuses import TERMINAL_NODE_STATUSES, NodeStatus
from segflow.dsl.models import RetryPolicy
from segflow.dsl.templates import build_context
from segflow.engine.node_slots import NodeSlots
from segflow.engine.ports import Checkpoints, NodeOutputs, SegmentRecords
from segflow.events.models import EventDraft
from segflow.nodes import registry
from segflow.nodes.base import (
    ExecutionInfo,
    NodeContext,
    NodeResult,
    NodeType,
    Poll,
    PreviousRunStillRunning,
    render_config,
    run_executor,
    time_needed,
)
from segflow.nodes.judgment import resolve_route
from segflow.nodes.retry import NO_RETRY, next_retry
from segflow.nodes.routing import edge_taken
from segflow.nodes.services import NodeServices

Activation = Literal["run", "skip"]


@dataclass
class _Outcome:
    status: str
    route: str | None = None
    output: Any = None
    has_output: bool = False


@dataclass(frozen=True)
class _Deferred:
    """The node goes on in the next invocation, ``wait_seconds`` from now (recorded ``waiting``)."""

    wait_seconds: int


@dataclass
class SegmentRun:
    """What one invocation knows about the nodes it touches."""

    identity: ExecutionIdentity
    outcomes: dict[str, _Outcome] = field(default_factory=dict)
    records: dict[str, NodeRecord] = field(default_factory=dict)


@dataclass
class _Held:
    """What the runner has not written yet: records of pure nodes and skips (with their events), and the
    outcomes of the segments they finish. Written in one batch (pages) before any side effect, before a
    pause, at the end of a segment (or, for a chain of segments, of the invocation) and whenever it grows
    past one transaction's worth. Losing it in a crash only means running pure nodes again: none of their
    events was published."""

    identity: ExecutionIdentity | None = None
    changes: list[tuple[NodeRecord, EventDraft]] = field(default_factory=list)
    segments: list[SegmentRecord] = field(default_factory=list)
    segment_ids: set[str] = field(default_factory=set)
    bytes: int = 0

    @property
    def full(self) -> bool:
        return (
            len(self.changes) >= NODE_BATCH_MAX_NODES
            or self.bytes >= NODE_BATCH_MAX_BYTES
            or len(self.segment_ids) >= NODE_BATCH_MAX_SEGMENTS
        )

    def add(self, record: NodeRecord, draft: EventDraft) -> None:
        self.changes.append((record, draft))
        self.segment_ids.add(record.segment_id)
        # the record's bulk, and about what the rest of it takes as JSON
        self.bytes += len(record.output_json or "") + len(record.progress_json or "") + 400


def _short(message: str) -> str:
    return (
        message if len(message) <= ERROR_MESSAGE_MAX_CHARS else message[: ERROR_MESSAGE_MAX_CHARS - 1] + "…"
    )


class SegmentRunner:
    def __init__(
        self,
        records: SegmentRecords,
        outputs: NodeOutputs,
        remaining_ms: Callable[[], int],
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        yield_margin_ms: int = SEGMENT_YIELD_MARGIN_MS,
        services: NodeServices | None = None,
        *,
        journal: Checkpoints,
        slots: NodeSlots | None = None,
    ) -> None:
        self.records = records
        self.journal = journal
        self.services = services or NodeServices()
        self.outputs = outputs
        self.remaining_ms = remaining_ms
        self.clock = clock
        self.sleep = sleep
        self.yield_margin_ms = yield_margin_ms
        # The invocation's slots per node type: runners of one invocation (a batch's segments) share them.
        self.slots = slots or NodeSlots()
        self._executions: dict[tuple[str, str], ExecutionRecord] = {}
        # What a node may still wait: the time left before the yield margin. The runner lives for one
        # invocation, so what is left now is what the next invocation would give a deferred node.
        self.deadline = Deadline(self._seconds_left, fresh_seconds=self._seconds_left())
        # Whether this invocation has started a node: the first one always starts (so every invocation
        # makes progress), and cutting it short is its failure, not a reason to wait for the next one.
        self._started_a_node = False
        self._held = _Held()

    def sibling(self) -> SegmentRunner:
        """A runner for another segment of this invocation, run at the same time as this one's (a batch).
        It shares the invocation's deadline, stores, services, node type slots and execution records, and it
        never runs the invocation's first node: its nodes wait for a fresh invocation rather than fail when
        their time is short. (Each segment's own state lives in its run, so runners are per thread.)"""
        other = SegmentRunner(
            self.records,
            self.outputs,
            self.remaining_ms,
            self.clock,
            self.sleep,
            self.yield_margin_ms,
            self.services,
            journal=self.journal,
            slots=self.slots,
        )
        other.deadline = self.deadline
        other._executions = self._executions
        other._started_a_node = True
        return other

    def _seconds_left(self) -> float:
        return (self.remaining_ms() - self.yield_margin_ms) / 1000

    def _execution(self, tenant: str, execution_id: str) -> ExecutionRecord | None:
        """The execution's record, read once per runner (one invocation): what segments use of it (input,
        workflow name) does not change while it runs."""
        key = (tenant, execution_id)
        if key not in self._executions:
            record = self.records.get_execution(tenant, execution_id)
            if record is None:
                return None
            self._executions[key] = record
        return self._executions[key]

    # --- entry point --------------------------------------------------------------------------------------

    def run(
        self,
        statebag: StateBag,
        segment: SegmentConfig,
        nodes: list[SegmentNode],
        reads: list[str],
        *,
        hold: bool = False,
    ) -> SegmentResult:
        """Run the segment. ``hold``: a segment that succeeds may leave its records (of pure nodes) and its
        outcome held, to be written with those of the segments that follow in this invocation; the caller
        then calls :meth:`flush` before it returns."""
        tenant, execution_id = statebag.tenant_id, statebag.execution_id
        execution = self._execution(tenant, execution_id)
        if execution is None:
            raise UpstreamIncomplete(f"execution {execution_id} has no record; was it initialized?")
        execution_input = self.outputs.load(execution.input_json, execution.input_key) or {}
        info = ExecutionInfo(
            tenant,
            execution_id,
            statebag.workflow_id,
            statebag.started_at,
            execution.started_by,
            origin_execution_id=execution.origin,
        )

        own_ids = [node.node_id for node in nodes]
        external = {edge.source for node in nodes for edge in node.incoming} | set(reads)
        external -= set(own_ids)
        identity = ExecutionIdentity(tenant, execution_id, statebag.workflow_id, statebag.workflow_version)
        if self._held.identity not in (None, identity):
            self.flush()
        self._held.identity = identity
        # Pure nodes' records are in their segments' pages: this one's and those it reads from (unknown for
        # an older plan, or a join of many: then all of the execution's pages).
        segments = None if segment.sources is None else [segment.segment_id, *segment.sources]
        run = SegmentRun(
            records=self.records.get_nodes(tenant, execution_id, own_ids + sorted(external), segments),
            identity=identity,
        )
        for held, _ in self._held.changes:  # what this invocation ran and has not written yet
            stored = run.records.get(held.node_id)
            if held.node_id in external and (stored is None or stored.status not in TERMINAL_NODE_STATUSES):
                run.records[held.node_id] = held
        for node_id, record in run.records.items():
            run.outcomes[node_id] = _Outcome(status=record.status, route=record.route)

        needed = set(reads) | {e.source for n in nodes if self._type_of(n).aggregates for e in n.incoming}
        node_outputs: dict[str, Any] = {}
        for node_id in needed:
            found = run.records.get(node_id)
            if found is not None and found.status == "succeeded":
                node_outputs[node_id] = self.outputs.load(found.output_json, found.output_key)

        context = build_context(
            execution_input,
            node_outputs,
            {
                "workflow_id": statebag.workflow_id,
                "name": execution.workflow_name,
                "version": statebag.workflow_version,
            },
            {"execution_id": execution_id, "started_at": statebag.started_at},
        )

        ran = skipped = 0
        for node in nodes:
            existing = run.records.get(node.node_id)
            if existing is not None and existing.status in ("succeeded", "skipped"):
                if existing.status == "succeeded":  # resuming: later nodes of this segment may read it
                    node_outputs[node.node_id] = self.outputs.load(existing.output_json, existing.output_key)
                continue
            activation = self._activation(node, run)
            if activation == "skip":
                self._record(
                    info,
                    segment,
                    node,
                    run,
                    status="skipped",
                    started=self.clock(),
                    durable=False,
                    reason="no incoming edge was taken",
                )
                skipped += 1
                continue
            node_type = self._type_of(node)
            # Past the margin nothing starts, except a pure node as the invocation's first: it cannot block,
            # and an invocation whose reads alone used its time (a join of many outputs) still makes progress.
            if self.remaining_ms() < self.yield_margin_ms and (self._started_a_node or not node_type.pure):
                return self._pause(info, segment, run, "yielded", 0, ran, skipped)
            if node_type.placement == "approval":
                pending = self._approval_node(info, segment, node, run, context, existing)
                if pending is not None:
                    return self._pause(info, segment, run, "approval", 0, ran, skipped, approval=pending)
                ran += 1
                continue
            if node_type.placement == "wait":
                wait_left = self._wait_node(info, segment, node, run, context, existing)
                if wait_left > 0:
                    return self._pause(info, segment, run, "waiting", wait_left, ran, skipped)
                ran += 1
                continue
            progress = json.loads(existing.progress_json) if existing and existing.progress_json else None
            if existing is not None and existing.status == "waiting" and existing.resume_at is not None:
                poll_in = existing.resume_at - self.clock()
                if poll_in > 0.5:  # an early re-run of the stage (a sibling's shorter wait)
                    return self._pause(info, segment, run, "waiting", math.ceil(poll_in), ran, skipped)
            need = time_needed(node_type, node.config, node.timeout_seconds)
            if need and self._started_a_node and not self.deadline.allows(need):
                return self._pause(info, segment, run, "yielded", 0, ran, skipped)
            # A node deferred to this invocation goes on with the attempt it was recorded with.
            deferred = existing is not None and existing.status == "waiting" and progress is None
            with self.slots.slot(node_type, partial(self._may_start, need)) as admitted:
                if not admitted:  # its type's slots stayed taken until its time was short
                    return self._pause(info, segment, run, "yielded", 0, ran, skipped)
                result = self._execute(
                    info,
                    segment,
                    node,
                    node_type,
                    run,
                    context,
                    started=existing.started_at if progress is not None and existing else None,
                    progress=progress,
                    first_attempt=existing.attempt if deferred and existing else 1,
                )
            if isinstance(result, _Deferred):
                return self._pause(info, segment, run, "yielded", result.wait_seconds, ran, skipped)
            if isinstance(result, Poll):
                return self._pause(info, segment, run, "waiting", result.delay_seconds, ran, skipped)
            node_outputs[node.node_id] = result.output
            ran += 1

        self._held.segments.append(
            SegmentRecord(
                segment_id=segment.segment_id,
                stage=segment.stage,
                status="succeeded",
                nodes_run=ran,
                nodes_skipped=skipped,
            )
        )
        if not hold or self._held.full:
            self._flush(run)
        return SegmentResult(
            segment_id=segment.segment_id, status="succeeded", nodes_run=ran, nodes_skipped=skipped
        )

    def _may_start(self, need: float) -> bool:
        """Whether a node that may take ``need`` may still start in this invocation (one waiting for a slot
        of its type)."""
        return self.remaining_ms() >= self.yield_margin_ms and (not need or self.deadline.allows(need))

    def flush(self) -> None:
        """Write what is held (see ``run``'s ``hold``): node records with their events, then the outcomes of
        the segments they finish."""
        self._flush(None)

    def _flush(self, run: SegmentRun | None) -> None:
        held, self._held = self._held, _Held()
        if held.changes:
            assert held.identity is not None
            adopted = self.journal.put_nodes(held.identity, held.changes)
            for node_id, stored in adopted.items():  # another attempt was first: its outcome stands
                if run is not None and node_id in run.records:
                    run.records[node_id] = stored
                    run.outcomes[node_id] = _Outcome(status=stored.status, route=stored.route)
        for record in held.segments:
            assert held.identity is not None
            self.records.put_segment(held.identity.tenant_id, held.identity.execution_id, record)
        if run is not None:  # the segment running now goes on holding
            self._held.identity = run.identity

    @staticmethod
    def _shown_state(record: NodeRecord | None) -> str:
        """The state the log shows a node in: a running attempt after the first is ``retrying``."""
        if record is None:
            return "pending"
        return "retrying" if record.status == "running" and record.attempt > 1 else record.status

    def _draft(self, record: NodeRecord, previous: NodeRecord | None, reason: str | None) -> EventDraft:
        # The previous state is the one the log last showed: after a retry, "retrying", not "running".
        return EventDraft(
            kind="node",
            node_id=record.node_id,
            previous_state=self._shown_state(previous),
            new_state=self._shown_state(record),
            reason=reason,
            timestamp=self.clock(),
            duration_ms=record.duration_ms,
            error=f"{record.error_type}: {record.error_message}" if record.error_type else None,
            output_ref=record.output_key,
            completes_node=record.status in TERMINAL_NODE_STATUSES,
        )

    # --- routing ------------------------------------------------------------------------------------------

    @staticmethod
    def _type_of(node: SegmentNode) -> NodeType:
        node_type = registry.lookup(node.type, node.subtype)
        if node_type is None or node_type.executor is None:
            raise NodeTypeUnavailable(f"node '{node.node_id}': type {node.type!r} cannot run in this release")
        return node_type

    @staticmethod
    def _activation(node: SegmentNode, run: SegmentRun) -> Activation:
        if not node.incoming:
            return "run"
        active = False
        for edge in node.incoming:
            outcome = run.outcomes.get(edge.source)
            if outcome is None or outcome.status in ("running", "waiting"):
                raise UpstreamIncomplete(
                    f"node '{node.node_id}' is due but '{edge.source}' has not finished "
                    f"({outcome.status if outcome else 'no record'})"
                )
            if outcome.status == "failed":
                raise UpstreamIncomplete(f"node '{node.node_id}' cannot run: '{edge.source}' failed")
            if edge_taken(edge.condition, outcome.status, outcome.route):
                active = True
        return "run" if active else "skip"

    # --- node execution -----------------------------------------------------------------------------------

    def _record(
        self,
        info: ExecutionInfo,
        segment: SegmentConfig,
        node: SegmentNode,
        run: SegmentRun,
        status: NodeStatus,
        started: float,
        attempt: int = 0,
        durable: bool = True,
        reason: str | None = None,
        **fields: Any,
    ) -> NodeRecord:
        """Record a node's state and its event: at once when ``durable``, else batched with the next flush.
        A pure node's states and a skip go into the batch (written in pages; a durable one flushes it now);
        the others are written one by one. Returns what is recorded: another attempt's outcome, if it was
        there first."""
        finished = fields.pop("finished_at", None)
        record = NodeRecord(
            node_id=node.node_id,
            segment_id=segment.segment_id,
            stage=segment.stage,
            type=(node.subtype and f"{node.type}:{node.subtype}") or node.type,
            label=node.label,
            status=status,
            attempt=attempt,
            started_at=started,
            finished_at=finished,
            duration_ms=int((finished - started) * 1000) if finished is not None else None,
            **fields,
        )
        draft = self._draft(record, run.records.get(node.node_id), reason)
        if durable and not self._type_of(node).pure:
            self._flush(run)
            try:
                self.journal.put_node(run.identity, record, draft)
            except CheckpointConflict as conflict:  # another attempt got there first: its outcome stands
                record = conflict.stored
            run.records[node.node_id] = record
            run.outcomes[node.node_id] = _Outcome(status=record.status, route=record.route)
            return record
        self._held.add(record, draft)
        run.records[node.node_id] = record
        run.outcomes[node.node_id] = _Outcome(status=record.status, route=record.route)
        if durable or self._held.full:
            self._flush(run)  # updates run.records if another attempt's outcome stands
        return run.records[node.node_id]

    @staticmethod
    def _render_config(node: SegmentNode, node_type: NodeType, context: dict[str, Any]) -> Any:
        return render_config(node.config, node_type, context)

    def _execute(
        self,
        info: ExecutionInfo,
        segment: SegmentConfig,
        node: SegmentNode,
        node_type: NodeType,
        run: SegmentRun,
        context: dict[str, Any],
        started: float | None = None,
        progress: dict[str, Any] | None = None,
        first_attempt: int = 1,
    ) -> NodeResult | Poll | _Deferred:
        """Run the node (with its retry policy) and record its outcome; a :class:`Poll` is recorded as
        ``waiting`` with its progress. Returns what is recorded (another attempt's, if it was first), or
        :class:`_Deferred` when the node goes on in the next invocation (only nodes placed in the segment)."""
        policy = RetryPolicy.model_validate(node.retry) if node.retry else NO_RETRY
        in_segment = node_type.placement == "segment"
        deadline = self.deadline if in_segment else None
        need = time_needed(node_type, node.config, node.timeout_seconds)
        started = started or self.clock()
        predecessors = {
            edge.source: context["nodes"].get(edge.source)
            for edge in node.incoming
            if edge_taken(edge.condition, run.outcomes[edge.source].status, run.outcomes[edge.source].route)
        }
        attempt = first_attempt - 1
        retry_reason: str | None = None
        while True:
            attempt += 1
            first_in_invocation = not self._started_a_node
            self._started_a_node = True
            # A poll needs no "running" mark: its "waiting" record already says where it is after a crash.
            if not node_type.pure and progress is None:
                running = self._record(
                    info,
                    segment,
                    node,
                    run,
                    status="running",
                    started=started,
                    attempt=attempt,
                    reason=retry_reason,
                )
                if running.status in TERMINAL_NODE_STATUSES:
                    return self._adopt(info, segment, running, context)
            try:
                config = self._render_config(node, node_type, context)
                assert node_type.executor is not None
                result = run_executor(
                    node_type.executor,
                    NodeContext(
                        node_id=node.node_id,
                        config=config,
                        execution=info,
                        predecessor_outputs=predecessors,
                        timeout_seconds=node.timeout_seconds,
                        attempt=attempt,
                        services=self.services,
                        progress=progress,
                        template_context=context,
                        deadline=deadline,
                    ),
                    may_block=not node_type.pure,
                )
                if node_type.routes and isinstance(result, NodeResult):
                    result = self._resolve_route(node, result)
                break
            except NodeFailure as failure:
                # waiting for the node's previous run is forgiven once: no invocation had waited all its time
                forgiven = isinstance(failure, PreviousRunStillRunning) and not failure.waited_before
                may_defer = forgiven or not first_in_invocation
                if in_segment and isinstance(failure, DeadlineReached) and may_defer:
                    # cut short, not failed: this attempt runs again with the time of a fresh invocation
                    reason = f"{failure}; runs again in the next invocation"
                    return self._defer(
                        info, segment, node, run, context, started, attempt, 0, reason, progress
                    )
                retry = next_retry(policy, failure, attempt, self.deadline, need)
                if retry is not None:
                    retry_reason = retry.reason
                    if retry.fits:
                        self.sleep(retry.delay_seconds)
                        continue
                    if in_segment:  # the retry does not fit in this invocation: it waits for the next one
                        reason = f"{retry.reason}, in the next invocation"
                        return self._defer(
                            info,
                            segment,
                            node,
                            run,
                            context,
                            started,
                            retry.attempt,
                            retry.delay_seconds,
                            reason,
                            progress,
                        )
                return self._fail(
                    info, segment, node, run, context, started, attempt, failure.error_type, str(failure)
                )
            except Exception as error:  # a bug or an unexpected library error: still recorded, never lost
                return self._fail(
                    info, segment, node, run, context, started, attempt, type(error).__name__, str(error)
                )

        if isinstance(result, Poll):
            waiting = self._record(
                info,
                segment,
                node,
                run,
                status="waiting",
                started=started,
                attempt=attempt,
                resume_at=self.clock() + result.delay_seconds,
                progress_json=json.dumps(result.progress, separators=(",", ":")),
                reason=result.reason,
            )
            if waiting.status in TERMINAL_NODE_STATUSES:  # another attempt finished it meanwhile
                return self._adopt(info, segment, waiting, context)
            return result
        context["nodes"][node.node_id] = result.output
        stored = self.outputs.save_node_output(info.tenant_id, info.execution_id, node.node_id, result.output)
        recorded = self._record(
            info,
            segment,
            node,
            run,
            status="succeeded",
            started=started,
            attempt=attempt,
            durable=not node_type.pure,
            reason=result.reason,
            finished_at=self.clock(),
            route=result.route,
            output_json=stored.inline_json,
            output_key=stored.s3_key,
            output_bytes=stored.size_bytes,
        )
        if recorded.started_at != started:  # another attempt's outcome was recorded first
            return self._adopt(info, segment, recorded, context)
        return result

    def _defer(
        self,
        info: ExecutionInfo,
        segment: SegmentConfig,
        node: SegmentNode,
        run: SegmentRun,
        context: dict[str, Any],
        started: float,
        attempt: int,
        delay: float,
        reason: str,
        progress: dict[str, Any] | None,
    ) -> NodeResult | _Deferred:
        """Record the node ``waiting`` to run ``attempt`` in the next invocation, ``delay`` seconds from now
        (a poll keeps its progress). Returns another attempt's outcome if one was recorded first."""
        waiting = self._record(
            info,
            segment,
            node,
            run,
            status="waiting",
            started=started,
            attempt=attempt,
            resume_at=self.clock() + delay,
            progress_json=json.dumps(progress, separators=(",", ":")) if progress is not None else None,
            reason=_short(reason),
        )
        if waiting.status in TERMINAL_NODE_STATUSES:
            return self._adopt(info, segment, waiting, context)
        return _Deferred(wait_seconds=math.ceil(delay))

    def _adopt(
        self, info: ExecutionInfo, segment: SegmentConfig, stored: NodeRecord, context: dict[str, Any]
    ) -> NodeResult:
        """Take over the outcome another attempt recorded for this node (its side effects happened once)."""
        if stored.status == "failed":
            error = f"node '{stored.node_id}' failed with {stored.error_type}: {stored.error_message}"
            raise NodeFailed(error)
        output = (
            self.outputs.load(stored.output_json, stored.output_key) if stored.status == "succeeded" else None
        )
        context["nodes"][stored.node_id] = output
        return NodeResult(output=output, route=stored.route)

    @staticmethod
    def _resolve_route(node: SegmentNode, result: NodeResult) -> NodeResult:
        return resolve_route(node.route_labels or [], result)

    def _fail(
        self,
        info: ExecutionInfo,
        segment: SegmentConfig,
        node: SegmentNode,
        run: SegmentRun,
        context: dict[str, Any],
        started: float,
        attempt: int,
        error_type: str,
        message: str,
    ) -> NodeResult:
        """Record the failure and fail the segment, unless another attempt recorded a success first."""
        message = _short(message)
        recorded = self._record(
            info,
            segment,
            node,
            run,
            status="failed",
            started=started,
            attempt=attempt,
            finished_at=self.clock(),
            error_type=error_type,
            error_message=message,
        )
        if recorded.started_at != started:  # another attempt's outcome was recorded first
            return self._adopt(info, segment, recorded, context)
        error = f"node '{node.node_id}' failed with {error_type}: {message}"
        self.records.put_segment(
            info.tenant_id,
            info.execution_id,
            SegmentRecord(
                segment_id=segment.segment_id, stage=segment.stage, status="failed", error=_short(error)
            ),
        )
        raise NodeFailed(error)

    # --- pauses -------------------------------------------------------------------------------------------

    def _wait_node(
        self,
        info: ExecutionInfo,
        segment: SegmentConfig,
        node: SegmentNode,
        run: SegmentRun,
        context: dict[str, Any],
        existing: NodeRecord | None,
    ) -> int:
        """Returns the seconds still to wait (0 once the wait is over and the node has succeeded)."""
        now = self.clock()
        node_type = self._type_of(node)
        if existing is not None and existing.status == "waiting" and existing.resume_at is not None:
            remaining = existing.resume_at - now
            if remaining > 0.5:
                return math.ceil(remaining)
            self._execute(info, segment, node, node_type, run, context, started=existing.started_at)
            return 0
        try:
            seconds = float(self._render_config(node, node_type, context).seconds)
        except NodeFailure as failure:
            self._fail(info, segment, node, run, context, now, 1, failure.error_type, str(failure))
            return 0  # another attempt had finished the node
        if seconds <= 0:
            self._execute(info, segment, node, node_type, run, context)
            return 0
        self._record(
            info,
            segment,
            node,
            run,
            status="waiting",
            started=now,
            attempt=1,
            resume_at=now + seconds,
            reason=f"waits {seconds:g} s",
        )
        return math.ceil(seconds)

    def _approval_node(
        self,
        info: ExecutionInfo,
        segment: SegmentConfig,
        node: SegmentNode,
        run: SegmentRun,
        context: dict[str, Any],
        existing: NodeRecord | None,
    ) -> ApprovalWait | None:
        """The approval to wait for, or None once the node has its decision (and has succeeded)."""
        node_type = self._type_of(node)
        store = self.services.approvals
        now = self.clock()
        approval = store.get(info.tenant_id, info.execution_id, node.node_id)
        if approval is None:
            try:
                config = self._render_config(node, node_type, context)
            except NodeFailure as failure:
                self._fail(info, segment, node, run, context, now, 1, failure.error_type, str(failure))
                return None  # another attempt had finished the node
            approval = store.request(
                info.tenant_id,
                info.execution_id,
                ApprovalRecord(
                    node_id=node.node_id,
                    message=config.message,
                    approvers=config.approvers,
                    requested_at=now,
                    deadline=now + config.timeout_seconds,
                    default_decision=config.default_decision,
                ),
            )
        if existing is None or existing.status != "waiting":
            self._record(
                info,
                segment,
                node,
                run,
                status="waiting",
                started=approval.requested_at,
                attempt=1,
                resume_at=approval.deadline,
                reason=f"approval pending: {approval.message}",
            )
        if not approval.decided:
            if now < approval.deadline:
                return ApprovalWait(
                    node_id=node.node_id, timeout_seconds=max(1, math.ceil(approval.deadline - now))
                )
            approval = self._decide_by_default(info, node.node_id, approval.default_decision, now)
        decision = approval.model_dump(include={"decision", "approver", "comment", "decided_at", "timed_out"})
        self._execute(
            info, segment, node, node_type, run, context, started=approval.requested_at, progress=decision
        )
        return None

    def _decide_by_default(
        self, info: ExecutionInfo, node_id: str, default: Decision, now: float
    ) -> ApprovalRecord:
        try:
            return self.services.approvals.decide(
                info.tenant_id, info.execution_id, node_id, default, None, None, now, timed_out=True
            )
        except ApprovalNotPending as raced:  # an approver decided just now: that decision stands
            assert raced.record is not None
            return raced.record

    def _pause(
        self,
        info: ExecutionInfo,
        segment: SegmentConfig,
        run: SegmentRun,
        status: Literal["waiting", "yielded", "approval"],
        wait_seconds: int,
        ran: int,
        skipped: int,
        approval: ApprovalWait | None = None,
    ) -> SegmentResult:
        self._flush(run)
        self.records.put_segment(
            info.tenant_id,
            info.execution_id,
            SegmentRecord(
                segment_id=segment.segment_id,
                stage=segment.stage,
                status=status,
                nodes_run=ran,
                nodes_skipped=skipped,
                resume_at=self.clock() + (approval.timeout_seconds if approval else wait_seconds),
                approval_node=approval.node_id if approval else None,
            ),
        )
        return SegmentResult(
            segment_id=segment.segment_id,
            status=status,
            nodes_run=ran,
            nodes_skipped=skipped,
            wait_seconds=wait_seconds,
            approval=approval,
        )
