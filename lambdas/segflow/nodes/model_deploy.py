"""``deploy`` with ``target_type: model``: a real SageMaker deployment, waited for by the state machine.

First run: resolve the model (Model Registry package or S3 artifact), create the Model and the EndpointConfig
of this version and environment, record the deployment, then CreateEndpoint (first deployment) or
UpdateEndpoint with the strategy's DeploymentConfig. The node then returns a :class:`Poll`: its progress is
checkpointed, the state machine waits (a Wait state) and runs the segment again, which describes the endpoint
once and either polls again or carries on. Nothing sleeps in a Lambda.

Once the endpoint is in service with the new config, the health probe (if any) is sent; a wrong answer
updates the endpoint back to its previous config, and once that is in service the node fails with the
reason. An endpoint found in service with another config was rolled back by SageMaker (an alarm fired).
Every status change goes to the deployment log and, as the node's waiting reason, to the live events.
"""

from __future__ import annotations

import json
import time
from typing import Any

from segflow.deployments import naming
from segflow.deployments.errors import (
    DeploymentFailed,
    DeploymentRolledBack,
    DeploymentTimedOut,
    EndpointBusy,
    HealthCheckFailed,
    ModelNotApproved,
)
from segflow.deployments.models import (
    ArtifactSource,
    DeploymentRecord,
    DeploymentResult,
    DeploymentStatus,
    DeploymentTransition,
    EndpointState,
    HealthProbe,
    ModelDeployConfig,
)
from segflow.deployments.policies import deployment_config
from segflow.domain.limits import MODEL_DEPLOY_MAX_CONCURRENCY
from segflow.nodes.base import NodeContext, NodeResult, NodeType, Poll
from segflow.nodes.services import DeploymentLog, ModelEndpoints

_IN_PROGRESS = ("Creating", "Updating", "SystemUpdating", "RollingBack", "UpdateRollbackFailed")
_BROKEN = ("Failed", "OutOfService", "Deleting")


def _tags(context: NodeContext, config: ModelDeployConfig) -> dict[str, str]:
    return {
        "segflow:tenant": context.execution.tenant_id,
        "segflow:model": config.model_id,
        "segflow:version": config.version,
        "segflow:environment": config.environment,
    }


