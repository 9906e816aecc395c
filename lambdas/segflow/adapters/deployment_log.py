"""The deployments table: every model deployment, its status transitions and who started it.

Keys carry the tenant: ``pk = TENANT#<tenant>``, ``sk = DEPLOY#<deployment_id>``. Two indexes list a tenant's
deployments newest first: ``by_tenant`` (all of them) and ``by_model`` (one model). Deployment records are
an audit trail and do not expire.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from segflow.adapters.dynamo_items import decode_item, encode_item, put_if_absent
from segflow.deployments.models import DeploymentRecord, DeploymentStatus, DeploymentTransition

BY_TENANT_INDEX = "by_tenant"
BY_MODEL_INDEX = "by_model"
_INDEX_KEYS = ("gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk")


def _key(tenant_id: str, deployment_id: str) -> dict[str, Any]:
    return encode_item({"pk": f"TENANT#{tenant_id}", "sk": f"DEPLOY#{deployment_id}"})


def _order(record: DeploymentRecord) -> str:
    started = datetime.fromtimestamp(record.started_at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return f"{started}#{record.deployment_id}"


class DeploymentLog:
    def __init__(self, table_name: str, dynamodb_client: Any) -> None:
        self.table_name = table_name
        self._client = dynamodb_client

    def start(self, record: DeploymentRecord) -> DeploymentRecord:
        """Record a new deployment; if it is recorded already (a retried segment), the stored record."""
        item = {
            "pk": f"TENANT#{record.tenant_id}",
            "sk": f"DEPLOY#{record.deployment_id}",
            "gsi1pk": f"TENANT#{record.tenant_id}",
            "gsi1sk": _order(record),
            "gsi2pk": f"MODEL#{record.tenant_id}#{record.model_id}",
            "gsi2sk": _order(record),
            **record.model_dump(mode="json"),
        }
        if put_if_absent(self._client, self.table_name, item):
            return record
        existing = self.get(record.tenant_id, record.deployment_id)
        assert existing is not None
        return existing

    def get(self, tenant_id: str, deployment_id: str) -> DeploymentRecord | None:
        response = self._client.get_item(
            TableName=self.table_name, Key=_key(tenant_id, deployment_id), ConsistentRead=True
        )
        return self._record(response["Item"]) if "Item" in response else None

    def transition(
        self,
        tenant_id: str,
        deployment_id: str,
        status: DeploymentStatus,
        at: float,
        detail: str | None = None,
        failure_reason: str | None = None,
    ) -> None:
        """Append a status transition (once: a retried poll that repeats the last one writes nothing)."""
        transition = DeploymentTransition(status=status, at=at, detail=detail).model_dump(exclude_none=True)
        names = {"#status": "status", "#transitions": "transitions", "#updated": "updated_at"}
        values = encode_item({":status": status, ":new": [transition], ":at": at})
        update = "SET #status = :status, #transitions = list_append(#transitions, :new), #updated = :at"
        if failure_reason:
            names["#failure"] = "failure_reason"
            values.update(encode_item({":failure": failure_reason}))
            update += ", #failure = :failure"
        try:
            self._client.update_item(
                TableName=self.table_name,
                Key=_key(tenant_id, deployment_id),
                UpdateExpression=update,
                ConditionExpression="attribute_exists(pk) AND #status <> :status",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def list(self, tenant_id: str, model_id: str | None = None, limit: int = 50) -> list[DeploymentRecord]:
        """Newest first."""
        if model_id is None:
            index, condition, key = BY_TENANT_INDEX, "gsi1pk = :key", f"TENANT#{tenant_id}"
        else:
            index, condition, key = BY_MODEL_INDEX, "gsi2pk = :key", f"MODEL#{tenant_id}#{model_id}"
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": index,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": encode_item({":key": key}),
            "ScanIndexForward": False,
        }
        records: list[DeploymentRecord] = []
        while len(records) < limit:
            response = self._client.query(**request, Limit=limit - len(records))
            records.extend(self._record(item) for item in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                break
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return records

    def version_of_config(self, tenant_id: str, model_id: str, endpoint_config: str) -> str | None:
        """The version a succeeded deployment of this model put in ``endpoint_config``."""
        for record in self.list(tenant_id, model_id, limit=200):
            if record.endpoint_config == endpoint_config and record.status == "succeeded":
                return record.version
        return None

    @staticmethod
    def _record(item: dict[str, Any]) -> DeploymentRecord:
        data = decode_item(item)
        for key in ("pk", "sk", *_INDEX_KEYS):
            data.pop(key, None)
        return DeploymentRecord.model_validate(data)
