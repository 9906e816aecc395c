"""Approvals, in the executions table: ``pk = EXEC#<tenant>#<execution_id>``, ``sk = APPROVAL#<node_id>``.

An approval is requested once (the node's first arrival), gets the state machine's task token while it waits
(the token never leaves this table and the functions that complete it), and is decided once: by an approver
(the management API) or, after its deadline, by the node's default. Each step is a conditional write, so a
decision racing the token, or two approvers racing each other, settle on one outcome.
"""

from __future__ import annotations

from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict

from segflow.adapters.dynamo_items import decode_item, encode_item, expires_at, put_if_absent
from segflow.adapters.execution_records import execution_pk
from segflow.domain.errors import ErrorKind, SegflowError

Decision = Literal["approve", "reject"]


class ApprovalRecord(BaseModel):
    model_config = ConfigDict(extra="ignore")

    node_id: str
    message: str
    approvers: list[str] = []
    requested_at: float
    deadline: float
    default_decision: Decision
    task_token: str | None = None
    decision: Decision | None = None
    approver: str | None = None
    comment: str | None = None
    decided_at: float | None = None
    timed_out: bool = False

    @property
    def decided(self) -> bool:
        return self.decision is not None


class ApprovalNotPending(SegflowError):
    """No approval of that node is waiting: it was decided already (``record`` holds the decision)."""

    code = "AlreadyDecided"
    kind: ErrorKind = "conflict"

    def __init__(self, message: str, record: ApprovalRecord | None = None) -> None:
        super().__init__(message)
        self.record = record


class ApprovalNotRequested(ApprovalNotPending):
    """No approval of that node was ever requested."""

    code = "NotFound"
    kind = "not_found"


class ApprovalStore:
    def __init__(self, table_name: str, dynamodb_client: Any) -> None:
        self.table_name = table_name
        self._client = dynamodb_client

    def _key(self, tenant_id: str, execution_id: str, node_id: str) -> dict[str, Any]:
        return encode_item({"pk": execution_pk(tenant_id, execution_id), "sk": f"APPROVAL#{node_id}"})

    def request(self, tenant_id: str, execution_id: str, record: ApprovalRecord) -> ApprovalRecord:
        """Record the request once; a retried segment gets the stored one (its deadline stands)."""
        item = {
            "pk": execution_pk(tenant_id, execution_id),
            "sk": f"APPROVAL#{record.node_id}",
            "expires_at": expires_at(),
            **record.model_dump(exclude_none=True),
        }
        if put_if_absent(self._client, self.table_name, item):
            return record
        stored = self.get(tenant_id, execution_id, record.node_id)
        assert stored is not None
        return stored

    def get(self, tenant_id: str, execution_id: str, node_id: str) -> ApprovalRecord | None:
        response = self._client.get_item(
            TableName=self.table_name, Key=self._key(tenant_id, execution_id, node_id), ConsistentRead=True
        )
        return ApprovalRecord.model_validate(decode_item(response["Item"])) if "Item" in response else None

    def attach_token(self, tenant_id: str, execution_id: str, node_id: str, token: str) -> ApprovalRecord:
        """Keep the waiting state's task token; returns the record (already decided: the caller completes
        the token at once)."""
        try:
            response = self._client.update_item(
                TableName=self.table_name,
                Key=self._key(tenant_id, execution_id, node_id),
                UpdateExpression="SET task_token = :token",
                ConditionExpression="attribute_exists(sk) AND attribute_not_exists(decision)",
                ExpressionAttributeValues=encode_item({":token": token}),
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            stored = self.get(tenant_id, execution_id, node_id)
            if stored is None:
                raise ApprovalNotRequested(f"no approval was requested for node {node_id!r}") from error
            return stored
        return ApprovalRecord.model_validate(decode_item(response["Attributes"]))

    def decide(
        self,
        tenant_id: str,
        execution_id: str,
        node_id: str,
        decision: Decision,
        approver: str | None,
        comment: str | None,
        at: float,
        timed_out: bool = False,
    ) -> ApprovalRecord:
        """Decide a pending approval, once. Raises ApprovalNotPending if there is none or it was decided."""
        values = {":decision": decision, ":at": at, ":timed_out": timed_out}
        update = "SET decision = :decision, decided_at = :at, timed_out = :timed_out"
        if approver:
            values[":approver"] = approver
            update += ", approver = :approver"
        if comment:
            values[":comment"] = comment
            update += ", #comment = :comment"
        try:
            response = self._client.update_item(
                TableName=self.table_name,
                Key=self._key(tenant_id, execution_id, node_id),
                UpdateExpression=update,
                ConditionExpression="attribute_exists(sk) AND attribute_not_exists(decision)",
                ExpressionAttributeValues=encode_item(values),
                **({"ExpressionAttributeNames": {"#comment": "comment"}} if comment else {}),
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            stored = self.get(tenant_id, execution_id, node_id)
            if stored is None:
                raise ApprovalNotRequested(f"node {node_id!r} has no pending approval") from error
            raise ApprovalNotPending(
                f"node {node_id!r} was decided already: {stored.decision} by {stored.approver or 'timeout'}",
                stored,
            ) from error
        return ApprovalRecord.model_validate(decode_item(response["Attributes"]))
