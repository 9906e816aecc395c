"""What a ``deploy`` node with ``target_type: model`` is told to do, and what it records.

The config is checked when the workflow is validated (unknown environment, a canary over half the traffic,
no model source: the field is named), so nothing is created in SageMaker for a config that cannot work.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

from segflow.domain.limits import (
    CANARY_MAX_PERCENT,
    DEPLOY_MAX_DURATION_LIMIT_SECONDS,
    DEPLOY_MAX_DURATION_SECONDS,
    DEPLOY_POLL_INTERVAL_SECONDS,
    SAGEMAKER_WAIT_INTERVAL_MAX_SECONDS,
)

Environment = Literal["dev", "staging", "production"]
Strategy = Literal["all_at_once", "canary", "linear", "blue_green"]
DeploymentStatus = Literal[
    "started",
    "creating",
    "updating",
    "health_check",
    "succeeded",
    "health_check_failed",
    "rolling_back",
    "rolled_back",
    "rolled_back_by_alarm",
    "failed",
    "timed_out",
]
FINAL_DEPLOYMENT_STATUSES = ("succeeded", "rolled_back", "rolled_back_by_alarm", "failed", "timed_out")

_MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,39}")
_S3_URI = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+")
_ALARM_NAME_MAX_CHARS = 255


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


class RegistrySource(_Strict):
    """A version of a SageMaker Model Registry model package group (the latest approved one if unset)."""

    model_package_group: str = Field(min_length=1, max_length=63)
    model_package_version: int | None = Field(default=None, ge=1)


class ArtifactSource(_Strict):
    """A model artifact in S3 served by an inference image."""

    model_data_url: str = Field(description="s3://bucket/key of the model.tar.gz")
    image_uri: str = Field(min_length=1, description="The inference container image (ECR URI).")
    environment: dict[str, str] = Field(default_factory=dict, description="Container environment variables.")

    @field_validator("model_data_url")
    @classmethod
    def _s3_uri(cls, value: str) -> str:
        if "{{" not in value and not _S3_URI.match(value):
            raise ValueError("must be an s3://bucket/key URI")
        return value


def _source_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "registry" if "model_package_group" in value else "artifact"
    return "registry" if isinstance(value, RegistrySource) else "artifact"


ModelSource = Annotated[
    Annotated[RegistrySource, Tag("registry")] | Annotated[ArtifactSource, Tag("artifact")],
    Discriminator(_source_kind),
]


class CanarySettings(_Strict):
    size_percent: int = Field(gt=0, le=CANARY_MAX_PERCENT, description="Share of capacity that bakes first.")
    bake_seconds: int = Field(default=600, ge=0, le=SAGEMAKER_WAIT_INTERVAL_MAX_SECONDS)


class LinearSettings(_Strict):
    step_percent: int = Field(gt=0, lt=100, description="Share of capacity shifted per step.")
    interval_seconds: int = Field(default=600, ge=0, le=SAGEMAKER_WAIT_INTERVAL_MAX_SECONDS)


class BlueGreenSettings(_Strict):
    bake_seconds: int = Field(
        default=300,
        ge=0,
        le=SAGEMAKER_WAIT_INTERVAL_MAX_SECONDS,
        description="How long the new fleet bakes with all the traffic before the old fleet goes.",
    )


class HealthProbe(_Strict):
    """A sample request sent to the endpoint once it is in service, and the answer it must give."""

    body: Any = Field(description="The request: JSON (sent as application/json) or a string.")
    content_type: str = "application/json"
    accept: str = "application/json"
    expected: Any = Field(
        description="A JSON object the answer must contain (every key, recursively), or text it must contain."
    )


class ModelDeployConfig(_Strict):
    model_id: str = Field(description="Your model's name; endpoint names are built from it.")
    version: str = Field(min_length=1, max_length=32)
    environment: Environment
    source: ModelSource = Field(
        description="Where the model comes from: {model_package_group, model_package_version?} of the "
        "Model Registry, or {model_data_url, image_uri} of an S3 artifact."
    )
    instance_type: str = Field(default="ml.m5.large", pattern=r"^ml\.[a-z0-9]+\.[a-z0-9]+$|\{\{")
    instance_count: int = Field(default=1, ge=1, le=100)
    strategy: Strategy = "all_at_once"
    canary: CanarySettings | None = None
    linear: LinearSettings | None = None
    blue_green: BlueGreenSettings | None = None
    termination_wait_seconds: int = Field(
        default=0,
        ge=0,
        le=SAGEMAKER_WAIT_INTERVAL_MAX_SECONDS,
        description="How long SageMaker keeps the old fleet after the shift (for rollback by alarm).",
    )
    rollback_alarms: list[str] = Field(
        default_factory=list, max_length=10, description="CloudWatch alarms that roll the deployment back."
    )
    health_probe: HealthProbe | None = None
    poll_interval_seconds: int = Field(default=DEPLOY_POLL_INTERVAL_SECONDS, ge=1, le=3_600)
    max_duration_seconds: int = Field(
        default=DEPLOY_MAX_DURATION_SECONDS, ge=1, le=DEPLOY_MAX_DURATION_LIMIT_SECONDS
    )

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("model_id")
    @classmethod
    def _model_id(cls, value: str) -> str:
        if "{{" not in value and not _MODEL_ID.fullmatch(value):
            raise ValueError("must be 1-40 letters, digits or hyphens, starting with a letter or digit")
        return value

    @field_validator("rollback_alarms")
    @classmethod
    def _alarm_names(cls, names: list[str]) -> list[str]:
        for name in names:
            if not name or len(name) > _ALARM_NAME_MAX_CHARS:
                raise ValueError(f"alarm names are 1-{_ALARM_NAME_MAX_CHARS} characters")
        return names

    @model_validator(mode="after")
    def _strategy_settings(self) -> ModelDeployConfig:
        if self.strategy == "canary" and self.canary is None:
            raise ValueError("canary: required for strategy 'canary' (size_percent, bake_seconds)")
        if self.strategy == "linear" and self.linear is None:
            raise ValueError("linear: required for strategy 'linear' (step_percent, interval_seconds)")
        if self.canary is not None and self.strategy != "canary":
            raise ValueError(f"canary: only for strategy 'canary', not {self.strategy!r}")
        if self.linear is not None and self.strategy != "linear":
            raise ValueError(f"linear: only for strategy 'linear', not {self.strategy!r}")
        if self.blue_green is not None and self.strategy != "blue_green":
            raise ValueError(f"blue_green: only for strategy 'blue_green', not {self.strategy!r}")
        return self


class DeploymentTransition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: DeploymentStatus
    at: float
    detail: str | None = None


class DeploymentRecord(BaseModel):
    """One deployment in the deployment log."""

    model_config = ConfigDict(extra="forbid")

    deployment_id: str
    tenant_id: str
    execution_id: str
    workflow_id: str
    node_id: str
    model_id: str
    version: str
    environment: Environment
    strategy: Strategy
    endpoint: str
    endpoint_config: str
    model_name: str
    model_source: str  # the model package ARN or the S3 artifact
    previous_config: str | None = None
    previous_version: str | None = None
    started_by: str
    started_at: float
    updated_at: float
    status: DeploymentStatus
    failure_reason: str | None = None
    transitions: list[DeploymentTransition] = Field(default_factory=list)


class DeploymentResult(BaseModel):
    """The node's output."""

    model_config = ConfigDict(extra="forbid")

    success: bool
    endpoint: str
    version: str
    environment: Environment
    deployment_id: str
    strategy: Strategy
    previous_version: str | None
    endpoint_config: str
    model_name: str
    health_check: dict[str, Any] | None = None


# --- what SageMaker answers (segflow.adapters.model_endpoints) ---


@dataclass(frozen=True)
class EndpointState:
    name: str
    status: (
        str  # Creating | Updating | SystemUpdating | RollingBack | InService | OutOfService | Failed | ...
    )
    config_name: str
    failure_reason: str | None = None


@dataclass(frozen=True)
class ModelPackage:
    arn: str
    version: int | None
    approval_status: str | None


@dataclass(frozen=True)
class ProbeAnswer:
    content_type: str | None
    body: bytes
