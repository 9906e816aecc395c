"""The workflows table: immutable versions, one active-version pointer and the activation history.

Items of one workflow share ``pk = WF#<tenant>#<workflow_id>``:

- ``META``: the pointer item (latest and active version, the previously active one, the activation
  sequence); the ``by_tenant`` index lists a tenant's workflows through ``gsi1pk = TENANT#<tenant>``;
- ``V#<n>``: version n, definition inline when small, otherwise in S3 (content-addressed) with its hash;
- ``H#<seq>``: one entry per change of the active version (publish, activate, rollback);
- ``REQ#<id>``: the result of an idempotent activation request (a rollback node's retry finds it here).

Idempotency keys of the management API live here too (:mod:`segflow.adapters.request_keys`).

Every change is one DynamoDB transaction conditioned on the pointer item, so version numbers are contiguous
and an activation never interleaves with another: concurrent writers retry or fail, never half-apply.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from segflow.adapters.dynamo_items import decode_item, encode_item, expires_at
from segflow.adapters.request_keys import KeyedRequest, RequestKeyStore
from segflow.domain import s3_layout
from segflow.domain.integrity import canonical_json, sha256_hex
from segflow.domain.limits import DEFINITION_INLINE_MAX_BYTES, VERSION_WRITE_MAX_ATTEMPTS
from segflow.versioning.errors import (
    ActiveVersionConflict,
    NoActiveVersion,
    NoPreviousVersion,
    TooMuchContention,
    VersionAlreadyActive,
    VersionNotFound,
    WorkflowNotFound,
)
from segflow.versioning.models import (
    ActivationEntry,
    ActivationKind,
    RollbackResult,
    VersionInfo,
    WorkflowSummary,
    WorkflowVersion,
)

META = "META"
BY_TENANT_INDEX = "by_tenant"


def workflow_pk(tenant_id: str, workflow_id: str) -> str:
    return f"WF#{tenant_id}#{workflow_id}"


def version_sk(version: int) -> str:
    return f"V#{version:08d}"


def history_sk(seq: int) -> str:
    return f"H#{seq:08d}"


def request_sk(request_id: str) -> str:
    return f"REQ#{request_id}"


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _transaction_cancelled(error: ClientError) -> bool:
    return error.response["Error"]["Code"] in ("TransactionCanceledException", "TransactionConflictException")


class WorkflowVersionStore:
    def __init__(
        self,
        table_name: str,
        dynamodb_client: Any,
        bucket: str,
        s3_client: Any,
        clock: Callable[[], str] = utc_now,
        sleep: Callable[[float], None] = time.sleep,
        inline_max_bytes: int = DEFINITION_INLINE_MAX_BYTES,
    ) -> None:
        self.table_name = table_name
        self.bucket = bucket
        self._dynamodb = dynamodb_client
        self._s3 = s3_client
        self._clock = clock
        self._sleep = sleep
        self.inline_max_bytes = inline_max_bytes

    # --- reads ------------------------------------------------------------------------------------------

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        response = self._dynamodb.get_item(
            TableName=self.table_name, Key=encode_item({"pk": pk, "sk": sk}), ConsistentRead=True
        )
        item = response.get("Item")
        return decode_item(item) if item else None

    def _query(self, pk: str, sk_prefix: str, descending: bool = False) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": encode_item({":pk": pk, ":prefix": sk_prefix}),
            "ConsistentRead": True,
            "ScanIndexForward": not descending,
        }
        while True:
            response = self._dynamodb.query(**request)
            items.extend(decode_item(item) for item in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return items
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def _meta(self, tenant_id: str, workflow_id: str) -> dict[str, Any]:
        meta = self._get(workflow_pk(tenant_id, workflow_id), META)
        if meta is None:
            raise WorkflowNotFound(workflow_id)
        return meta

    def get_workflow(self, tenant_id: str, workflow_id: str) -> WorkflowSummary:
        return _summary(self._meta(tenant_id, workflow_id))

    def list_workflows(self, tenant_id: str) -> list[WorkflowSummary]:
        summaries: list[WorkflowSummary] = []
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": BY_TENANT_INDEX,
            "KeyConditionExpression": "gsi1pk = :tenant",
            "ExpressionAttributeValues": encode_item({":tenant": f"TENANT#{tenant_id}"}),
        }
        while True:
            response = self._dynamodb.query(**request)
            summaries.extend(_summary(decode_item(item)) for item in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return summaries
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def list_versions(self, tenant_id: str, workflow_id: str) -> list[VersionInfo]:
        self._meta(tenant_id, workflow_id)
        return [_version_info(item) for item in self._query(workflow_pk(tenant_id, workflow_id), "V#")]

    def history(self, tenant_id: str, workflow_id: str) -> list[ActivationEntry]:
        self._meta(tenant_id, workflow_id)
        items = self._query(workflow_pk(tenant_id, workflow_id), "H#")
        return [ActivationEntry.model_validate(_fields(item, ActivationEntry)) for item in items]

    def get_version(self, tenant_id: str, workflow_id: str, version: int) -> WorkflowVersion:
        item = self._get(workflow_pk(tenant_id, workflow_id), version_sk(version))
        if item is None:
            self._meta(tenant_id, workflow_id)  # an unknown workflow is reported as such
            raise VersionNotFound(workflow_id, version)
        if "definition_json" in item:
            definition = json.loads(item["definition_json"])
        else:
            body = self._s3.get_object(Bucket=self.bucket, Key=item["definition_key"])["Body"].read()
            definition = json.loads(body)
        return WorkflowVersion(**_version_info(item).model_dump(), definition=definition)

    def resolve(self, tenant_id: str, workflow_id: str, version: int | None = None) -> WorkflowVersion:
        """The version asked for, or the active one: what an execution pins when it starts."""
        if version is None:
            active = self._meta(tenant_id, workflow_id).get("active_version")
            if active is None:
                raise NoActiveVersion(workflow_id)
            version = int(active)
        return self.get_version(tenant_id, workflow_id, version)

    # --- publish ----------------------------------------------------------------------------------------

    def publish(
        self,
        tenant_id: str,
        definition: dict[str, Any],
        created_by: str,
        message: str = "",
        activate: bool = True,
        expected_active_version: int | None = None,
    ) -> tuple[VersionInfo, WorkflowSummary]:
        """Store ``definition`` (already validated) as the next version; activate it unless told not to."""
        return self.publish_keyed(
            tenant_id, definition, created_by, None, message, activate, expected_active_version
        )

    def publish_keyed(
        self,
        tenant_id: str,
        definition: dict[str, Any],
        created_by: str,
        request: KeyedRequest | None,
        message: str = "",
        activate: bool = True,
        expected_active_version: int | None = None,
    ) -> tuple[VersionInfo, WorkflowSummary]:
        """:meth:`publish`; with ``request`` (an Idempotency-Key), the version is recorded under the key in
        the same transaction: a request with the key that finds it (or loses the race to it) answers with
        the version it names."""
        workflow_id = definition["workflow_id"]
        pk = workflow_pk(tenant_id, workflow_id)
        text = canonical_json(definition)
        data = text.encode()
        sha256 = sha256_hex(data)  # = document_sha256(definition), what a run checks it against
        stored: dict[str, Any] = {"definition_json": text}
        if len(data) > self.inline_max_bytes:
            key = s3_layout.workflow_definition_key(tenant_id, workflow_id, sha256)
            self._s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType="application/json")
            stored = {"definition_key": key}

        for attempt in range(1, VERSION_WRITE_MAX_ATTEMPTS + 1):
            meta = self._get(pk, META)
            active = _int_or_none(meta, "active_version")
            if expected_active_version is not None and active != expected_active_version:
                raise ActiveVersionConflict(workflow_id, expected_active_version, active)
            latest = int(meta["latest_version"]) if meta else 0
            seq = int(meta["activation_seq"]) if meta else 0
            version = latest + 1
            now = self._clock()
            version_item = {
                "pk": pk,
                "sk": version_sk(version),
                "workflow_id": workflow_id,
                "version": version,
                "name": definition.get("name") or workflow_id,
                "description": definition.get("description", ""),
                "sha256": sha256,
                "size_bytes": len(data),
                "node_count": len(definition.get("nodes", [])),
                "edge_count": len(definition.get("edges", [])),
                "created_by": created_by,
                "created_at": now,
                "message": message,
                **stored,
            }
            items: list[dict[str, Any]] = [
                {
                    "Put": {
                        "TableName": self.table_name,
                        "Item": encode_item(version_item),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
            ]
            new_active = version if activate else active
            if meta is None:
                items.append(
                    {
                        "Put": {
                            "TableName": self.table_name,
                            "Item": encode_item(
                                {
                                    "pk": pk,
                                    "sk": META,
                                    "gsi1pk": f"TENANT#{tenant_id}",
                                    "gsi1sk": f"WF#{workflow_id}",
                                    "tenant_id": tenant_id,
                                    "workflow_id": workflow_id,
                                    "name": version_item["name"],
                                    "latest_version": version,
                                    "active_version": new_active,
                                    "activation_seq": seq + 1 if activate else seq,
                                    "created_at": now,
                                    "updated_at": now,
                                    "updated_by": created_by,
                                }
                            ),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    }
                )
            else:
                items.append(
                    self._meta_update(
                        pk,
                        expected_latest=latest,
                        expected_seq=seq,
                        sets={
                            "latest_version": version,
                            "name": version_item["name"],
                            "updated_at": now,
                            "updated_by": created_by,
                            **({"active_version": version, "activation_seq": seq + 1} if activate else {}),
                        },
                        previous_active=active if activate else _int_or_none(meta, "previous_active_version"),
                    )
                )
            if activate:
                items.append(
                    self._history_put(pk, seq + 1, "publish", active, version, message, created_by, now)
                )
            if request is not None:
                items.append({"Put": request.put_item({"workflow_id": workflow_id, "version": version})})
            if self._transact(items):
                summary = self.get_workflow(tenant_id, workflow_id)
                return _version_info(version_item), summary
            if request is not None and (first := request.stored()) is not None:
                return self.published(tenant_id, first)
            self._back_off(attempt)
        raise TooMuchContention(f"workflow {workflow_id!r}: too many concurrent publishes, try again")

    def published(self, tenant_id: str, result: dict[str, Any]) -> tuple[VersionInfo, WorkflowSummary]:
        """The version a keyed publish stored (``{"workflow_id", "version"}``), as publish answered it."""
        workflow_id, version = str(result["workflow_id"]), int(result["version"])
        item = self._get(workflow_pk(tenant_id, workflow_id), version_sk(version))
        if item is None:
            raise VersionNotFound(workflow_id, version)
        return _version_info(item), self.get_workflow(tenant_id, workflow_id)

    def request_keys(self) -> RequestKeyStore:
        """The management API's idempotency keys (kept in this table, with its TTL)."""
        return RequestKeyStore(self.table_name, self._dynamodb)

    # --- activation -------------------------------------------------------------------------------------

    def rollback(
        self,
        tenant_id: str,
        workflow_id: str,
        by: str,
        to_version: int | None = None,
        reason: str = "",
        expected_active_version: int | None = None,
        request_id: str | None = None,
    ) -> RollbackResult:
        """Make ``to_version`` (default: the previously active version) active again."""
        return self._change_active(
            tenant_id, workflow_id, to_version, by, reason, expected_active_version, request_id, "rollback"
        )

    def activate(
        self,
        tenant_id: str,
        workflow_id: str,
        version: int,
        by: str,
        reason: str = "",
        expected_active_version: int | None = None,
    ) -> RollbackResult:
        return self._change_active(
            tenant_id, workflow_id, version, by, reason, expected_active_version, None, "activate"
        )

    def _change_active(
        self,
        tenant_id: str,
        workflow_id: str,
        to_version: int | None,
        by: str,
        reason: str,
        expected_active_version: int | None,
        request_id: str | None,
        kind: ActivationKind,
    ) -> RollbackResult:
        pk = workflow_pk(tenant_id, workflow_id)
        if request_id is not None:
            done = self._get(pk, request_sk(request_id))
            if done is not None:  # this request already took effect: report it again, change nothing
                return RollbackResult.model_validate_json(done["result_json"])
        for attempt in range(1, VERSION_WRITE_MAX_ATTEMPTS + 1):
            meta = self._meta(tenant_id, workflow_id)
            active = _int_or_none(meta, "active_version")
            if expected_active_version is not None and active != expected_active_version:
                raise ActiveVersionConflict(workflow_id, expected_active_version, active)
            target = to_version
            if target is None:
                target = _int_or_none(meta, "previous_active_version")
                if target is None:
                    raise NoPreviousVersion(workflow_id)
            if self._get(pk, version_sk(target)) is None:
                raise VersionNotFound(workflow_id, target)
            if target == active:
                raise VersionAlreadyActive(workflow_id, target)
            seq = int(meta["activation_seq"]) + 1
            now = self._clock()
            result = RollbackResult(
                workflow_id=workflow_id,
                rolled_back_to_version=target,
                previous_version=active,
                history_seq=seq,
            )
            items = [
                {
                    "ConditionCheck": {
                        "TableName": self.table_name,
                        "Key": encode_item({"pk": pk, "sk": version_sk(target)}),
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
                self._meta_update(
                    pk,
                    expected_latest=None,
                    expected_seq=seq - 1,
                    sets={
                        "active_version": target,
                        "activation_seq": seq,
                        "updated_at": now,
                        "updated_by": by,
                    },
                    previous_active=active,
                ),
                self._history_put(pk, seq, kind, active, target, reason, by, now),
            ]
            if request_id is not None:
                items.append(
                    {
                        "Put": {
                            "TableName": self.table_name,
                            "Item": encode_item(
                                {
                                    "pk": pk,
                                    "sk": request_sk(request_id),
                                    "result_json": result.model_dump_json(),
                                    "expires_at": expires_at(),
                                }
                            ),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    }
                )
            if self._transact(items):
                return result
            if request_id is not None:
                done = self._get(pk, request_sk(request_id))
                if done is not None:
                    return RollbackResult.model_validate_json(done["result_json"])
            self._back_off(attempt)
        raise TooMuchContention(f"workflow {workflow_id!r}: too many concurrent activations, try again")

    # --- helpers ----------------------------------------------------------------------------------------

    def _meta_update(
        self,
        pk: str,
        expected_latest: int | None,
        expected_seq: int,
        sets: dict[str, Any],
        previous_active: int | None,
    ) -> dict[str, Any]:
        names = {f"#s{i}": key for i, key in enumerate(sets)}
        values = {f":s{i}": value for i, value in enumerate(sets.values())}
        expression = "SET " + ", ".join(f"#s{i} = :s{i}" for i in range(len(sets)))
        if previous_active is None:
            expression += " REMOVE previous_active_version"
        else:
            expression += ", previous_active_version = :previous"
            values[":previous"] = previous_active
        condition = "attribute_exists(pk) AND activation_seq = :seq"
        values[":seq"] = expected_seq
        if expected_latest is not None:
            condition += " AND latest_version = :latest"
            values[":latest"] = expected_latest
        return {
            "Update": {
                "TableName": self.table_name,
                "Key": encode_item({"pk": pk, "sk": META}),
                "UpdateExpression": expression,
                "ConditionExpression": condition,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": encode_item(values),
            }
        }

    def _history_put(
        self,
        pk: str,
        seq: int,
        kind: ActivationKind,
        from_version: int | None,
        to_version: int,
        reason: str,
        by: str,
        at: str,
    ) -> dict[str, Any]:
        entry = ActivationEntry(
            seq=seq, kind=kind, from_version=from_version, to_version=to_version, reason=reason, by=by, at=at
        )
        return {
            "Put": {
                "TableName": self.table_name,
                "Item": encode_item({"pk": pk, "sk": history_sk(seq), **entry.model_dump()}),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }

    def _transact(self, items: list[dict[str, Any]]) -> bool:
        """True when the transaction applied; False when a condition failed (a concurrent writer won)."""
        try:
            self._dynamodb.transact_write_items(TransactItems=items)
        except ClientError as error:
            if _transaction_cancelled(error):
                return False
            raise
        return True

    def _back_off(self, attempt: int) -> None:
        """Exponential back-off with full jitter, capped, so many contending writers spread out."""
        self._sleep(random.uniform(0, min(0.5, 0.005 * 2**attempt)))


def _int_or_none(item: dict[str, Any] | None, key: str) -> int | None:
    if item is None or item.get(key) is None:
        return None
    return int(item[key])


def _fields(item: dict[str, Any], model: type[Any]) -> dict[str, Any]:
    return {key: value for key, value in item.items() if key in model.model_fields}


def _summary(meta: dict[str, Any]) -> WorkflowSummary:
    return WorkflowSummary.model_validate(_fields(meta, WorkflowSummary))


def _version_info(item: dict[str, Any]) -> VersionInfo:
    return VersionInfo.model_validate(_fields(item, VersionInfo))
