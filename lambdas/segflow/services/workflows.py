"""The workflows service: publish, list, read, diff, activate and roll back a tenant's published workflow
versions (what the management API's workflow routes do).

Every method takes the tenant and sees only that tenant's workflows. Errors are
:mod:`segflow.versioning.errors` (WorkflowNotFound, VersionNotFound, ActiveVersionConflict, …) and
:class:`~segflow.dsl.validation.WorkflowValidationError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from segflow.dsl.validation import validate_executable
from segflow.versioning.diff import WorkflowDiff, diff_workflows
from segflow.versioning.errors import NoDiffTarget
from segflow.versioning.models import (
    ActivationEntry,
    RollbackResult,
    VersionInfo,
    WorkflowSummary,
    WorkflowVersion,
)

if TYPE_CHECKING:
    from segflow.adapters.workflow_versions import WorkflowVersionStore
    from segflow.services.executions import StackNames


@dataclass(frozen=True)
class Published:
    version: VersionInfo
    workflow: WorkflowSummary


@dataclass(frozen=True)
class VersionHistory:
    workflow: WorkflowSummary
    versions: list[VersionInfo]
    history: list[ActivationEntry]


@dataclass(frozen=True)
class VersionDiff:
    workflow_id: str
    from_version: int
    to_version: int
    diff: WorkflowDiff


@dataclass(frozen=True)
class Activation:
    result: RollbackResult
    workflow: WorkflowSummary  # after the change


class WorkflowsService:
    def __init__(self, versions: WorkflowVersionStore) -> None:
        self.store = versions

    @classmethod
    def from_environment(cls) -> WorkflowsService:
        from segflow.adapters import factory

        return cls(factory.workflow_versions())

    @classmethod
    def from_session(cls, session: Any, names: StackNames) -> WorkflowsService:
        """Built from a boto3 session and the stack's resource names. Raises NotDeployed without a workflows
        table (a stack deployed before workflow versions)."""
        from segflow.adapters.workflow_versions import WorkflowVersionStore
        from segflow.services.executions import NotDeployed

        if not names.workflows_table:
            raise NotDeployed("this deployment has no workflows table (deployed before workflow versions)")
        dynamodb, s3 = session.client("dynamodb"), session.client("s3")
        return cls(WorkflowVersionStore(names.workflows_table, dynamodb, names.bucket, s3))

    def publish(
        self,
        tenant_id: str,
        definition: dict[str, Any],
        created_by: str,
        message: str = "",
        activate: bool = True,
        expected_active_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> Published:
        """Validate (nothing is stored if the workflow is invalid or cannot run), store as the next version,
        and activate it unless told not to. With ``idempotency_key``, a request with the same key and body
        answers with the version the first one published (publishing nothing); the key with another body
        raises RequestKeyReused. Keys are the tenant's, kept for a day."""
        request = None
        if idempotency_key is not None:
            body = {
                "definition": definition,
                "message": message,
                "activate": activate,
                "expected_active_version": expected_active_version,
            }
            request = self.store.request_keys().request(tenant_id, "publish", idempotency_key, body)
            first = request.stored()
            if first is not None:
                return Published(*self.store.published(tenant_id, first))
        graph = validate_executable(definition)
        info, summary = self.store.publish_keyed(
            tenant_id,
            graph.definition.model_dump(mode="json", exclude_none=True),
            created_by,
            request,
            message=message,
            activate=activate,
            expected_active_version=expected_active_version,
        )
        return Published(info, summary)

    def list_workflows(self, tenant_id: str) -> list[WorkflowSummary]:
        return self.store.list_workflows(tenant_id)

    def get(self, tenant_id: str, workflow_id: str) -> WorkflowSummary:
        return self.store.get_workflow(tenant_id, workflow_id)

    def history(self, tenant_id: str, workflow_id: str) -> VersionHistory:
        """The workflow, its versions and its activation history."""
        return VersionHistory(
            workflow=self.store.get_workflow(tenant_id, workflow_id),
            versions=self.store.list_versions(tenant_id, workflow_id),
            history=self.store.history(tenant_id, workflow_id),
        )

    def version(self, tenant_id: str, workflow_id: str, version: int) -> WorkflowVersion:
        return self.store.get_version(tenant_id, workflow_id, version)

    def diff(
        self, tenant_id: str, workflow_id: str, from_version: int, to_version: int | None = None
    ) -> VersionDiff:
        """What changed from ``from_version`` to ``to_version`` (default: the active version)."""
        if to_version is None:
            active = self.store.get_workflow(tenant_id, workflow_id).active_version
            if active is None:
                raise NoDiffTarget(workflow_id)
            to_version = active
        before = self.store.get_version(tenant_id, workflow_id, from_version)
        after = self.store.get_version(tenant_id, workflow_id, to_version)
        return VersionDiff(
            workflow_id, from_version, to_version, diff_workflows(before.definition, after.definition)
        )

    def activate(
        self,
        tenant_id: str,
        workflow_id: str,
        version: int,
        by: str,
        reason: str = "",
        expected_active_version: int | None = None,
    ) -> Activation:
        result = self.store.activate(
            tenant_id,
            workflow_id,
            version,
            by=by,
            reason=reason,
            expected_active_version=expected_active_version,
        )
        return Activation(result, self.store.get_workflow(tenant_id, workflow_id))

    def rollback(
        self,
        tenant_id: str,
        workflow_id: str,
        by: str,
        to_version: int | None = None,
        reason: str = "",
        expected_active_version: int | None = None,
    ) -> Activation:
        """Make ``to_version`` (default: the previously active version) active again."""
        result = self.store.rollback(
            tenant_id,
            workflow_id,
            by=by,
            to_version=to_version,
            reason=reason,
            expected_active_version=expected_active_version,
        )
        return Activation(result, self.store.get_workflow(tenant_id, workflow_id))
