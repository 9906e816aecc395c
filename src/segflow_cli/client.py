"""Talks to a segflow stack: submits workflows, starts executions and reads their progress.

The same code serves real AWS (resources found through the stack's outputs) and the embedded local AWS
(resources found through the local endpoint, or an in-process deployment).
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from typing import Any

from botocore.exceptions import ClientError
from segflow.adapters import s3_layout
from segflow.adapters.deployment_log import DeploymentLog
from segflow.adapters.event_log import EventLogReader
from segflow.adapters.execution_records import ExecutionRecordStore
from segflow.adapters.outputs import NodeOutputStore
from segflow.contracts import DEFAULT_TENANT
from segflow.deployments.models import DeploymentRecord
from segflow.domain.ids import execution_id_of
from segflow.domain.limits import EXECUTION_INPUT_INLINE_MAX_BYTES
from segflow.domain.records import ExecutionRecord, NodeRecord
from segflow.domain.statuses import TERMINAL_EXECUTION_STATUSES
from segflow.dsl.validation import WorkflowValidationError, executable_issues, validate_workflow
from segflow.engine.resume import (
    ResumeRefused,
    check_from_node,
    check_resumable,
    resume_request,
    resumed_execution_name,
)
from segflow.events.models import ExecutionEvent

from segflow_cli.locate import LocatedStack, LocateError, Resources
from segflow_cli.rendering.nodes import NodeView, node_views

MAX_FOLLOWED_PARTS = 10_000


def continued_as_of(description: dict[str, Any]) -> str | None:
    """The next part's ARN if this execution ended by continuing (its output says CONTINUED)."""
    try:
        output = json.loads(description.get("output") or "null")
    except ValueError:
        return None
    if isinstance(output, dict) and output.get("status") == "CONTINUED":
        return str(output["continued_as"])
    return None


def _digest(document: Any) -> tuple[str, bytes]:
    body = json.dumps(document, separators=(",", ":"), sort_keys=True).encode()
    return hashlib.sha256(body).hexdigest(), body


