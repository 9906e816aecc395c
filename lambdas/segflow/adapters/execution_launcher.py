"""Starting, stopping and describing executions of the workflow state machine (the StartExecution input
contract)."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from segflow.adapters import s3_layout
from segflow.domain.errors import SegflowError
from segflow.domain.limits import EXECUTION_INPUT_INLINE_MAX_BYTES


class ExecutionAlreadyExists(SegflowError):
    """An execution of this name exists already (names are unique per state machine for 90 days)."""

    kind = "conflict"


def execution_name(workflow_id: str) -> str:
    return f"{workflow_id[:40]}-{uuid.uuid4().hex[:12]}"


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
        body = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
        key = s3_layout.submission_key(tenant_id, hashlib.sha256(body).hexdigest(), kind)
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
        request: dict[str, Any] = {"tenant_id": tenant_id, "workflow": workflow}
        if started_by:
            request["started_by"] = started_by
        if len(json.dumps(execution_input).encode()) <= EXECUTION_INPUT_INLINE_MAX_BYTES:
            request["input"] = execution_input
        else:
            request["input_ref"] = {"s3_key": self.upload_submission(tenant_id, "inputs", execution_input)}
        return self.start_request(request, name)

    def start_request(self, request: dict[str, Any], name: str) -> str:
        """Start with a complete ExecutionRequest (a resume's, for one)."""
        try:
            response = self._sfn.start_execution(
                stateMachineArn=self.state_machine_arn, name=name, input=json.dumps(request)
            )
        except self._sfn.exceptions.ExecutionAlreadyExists as error:
            raise ExecutionAlreadyExists(f"an execution named {name!r} already exists") from error
        return str(response["executionArn"])

    def start_or_find(self, request: dict[str, Any], name: str) -> str:
        """Start, or return the execution of that name if it was started with this same input already."""
        try:
            return self.start_request(request, name)
        except ExecutionAlreadyExists:
            existing = self.describe(name)
            if existing is None or json.loads(existing.get("input") or "null") != request:
                raise
            return str(existing["executionArn"])

    def execution_arn(self, name: str) -> str:
        return f"{self.state_machine_arn.replace(':stateMachine:', ':execution:', 1)}:{name}"

    def describe(self, name: str) -> dict[str, Any] | None:
        try:
            return dict(self._sfn.describe_execution(executionArn=self.execution_arn(name)))
        except self._sfn.exceptions.ExecutionDoesNotExist:
            return None

    def stop(self, name: str, error: str | None = None, cause: str | None = None) -> dict[str, Any] | None:
        """StopExecution of the execution ``name`` (its record turns ABORTED through the status rule);
        None if there is no such execution. Stopping one that has ended changes nothing."""
        request: dict[str, Any] = {"executionArn": self.execution_arn(name)}
        if error:
            request["error"] = error
        if cause:
            request["cause"] = cause
        try:
            return dict(self._sfn.stop_execution(**request))
        except self._sfn.exceptions.ExecutionDoesNotExist:
            return None
