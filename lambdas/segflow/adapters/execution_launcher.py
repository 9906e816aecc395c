"""Starting, stopping and describing executions of the workflow state machine (the StartExecution input
contract).

Every method names an execution by its tenant and id; the Step Functions execution is ``<tenant>.<id>``
(:mod:`segflow.domain.ids`), so a tenant only ever meets its own names.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from segflow.contracts import DEFAULT_TENANT
from segflow.domain import s3_layout
from segflow.domain.errors import SegflowError
from segflow.domain.ids import fitted_execution_id, qualified_execution_name
from segflow.domain.integrity import canonical_json, sha256_hex
from segflow.domain.limits import EXECUTION_INPUT_INLINE_MAX_BYTES


class ExecutionAlreadyExists(SegflowError):
    """The tenant has an execution of this name already (names are unique per state machine for 90 days)."""

    kind = "conflict"


def execution_name(tenant_id: str, workflow_id: str) -> str:
    """A new execution id of this workflow: ``<workflow id>-<12 hex>``, the workflow id cut so that the
    tenant's Step Functions name fits."""
    return fitted_execution_id(tenant_id, workflow_id[:40], f"-{uuid.uuid4().hex[:12]}")


class ExecutionLauncher:
    def __init__(self, state_machine_arn: str, sfn_client: Any, bucket: str, s3_client: Any) -> None:
        self.state_machine_arn = state_machine_arn
        self.bucket = bucket
        self._sfn = sfn_client
        self._s3 = s3_client

    def upload_submission(self, tenant_id: str, kind: str, document: Any) -> str:
        """Content-addressed under the tenant's submissions prefix (the only one InitializeStateBag reads)."""
        if self._s3 is None:
            raise RuntimeError("this function has no access to the data bucket: it cannot upload inputs")
        body = canonical_json(document).encode()
        key = s3_layout.submission_key(tenant_id, sha256_hex(body), kind)
        self._s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json")
        return key

    def start(
        self,
        tenant_id: str,
        workflow: dict[str, Any],
        execution_input: dict[str, Any],
        name: str,
        started_by: str | None = None,
    ) -> str:
        """``workflow`` is ``{"workflow_id", "version"}`` or ``{"s3_key"}``; large inputs go by reference."""
        return self.start_request(self.request(tenant_id, workflow, execution_input, started_by), name)

    def request(
        self,
        tenant_id: str,
        workflow: dict[str, Any],
        execution_input: dict[str, Any],
        started_by: str | None = None,
    ) -> dict[str, Any]:
        """The ExecutionRequest (StartExecution's input) of a start; a large input is uploaded first."""
        request: dict[str, Any] = {"tenant_id": tenant_id, "workflow": workflow}
        if started_by:
            request["started_by"] = started_by
        if len(json.dumps(execution_input).encode()) <= EXECUTION_INPUT_INLINE_MAX_BYTES:
            request["input"] = execution_input
        else:
            request["input_ref"] = {"s3_key": self.upload_submission(tenant_id, "inputs", execution_input)}
        return request

    def start_request(self, request: dict[str, Any], name: str) -> str:
        """Start the execution ``name`` of the request's tenant with a complete ExecutionRequest (a resume's,
        for one). Raises InvalidExecutionName, ExecutionAlreadyExists (only ever for the tenant's own)."""
        qualified = qualified_execution_name(str(request.get("tenant_id") or DEFAULT_TENANT), name)
        try:
            response = self._sfn.start_execution(
                stateMachineArn=self.state_machine_arn, name=qualified, input=json.dumps(request)
            )
        except self._sfn.exceptions.ExecutionAlreadyExists as error:
            raise ExecutionAlreadyExists(f"an execution named {name!r} already exists") from error
        return str(response["executionArn"])

    def start_or_find(self, request: dict[str, Any], name: str) -> str:
        """Start, or return the execution of that name if it was started with this same input already."""
        try:
            return self.start_request(request, name)
        except ExecutionAlreadyExists:
            existing = self.describe(str(request.get("tenant_id") or DEFAULT_TENANT), name)
            if existing is None or json.loads(existing.get("input") or "null") != request:
                raise
            return str(existing["executionArn"])

    def execution_arn(self, tenant_id: str, name: str) -> str:
        """The ARN of the tenant's Step Functions execution ``name``. Raises InvalidExecutionName."""
        machine = self.state_machine_arn.replace(":stateMachine:", ":execution:", 1)
        return f"{machine}:{qualified_execution_name(tenant_id, name)}"

    def describe(self, tenant_id: str, name: str) -> dict[str, Any] | None:
        """DescribeExecution of the tenant's execution ``name``; None if it has none of that name (another
        tenant's of the same name is another execution)."""
        try:
            return dict(self._sfn.describe_execution(executionArn=self.execution_arn(tenant_id, name)))
        except self._sfn.exceptions.ExecutionDoesNotExist:
            return None

    def stop(
        self, tenant_id: str, name: str, error: str | None = None, cause: str | None = None
    ) -> dict[str, Any] | None:
        """StopExecution of the tenant's execution ``name`` (its record turns ABORTED through the status
        rule); None if there is no such execution. Stopping one that has ended changes nothing."""
        request: dict[str, Any] = {"executionArn": self.execution_arn(tenant_id, name)}
        if error:
            request["error"] = error
        if cause:
            request["cause"] = cause
        try:
            return dict(self._sfn.stop_execution(**request))
        except self._sfn.exceptions.ExecutionDoesNotExist:
            return None
