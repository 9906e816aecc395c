"""The model deployments service: a tenant's deployment log, newest first (``segflow deployments``).

Like the executions service, every method takes the tenant and sees only that tenant's deployments. Build it
from a function's environment or from a boto3 session and the stack's deployments table name (the CLI).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from segflow.deployments.models import DeploymentRecord
from segflow.services.executions import NotDeployed

if TYPE_CHECKING:
    from segflow.adapters.deployment_log import DeploymentLog

DEFAULT_LIST_LIMIT = 50


class DeploymentsService:
    def __init__(self, log: DeploymentLog | None) -> None:
        self.log = log  # None: the stack has no deployments table (deployed before model deployments)

    @classmethod
    def from_environment(cls) -> DeploymentsService:
        from segflow.adapters import factory

        return cls(factory.deployment_log())

    @classmethod
    def from_session(cls, session: Any, deployments_table: str | None) -> DeploymentsService:
        """Built from a boto3 session (anything with ``.client(service)``) and the table's name, if any."""
        if not deployments_table:
            return cls(None)
        from segflow.adapters.deployment_log import DeploymentLog

        return cls(DeploymentLog(deployments_table, session.client("dynamodb")))

    def list(
        self, tenant_id: str, model_id: str | None = None, limit: int = DEFAULT_LIST_LIMIT
    ) -> list[DeploymentRecord]:
        """The tenant's deployments (of ``model_id`` if given), newest first, ``limit`` at most. Raises
        NotDeployed without a deployments table."""
        if self.log is None:
            raise NotDeployed("this stack has no deployment log (deployed before model deployments)")
        return self.log.list(tenant_id, model_id, limit)
