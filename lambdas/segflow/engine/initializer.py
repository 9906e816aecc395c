"""InitializeStateBag's logic: find or make the workflow's plan, record the execution, return pointers only.

A plan is stored once per definition and code version (:mod:`segflow.domain.stored_plan`): an execution of a
definition planned already reads the plan's summary (one GET) and writes none of it, neither validating nor
partitioning again (the plan was made from exactly this content by exactly this code, which validated it). A
definition not planned yet, or whose plan is old enough to expire soon, is validated, partitioned and written,
its summary last.

Nothing is written before the workflow has validated and its input is known to be runnable (validation bounds
every text that goes into a record, so no store refuses what follows), so an invalid request leaves no trace.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from segflow.contracts import Continuation, ExecutionRequest, InitializeResult, StateBag, WorkflowRef
from segflow.domain import s3_layout
from segflow.domain.integrity import submission_digest, verify_definition
from segflow.domain.limits import retention_days
from segflow.domain.records import ExecutionIdentity, ExecutionRecord, NodeRecord
from segflow.domain.stored_plan import PlanSummary, plan_key, plan_reusable
from segflow.dsl.graph import WorkflowGraph
from segflow.dsl.json_values import check_execution_input
from segflow.dsl.validation import validate_executable
from segflow.engine.code_version import code_version
from segflow.engine.continuation import continued_statebag
from segflow.engine.execution_events import started_draft
from segflow.engine.history_budget import first_budgeted
from segflow.engine.partitioner import partition
from segflow.engine.ports import ExecutionLog, ExecutionRecords, NodeOutputs, PlanStore, WorkflowVersions
from segflow.engine.resume import ResumeRefused, reusable_records
from segflow.engine.skips import skip_rule
from segflow.engine.stage_advancer import cursor_for_stage
from segflow.events.models import EventDraft


@dataclass
class Initializer:
    records: ExecutionRecords
    manifests: PlanStore
    outputs: NodeOutputs
    versions: WorkflowVersions
    journal: ExecutionLog
    # What the plan key names as the code that plans (tests name another to see a plan made afresh).
    code_version: str = field(default_factory=code_version)
    clock: Callable[[], float] = time.time

    def initialize(self, request: ExecutionRequest, execution_id: str, started_at: str) -> InitializeResult:
        if request.continuation is not None:
            return self.continue_execution(request.tenant_id, request.continuation)
        tenant = request.tenant_id
        version: int | None = None
        assert request.workflow is not None  # the request model requires it without a continuation
        if isinstance(request.workflow, WorkflowRef):  # pinned here, for the whole execution
            published = self.versions.resolve(tenant, request.workflow.workflow_id, request.workflow.version)
            # A stored definition changed since it was published (its table item or S3 object written
            # directly) fails here, before anything of it runs.
            verify_definition(
                published.definition, published.sha256, published.workflow_id, published.version
            )
            workflow_document, version, workflow_key = published.definition, published.version, ""
            digest = published.sha256
        else:
            workflow_key = request.workflow.s3_key
            workflow_document = self.manifests.read_submission(tenant, workflow_key)
            digest = submission_digest(workflow_key)  # read_submission checked the body hashes to it
        key = plan_key(digest, self.code_version)
        stored = self._stored_plan(tenant, workflow_document, key)
        # A resume needs the graph to pick the nodes it reuses; otherwise a stored plan stands for it.
        graph = validate_executable(workflow_document) if stored is None or request.resume_from else None
        execution_input: Any = request.input or {}
        if request.input_ref is not None:
            execution_input = self.manifests.read_submission(tenant, request.input_ref.s3_key)
        reused: list[NodeRecord] = []
        earlier: ExecutionRecord | None = None
        if request.resume_from is not None:  # checked in full before anything is written
            assert graph is not None
            earlier = self.records.get_execution(tenant, request.resume_from.execution_id)
            if earlier is None or earlier.workflow_id != graph.workflow_id:
                raise ResumeRefused(
                    f"no execution {request.resume_from.execution_id!r} of workflow {graph.workflow_id!r}"
                )
            if request.input is None and request.input_ref is None:
                execution_input = self.outputs.load(earlier.input_json, earlier.input_key) or {}
            reused = reusable_records(
                graph,
                self.records.list_nodes(tenant, earlier.execution_id),
                request.resume_from.from_node,
                earlier.execution_id,
            )

        check_execution_input(execution_input)
        if stored is None:
            assert graph is not None
            plan_summary = self._write_plan(tenant, graph, workflow_document, key)
        else:
            plan_summary = stored
        workflow_id = plan_summary.workflow_id
        prefix = s3_layout.plan_prefix(tenant, workflow_id, key)
        stored_input = self.outputs.save_execution_data(tenant, execution_id, "input", execution_input)
        created = self.records.create_execution(
            ExecutionRecord(
                tenant_id=tenant,
                execution_id=execution_id,
                workflow_id=workflow_id,
                workflow_name=plan_summary.workflow_name,
                workflow_key=workflow_key,
                workflow_version=version,
                started_at=started_at,
                node_count=plan_summary.node_count,
                segment_count=plan_summary.segment_count,
                stage_count=plan_summary.stage_count,
                manifest_prefix=prefix,
                input_json=stored_input.inline_json,
                input_key=stored_input.s3_key,
                resumed_from=request.resume_from.execution_id if request.resume_from else None,
                origin_execution_id=earlier.origin if earlier is not None else None,
                started_by=request.started_by,
            )
        )
        if reused:
            self.records.put_nodes(tenant, execution_id, reused)
        if created:  # a retried initialization published its start already
            identity = ExecutionIdentity(tenant, execution_id, workflow_id, version)
            self._publish_start(
                identity, request.resume_from.execution_id if request.resume_from else None, reused
            )
        statebag = StateBag(
            tenant_id=tenant,
            workflow_id=workflow_id,
            workflow_version=version,
            execution_id=execution_id,
            started_at=started_at,
            manifest_prefix=prefix,
            stage_count=plan_summary.stage_count,
            segment_count=plan_summary.segment_count,
            node_count=plan_summary.node_count,
        )
        cursor = cursor_for_stage(self.manifests, statebag, 0, plan_summary.first_stage)
        return InitializeResult(statebag=statebag, cursor=first_budgeted(cursor))

    def _stored_plan(self, tenant: str, document: Any, key: str) -> PlanSummary | None:
        """The summary of this definition's plan if it is stored in full and far enough from expiring; None
        otherwise (then the definition is validated, and planned unless invalid)."""
        workflow_id = document.get("workflow_id") if isinstance(document, dict) else None
        if not isinstance(workflow_id, str):
            return None
        try:
            prefix = s3_layout.plan_prefix(tenant, workflow_id, key)
        except ValueError:  # not a workflow id any plan was stored under: validation says why
            return None
        found = self.manifests.read_plan_summary(prefix)
        if found is None:
            return None
        summary, written_at = found
        if summary.plan_key != key or summary.workflow_id != workflow_id:
            return None
        return summary if plan_reusable(written_at, self.clock(), retention_days()) else None

    def _write_plan(self, tenant: str, graph: WorkflowGraph, document: Any, key: str) -> PlanSummary:
        """Partition the validated graph and store its plan and reference copies, the summary last. Two
        executions planning one definition at once write the same bytes to the same keys."""
        prefix = s3_layout.plan_prefix(tenant, graph.workflow_id, key)
        plan = partition(graph, body_key_for=lambda segment_id: s3_layout.body_key(prefix, segment_id))
        with ThreadPoolExecutor(max_workers=2) as pool:  # the reference copies while the plan is written
            copies = [
                pool.submit(
                    self.manifests.write_reference_copy,
                    s3_layout.workflow_config_reference_key(tenant, graph.workflow_id, key),
                    document,
                ),
                pool.submit(
                    self.manifests.write_reference_copy,
                    s3_layout.partition_map_reference_key(tenant, graph.workflow_id, key),
                    plan.partition_map(),
                ),
            ]
            stage_index = self.manifests.write_plan(prefix, plan)
            for copy in copies:
                copy.result()
        summary = PlanSummary(
            plan_key=key,
            workflow_id=graph.workflow_id,
            workflow_name=graph.definition.name,
            node_count=plan.node_count,
            segment_count=len(plan.segments),
            stage_count=len(plan.stages),
            first_stage=stage_index[0],
            skips=skip_rule(graph),
        )
        self.manifests.write_plan_summary(prefix, summary)
        return summary

    def _publish_start(
        self, identity: ExecutionIdentity, resumed: str | None, reused: list[NodeRecord]
    ) -> None:
        """The execution's first event and, for a resume, one per node it reuses (they count as completed)."""
        self.journal.publish(
            identity,
            [
                started_draft(f"resumes {resumed}: {len(reused)} nodes reused" if resumed else None),
                *(
                    EventDraft(
                        kind="node",
                        node_id=record.node_id,
                        previous_state="pending",
                        new_state=record.status,
                        reason=f"reused from {resumed}",
                        timestamp=record.finished_at or 0.0,
                        duration_ms=record.duration_ms,
                        output_ref=record.output_key,
                        completes_node=True,
                    )
                    for record in reused
                ),
            ],
        )

    def continue_execution(self, tenant: str, continuation: Continuation) -> InitializeResult:
        """A later part of a long execution: nothing is partitioned or written, the statebag is rebuilt."""
        statebag = continued_statebag(
            self.records.get_execution(tenant, continuation.execution_id), continuation
        )
        cursor = cursor_for_stage(
            self.manifests, statebag, continuation.stage, wait_seconds=continuation.wait_seconds
        )
        return InitializeResult(statebag=statebag, cursor=first_budgeted(cursor))
