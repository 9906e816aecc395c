"""SageMaker endpoint deployments in the embedded cloud (moto 5.2.5 creates endpoints InService at once and
has no UpdateEndpoint).

What the emulation adds, as SageMaker behaves:

- **Lifecycle**: CreateEndpoint leaves the endpoint ``Creating``, UpdateEndpoint leaves it ``Updating``; the
  change completes after ``SEGFLOW_LOCAL_SAGEMAKER_POLLS`` DescribeEndpoint calls (default 2), so a
  deployment is seen in progress for that many polls. Counting polls instead of seconds keeps tests exact.
- **UpdateEndpoint**: refused while the endpoint is not ``InService`` (as SageMaker does), records the
  request's DeploymentConfig as DescribeEndpoint's ``LastDeploymentConfig``, and switches the endpoint to the
  new config when the update completes.
- **Automatic rollback**: when the update completes while one of the DeploymentConfig's
  AutoRollbackConfiguration alarms is in ``ALARM`` (moto's CloudWatch), the endpoint stays on its old config,
  back ``InService`` with a ``FailureReason``, as after SageMaker's rollback.
- **InvokeEndpoint** needs an endpoint in service and answers from moto's queue of endpoint results (the
  ``/moto-api/static/sagemaker/endpoint-results`` API), remembered per endpoint *config*: a new version of a
  model gets its own answer.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import urllib.parse
from dataclasses import dataclass
from typing import Any, cast

POLLS_ENV = "SEGFLOW_LOCAL_SAGEMAKER_POLLS"
_DEFAULT_POLLS = 2

_lock = threading.RLock()
_applied = False


@dataclass
class _Change:
    kind: str  # "Creating" | "Updating"
    polls_left: int
    config_name: str
    alarms: tuple[str, ...] = ()


# (account, region, endpoint name) -> the change in progress
_changes: dict[tuple[str, str, str], _Change] = {}


def _polls() -> int:
    return max(0, int(os.environ.get(POLLS_ENV, _DEFAULT_POLLS)))


def _firing(account_id: str, region: str, alarms: tuple[str, ...]) -> list[str]:
    from moto.cloudwatch.models import cloudwatch_backends

    backend = cloudwatch_backends[account_id][region]
    return [
        alarm.name
        for alarm in backend.get_alarms_by_alarm_names(list(alarms))
        if alarm.state_value == "ALARM"
    ]


def apply() -> None:
    global _applied
    with _lock:
        if _applied:
            return
        from moto.sagemaker.exceptions import ValidationError
        from moto.sagemaker.models import FakeEndpoint, SageMakerModelBackend
        from moto.sagemaker.responses import SageMakerResponse
        from moto.sagemakerruntime.models import SageMakerRuntimeBackend
        from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

        original_create = SageMakerModelBackend.create_endpoint
        original_describe = SageMakerModelBackend.describe_endpoint
        original_delete = SageMakerModelBackend.delete_endpoint
        original_invoke = SageMakerRuntimeBackend.invoke_endpoint

        def key(backend: Any, name: str) -> tuple[str, str, str]:
            return (backend.account_id, backend.region_name, name)

        def create_endpoint(
            self: Any, endpoint_name: str, endpoint_config_name: str, tags: Any
        ) -> FakeEndpoint:
            with _lock:
                endpoint = original_create(self, endpoint_name, endpoint_config_name, tags)
                polls = _polls()
                if polls:
                    endpoint.endpoint_status = "Creating"
                    _changes[key(self, endpoint_name)] = _Change("Creating", polls, endpoint_config_name)
                return endpoint

        def describe_endpoint(self: Any, endpoint_name: str) -> dict[str, Any]:
            with _lock:
                change = _changes.get(key(self, endpoint_name))
                if change is not None:
                    change.polls_left -= 1
                    if change.polls_left <= 0:
                        _complete(self, endpoint_name, change)
                return original_describe(self, endpoint_name)

        def _complete(backend: Any, endpoint_name: str, change: _Change) -> None:
            del _changes[key(backend, endpoint_name)]
            endpoint = backend.endpoints[endpoint_name]
            endpoint.endpoint_status = "InService"
            if change.kind == "Creating":
                return
            firing = _firing(backend.account_id, backend.region_name, change.alarms) if change.alarms else []
            if firing:
                endpoint.failure_reason = (
                    f"Deployment rolled back: alarm(s) {', '.join(firing)} went into ALARM during the update"
                )
                return
            config = backend.endpoint_configs[change.config_name]
            endpoint.endpoint_config_name = change.config_name
            endpoint.production_variants = endpoint._process_production_variants(config.production_variants)
            endpoint.failure_reason = None

        def update_endpoint(
            self: Any, endpoint_name: str, endpoint_config_name: str, deployment_config: dict[str, Any] | None
        ) -> FakeEndpoint:
            with _lock:
                endpoint = self.endpoints.get(endpoint_name)
                if endpoint is None:
                    raise ValidationError(message=f"Could not find endpoint '{endpoint_name}'.")
                if endpoint.endpoint_status != "InService":
                    raise ValidationError(
                        message=f"Cannot update in-progress endpoint "
                        f"'{FakeEndpoint.arn_formatter(endpoint_name, self.account_id, self.region_name)}'."
                    )
                if endpoint_config_name not in self.endpoint_configs:
                    raise ValidationError(
                        message=f"Could not find endpoint configuration '{endpoint_config_name}'."
                    )
                alarms = tuple(
                    alarm["AlarmName"]
                    for alarm in ((deployment_config or {}).get("AutoRollbackConfiguration") or {}).get(
                        "Alarms", []
                    )
                )
                endpoint.last_deployment_config = deployment_config
                change = _Change("Updating", max(1, _polls()), endpoint_config_name, alarms)
                endpoint.endpoint_status = "Updating"
                _changes[key(self, endpoint_name)] = change
                return cast(FakeEndpoint, endpoint)  # from the backend's endpoints

        def delete_endpoint(self: Any, endpoint_name: str) -> None:
            with _lock:
                _changes.pop(key(self, endpoint_name), None)
                original_delete(self, endpoint_name)

        def update_endpoint_response(self: Any) -> Any:
            from moto.core.responses import ActionResult

            endpoint = self.sagemaker_backend.update_endpoint(
                endpoint_name=self._get_param("EndpointName"),
                endpoint_config_name=self._get_param("EndpointConfigName"),
                deployment_config=self._get_param("DeploymentConfig"),
            )
            return ActionResult({"EndpointArn": endpoint.arn})

        def invoke_endpoint(self: Any, endpoint_name: str, unique_repr: bytes) -> Any:
            from moto.sagemaker.models import sagemaker_backends

            with _lock:
                endpoint = sagemaker_backends[self.account_id][self.region_name].endpoints.get(endpoint_name)
                if endpoint is None:
                    raise ValidationError(
                        message=f"Endpoint {endpoint_name} of account {self.account_id} not found."
                    )
                if endpoint.endpoint_status not in ("InService", "Updating"):
                    raise ValidationError(message=f"Endpoint {endpoint_name} is {endpoint.endpoint_status}.")
                # During an update the old config still serves; answers are remembered per config.
                return original_invoke(self, f"{endpoint_name}@{endpoint.endpoint_config_name}", unique_repr)

        def invoke_endpoint_response(self: Any) -> Any:
            # moto reads EndpointName from the body; the REST protocol puts it in the path.
            name = urllib.parse.unquote(self.path.split("/")[2])
            unique_repr = {k: v for k, v in self.headers.items() if k.lower().startswith("x-amzn-sagemaker")}
            unique_repr["Accept"] = self.headers.get("Accept")
            unique_repr["Body"] = self.body
            body, content_type, variant, attributes = self.sagemakerruntime_backend.invoke_endpoint(
                endpoint_name=name, unique_repr=base64.b64encode(json.dumps(unique_repr).encode())
            )
            headers = {"Content-Type": content_type, "x-Amzn-Invoked-Production-Variant": variant}
            if attributes:
                headers["X-Amzn-SageMaker-Custom-Attributes"] = attributes
            return 200, headers, body

        SageMakerModelBackend.create_endpoint = create_endpoint  # type: ignore[method-assign]  # patching moto
        SageMakerModelBackend.describe_endpoint = describe_endpoint  # type: ignore[method-assign]  # patching moto
        SageMakerModelBackend.delete_endpoint = delete_endpoint  # type: ignore[method-assign]  # patching moto
        SageMakerModelBackend.update_endpoint = update_endpoint  # type: ignore[attr-defined]  # moto lacks it
        SageMakerResponse.update_endpoint = update_endpoint_response  # type: ignore[attr-defined]  # moto lacks it
        SageMakerRuntimeBackend.invoke_endpoint = invoke_endpoint  # type: ignore[method-assign]  # patching moto
        SageMakerRuntimeResponse.invoke_endpoint = invoke_endpoint_response  # type: ignore[method-assign]  # patching moto
        _applied = True


def queue_endpoint_answers(answers: list[Any], account_id: str, region: str) -> None:
    """Queue what the next InvokeEndpoint calls answer (in-process; a server takes the same through
    ``POST /moto-api/static/sagemaker/endpoint-results``). Answers other than strings are JSON-encoded."""
    from moto.sagemakerruntime.models import sagemakerruntime_backends

    backend = sagemakerruntime_backends[account_id][region]
    for answer in answers:
        body = answer if isinstance(answer, str) else json.dumps(answer)
        backend.results_queue.append((body, "application/json", "AllTraffic", ""))
