"""A facade on a stack with the account's credentials, for one tenant the caller names: the executions
service and the deployments service.

The CLI starts workflow files and lists model deployments with it; it reads existing executions only through
the management API (:mod:`segflow_cli.reads`), where the server decides the tenant. Tests and operators
use the rest. It reads no table or bucket itself: starting, resuming, describing and reading an execution's
records, log and outputs are :class:`~segflow.services.executions.ExecutionsService` calls, model
deployments :class:`~segflow.services.deployments.DeploymentsService` ones. Executions are named by the ARN
printed when they started (their first part's). The same code serves real AWS (resources found through the
stack's outputs) and the embedded local AWS (through the local endpoint, or an in-process stack).
"""

from __future__ import annotations

from typing import Any

from segflow.contracts import DEFAULT_TENANT
from segflow.deployments.models import DeploymentRecord
from segflow.domain.records import ExecutionRecord, NodeRecord
from segflow.events.models import ExecutionEvent
from segflow.services.deployments import DeploymentsService
from segflow.services.executions import Checkpoint, ExecutionsService, ExecutionView

from segflow_cli.locate import LocatedStack, Resources
from segflow_cli.rendering.nodes import NodeView, node_views


def description_of(view: ExecutionView) -> dict[str, Any]:
    """An execution as the CLI shows it: ``executionArn`` (its latest part), ``status``, ``startDate``,
    ``stopDate``, ``error`` and ``cause`` when it did not succeed, ``parts`` when it continued."""
    description: dict[str, Any] = {
        "executionArn": view.execution_arn,
        "status": view.status,
        "startDate": view.started_at,
    }
    if view.stopped_at is not None:
        description["stopDate"] = view.stopped_at
    if view.error is not None or view.cause is not None:
        description["error"], description["cause"] = view.error, view.cause
    if len(view.parts) > 1:
        description["parts"] = list(view.parts)
    return description


class SegflowClient:
    def __init__(self, session: Any, resources: Resources, tenant_id: str = DEFAULT_TENANT) -> None:
        self.session = session
        self.resources = resources
        self.tenant_id = tenant_id
        self.executions = ExecutionsService.from_session(session, resources)
        self.deployment_log = DeploymentsService.from_session(session, resources.deployments_table)

    @classmethod
    def of(cls, stack: LocatedStack, tenant_id: str = DEFAULT_TENANT) -> SegflowClient:
        return cls(stack.session, stack.resources, tenant_id)

    # --- starting -----------------------------------------------------------------------------------------

    def caller(self) -> str:
        """The AWS principal this client acts as (recorded as who started an execution)."""
        return str(self.session.client("sts").get_caller_identity()["Arn"])

    def start(
        self, workflow: dict[str, Any], execution_input: dict[str, Any] | None = None, name: str | None = None
    ) -> str:
        """Validate (nothing is written if invalid), upload, start. Returns the execution ARN."""
        started = self.executions.start_definition(
            self.tenant_id, workflow, execution_input, name, started_by=self.caller()
        )
        return started.execution_arn

    def resume(self, execution_arn: str, from_node: str | None = None, name: str | None = None) -> str:
        """Continue an execution that failed, timed out or was aborted, in a new execution of the same
        workflow and input: completed nodes are reused, the rest (or ``from_node`` on) runs again."""
        return self.executions.resume(self.tenant_id, execution_arn, from_node, name).execution_arn

    def stop(self, execution_arn: str, error: str | None = None, cause: str | None = None) -> dict[str, Any]:
        """Stop a running execution (the part running it now); its description after the stop."""
        return description_of(self.executions.stop(self.tenant_id, execution_arn, error, cause))

    # --- reading ------------------------------------------------------------------------------------------

    def view(self, execution_arn: str, with_nodes: bool = False) -> ExecutionView:
        """The execution now (its latest part, its record; its node records ``with_nodes``)."""
        return self.executions.describe(self.tenant_id, execution_arn, with_nodes)

    def describe(self, execution_arn: str) -> dict[str, Any]:
        """The execution now, as :func:`description_of` shapes it (a continued one: its latest part)."""
        return description_of(self.view(execution_arn))

    def events(self, execution_arn: str, since_seq: int = 0) -> list[ExecutionEvent]:
        """The execution's log (every state change, in order) after ``since_seq``."""
        return self.executions.events(self.tenant_id, execution_arn, since_seq)

    def execution_record(self, execution_arn: str) -> ExecutionRecord | None:
        return self.executions.execution_record(self.tenant_id, execution_arn)

    def node_records(self, execution_arn: str) -> dict[str, NodeRecord]:
        return self.executions.node_records(self.tenant_id, execution_arn)

    def checkpoints(self, execution_arn: str) -> list[Checkpoint]:
        return self.executions.checkpoints(self.tenant_id, execution_arn)

    def node_output(self, record: NodeRecord) -> Any:
        """A node record's output (loaded from S3 when large)."""
        return self.executions.node_output(record)

    def workflow_of(self, execution_arn: str) -> dict[str, Any] | None:
        """The workflow the execution runs: its submitted file, or the published version it pinned."""
        return self.executions.workflow_of(self.tenant_id, execution_arn)

    def node_views(
        self, execution_arn: str, workflow: dict[str, Any] | None = None, finished: bool = False
    ) -> list[NodeView]:
        """Every node of the workflow with its state (see :func:`segflow_cli.rendering.nodes.node_views`)."""
        workflow = workflow or self.workflow_of(execution_arn) or {"nodes": []}
        return node_views(workflow, self.node_records(execution_arn), finished)

    def output(self, execution_arn: str) -> Any:
        """What the execution ended with (FinalizeExecution's result: ``status``, ``nodes``, ``output``, and
        ``output_ref`` when the output was too large to return inline, loaded here); None while it runs."""
        view = self.view(execution_arn)
        result = view.result
        if isinstance(result, dict) and result.get("output_ref"):
            result = {**result, "output": self.executions.output(self.tenant_id, execution_arn)}
        return result

    def wait(
        self, execution_arn: str, timeout_seconds: float = 600, poll_seconds: float = 0.2
    ) -> dict[str, Any]:
        """Poll until the execution ends; its description then. Raises TimeoutError."""
        return description_of(
            self.executions.wait(self.tenant_id, execution_arn, timeout_seconds, poll_seconds)
        )

    # --- model deployments --------------------------------------------------------------------------------

    def deployments(self, model_id: str | None = None, limit: int = 50) -> list[DeploymentRecord]:
        """This tenant's model deployments, newest first (the deployment log)."""
        return self.deployment_log.list(self.tenant_id, model_id, limit)