class _Deployment:
    """One run of the node: the config, the services and the progress it carries between polls."""

    def __init__(self, context: NodeContext) -> None:
        self.context = context
        self.config: ModelDeployConfig = context.config
        self.endpoints: ModelEndpoints = context.services.model_endpoints
        self.log: DeploymentLog = context.services.deployment_log
        self.tenant = context.execution.tenant_id
        self.progress: dict[str, Any] = dict(context.progress or {})
        self.now = time.time()

    # --- first run -----------------------------------------------------------------------------------------

    def start(self) -> Poll | NodeResult:
        config, tenant = self.config, self.tenant
        endpoint = naming.endpoint_name(tenant, config.model_id, config.environment)
        config_name = naming.endpoint_config_name(tenant, config.model_id, config.version, config.environment)
        deployment_id = naming.deployment_id(
            tenant, self.context.execution.execution_id, self.context.node_id
        )
        container, source = self._container()  # fails before anything is created
        current = self.endpoints.endpoint(endpoint)
        record = self.log.get(tenant, deployment_id)
        if record is None:
            if current is not None and current.status in _IN_PROGRESS:
                raise EndpointBusy(f"endpoint {endpoint} is {current.status} (another deployment); try later")
            previous = (
                current.config_name if current is not None and current.config_name != config_name else None
            )
            record = self.log.start(
                DeploymentRecord(
                    deployment_id=deployment_id,
                    tenant_id=tenant,
                    execution_id=self.context.execution.execution_id,
                    workflow_id=self.context.execution.workflow_id,
                    node_id=self.context.node_id,
                    model_id=config.model_id,
                    version=config.version,
                    environment=config.environment,
                    strategy=config.strategy,
                    endpoint=endpoint,
                    endpoint_config=config_name,
                    model_name=config_name,
                    model_source=source,
                    previous_config=previous,
                    previous_version=(
                        self.log.version_of_config(tenant, config.model_id, previous) if previous else None
                    ),
                    started_by=self.context.execution.started_by or "StartExecution",
                    started_at=self.now,
                    updated_at=self.now,
                    status="started",
                    transitions=[DeploymentTransition(status="started", at=self.now, detail=source)],
                )
            )
        self.progress = {
            "deployment_id": deployment_id,
            "endpoint": endpoint,
            "config": config_name,
            "previous_config": record.previous_config,
            "previous_version": record.previous_version,
            "started_at": record.started_at,
            "phase": "deploying",
            "polls": 0,
        }
        self.endpoints.ensure_model(config_name, container, _tags(self.context, config))
        self.endpoints.ensure_endpoint_config(
            config_name, config_name, config.instance_type, config.instance_count, _tags(self.context, config)
        )
        if record.status != "started":  # a retry after the endpoint call: it is not repeated
            return self.poll()
        if current is None:
            self.endpoints.create_endpoint(endpoint, config_name, _tags(self.context, config))
            return self._wait("creating", f"CreateEndpoint {endpoint} with {config_name}")
        if current.config_name == config_name:  # this version is already deployed there
            return self._wait("updating", f"{endpoint} already serves {config_name}")
        self.endpoints.update_endpoint(endpoint, config_name, deployment_config(config))
        return self._wait(
            "updating",
            f"UpdateEndpoint {endpoint}: {current.config_name} -> {config_name} ({config.strategy})",
        )

    def _container(self) -> tuple[dict[str, Any], str]:
        source = self.config.source
        if isinstance(source, ArtifactSource):
            self.endpoints.check_artifact(source.model_data_url)
            container: dict[str, Any] = {"Image": source.image_uri, "ModelDataUrl": source.model_data_url}
            if source.environment:
                container["Environment"] = source.environment
            return container, source.model_data_url
        package = self.endpoints.model_package(source.model_package_group, source.model_package_version)
        if package.approval_status == "Rejected" or (
            self.config.environment == "production" and package.approval_status != "Approved"
        ):
            raise ModelNotApproved(
                f"model package {package.arn} is {package.approval_status or 'not approved'}; "
                f"{self.config.environment} takes approved versions only"
                if self.config.environment == "production"
                else f"model package {package.arn} is Rejected"
            )
        return {"ModelPackageName": package.arn}, package.arn

    # --- polls ---------------------------------------------------------------------------------------------

    def poll(self) -> Poll | NodeResult:
        progress = self.progress
        elapsed = self.now - progress["started_at"]
        if elapsed > self.config.max_duration_seconds:
            message = (
                f"deployment {progress['deployment_id']} of {progress['endpoint']} not done after "
                f"{int(elapsed)} s (max_duration_seconds {self.config.max_duration_seconds})"
            )
            self._transition("timed_out", message, failure=message)
            raise DeploymentTimedOut(message)
        progress["polls"] = int(progress.get("polls", 0)) + 1
        state = self.endpoints.endpoint(progress["endpoint"])
        if state is None:
            raise self._failed(f"endpoint {progress['endpoint']} no longer exists")
        if progress["phase"] == "rolling_back":
            return self._poll_rollback(state)
        if state.status in _IN_PROGRESS:
            return self._wait(
                "creating" if state.status == "Creating" else "updating", f"endpoint {state.status}"
            )
        if state.status in _BROKEN:
            raise self._failed(
                f"endpoint {state.name} is {state.status}: {state.failure_reason or 'no reason'}"
            )
        if state.config_name != progress["config"]:
            reason = state.failure_reason or "the endpoint went back to its previous config"
            message = f"SageMaker rolled {state.name} back to {state.config_name}: {reason}"
            self._transition("rolled_back_by_alarm", message, failure=message)
            raise DeploymentRolledBack(message)
        return self._check_health(state)

    def _check_health(self, state: EndpointState) -> Poll | NodeResult:
        probe = self.config.health_probe
        health: dict[str, Any] | None = None
        if probe is not None:
            self._transition("health_check", f"probe {state.name}")
            problem, answer = self._probe(state.name, probe)
            health = {"passed": problem is None, "answer": answer}
            if problem is not None:
                return self._roll_back(problem)
        self._transition("succeeded", f"{state.name} serves {state.config_name}")
        result = DeploymentResult(
            success=True,
            endpoint=state.name,
            version=self.config.version,
            environment=self.config.environment,
            deployment_id=self.progress["deployment_id"],
            strategy=self.config.strategy,
            previous_version=self.progress.get("previous_version"),
            endpoint_config=state.config_name,
            model_name=self.progress["config"],
            health_check=health,
        )
        return NodeResult(output=result.model_dump())

    def _probe(self, endpoint: str, probe: HealthProbe) -> tuple[str | None, Any]:
        try:
            answer = self.endpoints.invoke(
                endpoint, _probe_body(probe.body), probe.content_type, probe.accept
            )
        except Exception as error:  # the endpoint refusing the probe is a failed health check
            return f"health probe failed: {error}", None
        text = answer.body.decode("utf-8", errors="replace")
        try:
            parsed: Any = json.loads(text)
        except ValueError:
            parsed = text
        if isinstance(probe.expected, str):
            matched = probe.expected in text
        else:
            matched = _contains(parsed, probe.expected)
        if matched:
            return None, parsed
        shown = text if len(text) <= 200 else text[:199] + "…"
        return f"health probe answered {shown!r}, expected {json.dumps(probe.expected)[:200]}", parsed

    def _roll_back(self, problem: str) -> Poll:
        previous = self.progress.get("previous_config")
        self._transition("health_check_failed", problem)
        if not previous:
            message = f"{problem}; {self.progress['endpoint']} had no previous config to restore"
            self._transition("failed", message, failure=message)
            raise HealthCheckFailed(message)
        self.endpoints.update_endpoint(self.progress["endpoint"], previous, None)
        self.progress["phase"] = "rolling_back"
        self.progress["problem"] = problem
        return self._wait("rolling_back", f"UpdateEndpoint {self.progress['endpoint']} back to {previous}")

    def _poll_rollback(self, state: EndpointState) -> Poll:
        if state.status in _IN_PROGRESS:
            return self._wait("rolling_back", f"endpoint {state.status}")
        problem = self.progress.get("problem", "health probe failed")
        if state.status == "InService" and state.config_name == self.progress["previous_config"]:
            message = f"{problem}; {state.name} restored to {state.config_name}"
            self._transition("rolled_back", message, failure=problem)
            raise HealthCheckFailed(message)
        raise self._failed(
            f"{problem}; restoring {state.name} to {self.progress['previous_config']} left it "
            f"{state.status} with {state.config_name}: {state.failure_reason or 'no reason'}"
        )

    # --- shared --------------------------------------------------------------------------------------------

    def _wait(self, status: DeploymentStatus, detail: str) -> Poll:
        self._transition(status, detail)
        return Poll(
            progress=self.progress,
            delay_seconds=self.config.poll_interval_seconds,
            reason=f"deployment {self.progress['deployment_id']} {status}: {detail} "
            f"(poll {self.progress['polls']}, next in {self.config.poll_interval_seconds} s)",
        )

    def _transition(self, status: DeploymentStatus, detail: str, failure: str | None = None) -> None:
        if self.progress.get("status") == status and failure is None:
            return  # the log keeps transitions, not polls
        self.log.transition(self.tenant, self.progress["deployment_id"], status, self.now, detail, failure)
        self.progress["status"] = status

    def _failed(self, message: str) -> DeploymentFailed:
        self._transition("failed", message, failure=message)
        return DeploymentFailed(message)


def _probe_body(body: Any) -> bytes:
    return body.encode() if isinstance(body, str) else json.dumps(body, separators=(",", ":")).encode()


def _contains(answer: Any, expected: Any) -> bool:
    """Every key of ``expected`` is in ``answer`` with a matching value (recursively); lists compare whole."""
    if isinstance(expected, dict):
        return isinstance(answer, dict) and all(
            key in answer and _contains(answer[key], value) for key, value in expected.items()
        )
    return bool(answer == expected)


def run_model_deploy(context: NodeContext) -> Poll | NodeResult:
    deployment = _Deployment(context)
    return deployment.start() if context.progress is None else deployment.poll()


NODE_TYPE = NodeType(
    type="deploy",
    subtype="model",
    subtype_field="target_type",
    config_model=ModelDeployConfig,
    description=(
        "Deploys a model version to a SageMaker endpoint (all at once, canary, linear or blue/green), "
        "waits for it in Wait states, health-checks it, rolls back on failure and logs the deployment."
    ),
    executor=run_model_deploy,
    inline=False,  # it polls through the state machine
    max_concurrency=MODEL_DEPLOY_MAX_CONCURRENCY,
)
