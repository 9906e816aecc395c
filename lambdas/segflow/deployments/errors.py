"""How a model deployment fails; ``error_type`` is what retry policies, records and events show."""

from __future__ import annotations

from segflow.domain.errors import NodeFailure


class ArtifactNotFound(NodeFailure):
    """The model artifact to deploy does not exist."""

    error_type = "ArtifactNotFound"


class ModelNotApproved(NodeFailure):
    """The model version is not approved for deployment."""

    error_type = "ModelNotApproved"


class EndpointBusy(NodeFailure):
    """Another update of the endpoint is in progress; retrying later may succeed."""

    error_type = "EndpointBusy"
    retryable = True


class DeploymentFailed(NodeFailure):
    """SageMaker could not create or update the endpoint."""

    error_type = "DeploymentFailed"


class DeploymentRolledBack(NodeFailure):
    """SageMaker rolled the deployment back (an alarm fired)."""

    error_type = "DeploymentRolledBack"


class HealthCheckFailed(NodeFailure):
    """The deployed endpoint failed its health check."""

    error_type = "HealthCheckFailed"


class DeploymentTimedOut(NodeFailure):
    """The deployment did not finish within its time."""

    error_type = "DeploymentTimedOut"


class SageMakerError(NodeFailure):
    """SageMaker refused a call; throttling and internal errors are worth a retry."""

    error_type = "SageMakerError"
