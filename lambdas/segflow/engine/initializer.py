"""InitializeStateBag's logic: validate, partition, write the manifest, return pointers only.

Nothing is written before the workflow has validated and its input is known to be runnable (validation bounds
every text that goes into a record, so no store refuses what follows), so an invalid request leaves no trace.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from segflow.contracts import Continuation, ExecutionRequest, InitializeResult, StateBag, WorkflowRef
from segflow.domain import s3_layout
from segflow.domain.integrity import verify_definition
from segflow.domain.records import ExecutionIdentity, ExecutionRecord, NodeRecord
from segflow.dsl.json_values import check_execution_input
from segflow.dsl.validation import validate_executable
from segflow.engine.continuation import continued_statebag
from segflow.engine.execution_events import started_draft
from segflow.engine.history_budget import first_budgeted
from segflow.engine.partitioner import partition
from segflow.engine.ports import ExecutionLog, ExecutionRecords, NodeOutputs, PlanStore, WorkflowVersions
from segflow.engine.resume import ResumeRefused, reusable_records
from segflow.engine.stage_advancer import cursor_for_stage
from segflow.events.models import EventDraft


@dataclass
class Initializer:
    records: ExecutionRecords
    manifests: PlanStore
    outputs: NodeOutputs
    versions: WorkflowVersions
    journal: ExecutionLog

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
        else:
            workflow_key = request.workflow.s3_key
            workflow_document = self.manifests.read_submission(tenant, workflow_key)
        graph = validate_executable(workflow_document)
        execution_input: Any = request.input or {}
        if request.input_ref is not None:
            execution_input = self.manifests.read_submission(tenant, request.input_ref.s3_key)
        reused: list[NodeRecord] = []
        earlier: ExecutionRecord | None = None
        if request.resume_from is not None:  # checked in full before anything is written
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
        prefix = s3_layout.execution_manifest_prefix(tenant, graph.workflow_id, execution_id)
        plan = partition(graph, body_key_for=lambda segment_id: s3_layout.body_key(prefix, segment_id))
        stage_index = self.manifests.write_plan(prefix, plan)
        self.manifests.write_reference_copy(
            s3_layout.workflow_config_reference_key(tenant, graph.workflow_id, execution_id),
            workflow_document,
        )
        self.manifests.write_reference_copy(
            s3_layout.partition_map_reference_key(tenant, graph.workflow_id, execution_id),
            plan.partition_map(),
        )
        stored_input = self.outputs.save_execution_data(tenant, execution_id, "input", execution_input)
        created = self.records.create_execution(
            ExecutionRecord(
                tenant_id=tenant,
                execution_id=execution_id,
                workflow_id=graph.workflow_id,
                workflow_name=graph.definition.name,
                workflow_key=workflow_key,
                workflow_version=version,
                started_at=started_at,
                node_count=plan.node_count,
                segment_count=len(plan.segments),
                stage_count=len(plan.stages),
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
            identity = ExecutionIdentity(tenant, execution_id, graph.workflow_id, version)
            self._publish_start(
                identity, request.resume_from.execution_id if request.resume_from else None, reused
            )
        statebag = StateBag(
            tenant_id=tenant,
            workflow_id=graph.workflow_id,
            workflow_version=version,
            execution_id=execution_id,
            started_at=started_at,
            manifest_prefix=prefix,
            stage_count=len(plan.stages),
            segment_count=len(plan.segments),
            node_count=plan.node_count,
        )
        cursor = cursor_for_stage(self.manifests, statebag, 0, stage_index[0])
        return InitializeResult(statebag=statebag, cursor=first_budgeted(cursor))

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