class SegflowClient:
    def __init__(
        self, session: Any, resources: Resources, tenant_id: str = DEFAULT_TENANT, where: str = "this stack"
    ) -> None:
        self.session = session
        self.resources = resources
        self.tenant_id = tenant_id
        self.where = where
        self.s3 = session.client("s3")
        self.sfn = session.client("stepfunctions")
        self.records = ExecutionRecordStore(resources.executions_table, session.client("dynamodb"))
        self.outputs = NodeOutputStore(resources.bucket, self.s3)

    @classmethod
    def of(cls, stack: LocatedStack, tenant_id: str = DEFAULT_TENANT) -> SegflowClient:
        return cls(stack.session, stack.resources, tenant_id, stack.description)

    # --- starting -----------------------------------------------------------------------------------------

    def caller(self) -> str:
        """The AWS principal this client acts as (recorded as who started an execution)."""
        return str(self.session.client("sts").get_caller_identity()["Arn"])

    def _upload(self, kind: str, document: Any) -> str:
        digest, body = _digest(document)
        key = s3_layout.submission_key(self.tenant_id, digest, kind)
        self.s3.put_object(Bucket=self.resources.bucket, Key=key, Body=body, ContentType="application/json")
        return key

    def start(
        self, workflow: dict[str, Any], execution_input: dict[str, Any] | None = None, name: str | None = None
    ) -> str:
        """Validate locally (nothing is written if invalid), upload, start. Returns the execution ARN."""
        graph = validate_workflow(workflow)
        not_runnable = executable_issues(graph)
        if not_runnable:
            raise WorkflowValidationError(not_runnable)
        request: dict[str, Any] = {
            "tenant_id": self.tenant_id,
            "workflow": {"s3_key": self._upload("workflows", workflow)},
            "started_by": self.caller(),
        }
        execution_input = execution_input or {}
        if len(json.dumps(execution_input).encode()) <= EXECUTION_INPUT_INLINE_MAX_BYTES:
            request["input"] = execution_input
        else:
            request["input_ref"] = {"s3_key": self._upload("inputs", execution_input)}
        name = name or f"{graph.workflow_id[:40]}-{uuid.uuid4().hex[:12]}"
        response = self.sfn.start_execution(
            stateMachineArn=self.resources.state_machine_arn, name=name, input=json.dumps(request)
        )
        return response["executionArn"]

    def deployments(self, model_id: str | None = None, limit: int = 50) -> list[DeploymentRecord]:
        """This tenant's model deployments, newest first (the deployment log)."""
        if not self.resources.deployments_table:
            raise LocateError(f"{self.where} has no deployment log (deployed before model deployments)")
        log = DeploymentLog(self.resources.deployments_table, self.session.client("dynamodb"))
        return log.list(self.tenant_id, model_id, limit)

    def resume(self, execution_arn: str, from_node: str | None = None, name: str | None = None) -> str:
        """Continue an execution that failed, timed out or was aborted, in a new execution of the same
        workflow and input: completed nodes are reused, the rest (or ``from_node`` on) runs again."""
        old_id = execution_id_of(execution_arn)
        check_resumable(old_id, self.describe(execution_arn)["status"])
        record = self.execution_record(execution_arn)
        if record is None:
            raise ResumeRefused(
                f"execution {old_id!r} failed before it was initialized: run it again instead"
            )
        workflow = self.workflow_of(execution_arn)
        if workflow is not None:
            check_from_node(validate_workflow(workflow), from_node)
        request = resume_request(record, from_node)
        name = name or resumed_execution_name(old_id, uuid.uuid4().hex)
        response = self.sfn.start_execution(
            stateMachineArn=self.resources.state_machine_arn, name=name, input=json.dumps(request)
        )
        return response["executionArn"]

    # --- reading ------------------------------------------------------------------------------------------

    def events(self, execution_arn: str, since_seq: int = 0) -> list[ExecutionEvent]:
        """The execution's log (every state change, in order) after ``since_seq``."""
        if not self.resources.events_table:
            raise RuntimeError("this deployment has no execution log (deployed before live events)")
        log = EventLogReader(self.resources.events_table, self.session.client("dynamodb"))
        return log.read_all(self.tenant_id, execution_id_of(execution_arn), since_seq)

    def describe(self, execution_arn: str) -> dict[str, Any]:
        """DescribeExecution of the execution, or of its latest part if it continued past the history
        budget (``parts`` then lists the ARNs it ran under, first to latest)."""
        description = dict(self.sfn.describe_execution(executionArn=execution_arn))
        parts = [execution_arn]
        while description["status"] == "SUCCEEDED" and len(parts) <= MAX_FOLLOWED_PARTS:
            continued_as = continued_as_of(description)
            if continued_as is None:
                break
            description = dict(self.sfn.describe_execution(executionArn=continued_as))
            parts.append(continued_as)
        if len(parts) > 1:
            description["parts"] = parts
        return description

    def execution_record(self, execution_arn: str) -> ExecutionRecord | None:
        return self.records.get_execution(self.tenant_id, execution_id_of(execution_arn))

    def node_records(self, execution_arn: str) -> dict[str, NodeRecord]:
        return {r.node_id: r for r in self.records.list_nodes(self.tenant_id, execution_id_of(execution_arn))}

    def workflow_of(self, execution_arn: str) -> dict[str, Any] | None:
        """The workflow the execution runs: its submitted file, or the published version it pinned."""
        record = self.execution_record(execution_arn)
        if record is None:
            return None
        if record.workflow_key:
            return json.loads(
                self.s3.get_object(Bucket=self.resources.bucket, Key=record.workflow_key)["Body"].read()
            )
        if record.workflow_version is not None:
            return self.published_definition(record.workflow_id, record.workflow_version)
        return None

    def published_definition(self, workflow_id: str, version: int) -> dict[str, Any] | None:
        """A published version's definition, read from the workflows table; None if it cannot be read."""
        if not self.resources.workflows_table:
            return None
        from segflow.adapters.workflow_versions import WorkflowVersionStore
        from segflow.versioning.errors import VersioningError

        store = WorkflowVersionStore(
            self.resources.workflows_table, self.session.client("dynamodb"), self.resources.bucket, self.s3
        )
        try:
            return store.get_version(self.tenant_id, workflow_id, version).definition
        except (VersioningError, ClientError):
            return None

    def node_views(
        self, execution_arn: str, workflow: dict[str, Any] | None = None, finished: bool = False
    ) -> list[NodeView]:
        """Every node of the workflow with its state (see :func:`segflow_cli.rendering.nodes.node_views`)."""
        workflow = workflow or self.workflow_of(execution_arn) or {"nodes": []}
        return node_views(workflow, self.node_records(execution_arn), finished)

    def output(self, execution_arn: str) -> Any:
        description = self.describe(execution_arn)
        if "output" not in description:
            return None
        result = json.loads(description["output"])
        if isinstance(result, dict) and result.get("output_ref"):
            result = dict(result)
            result["output"] = self.outputs.load(None, result["output_ref"])
        return result

    def wait(
        self, execution_arn: str, timeout_seconds: float = 600, poll_seconds: float = 0.2
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_seconds
        while True:
            description = self.describe(execution_arn)
            if description["status"] in TERMINAL_EXECUTION_STATUSES:
                return description
            if time.monotonic() > deadline:
                raise TimeoutError(f"{execution_arn} still {description['status']} after {timeout_seconds}s")
            time.sleep(poll_seconds)
