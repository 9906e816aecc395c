"""The SageMaker DeploymentConfig of each strategy (UpdateEndpoint's blue/green update policy).

- ``all_at_once``: the new fleet takes all traffic once it is healthy; the old one goes at once.
- ``canary``: ``size_percent`` of the capacity takes traffic for ``bake_seconds``, then the rest.
- ``linear``: ``step_percent`` more every ``interval_seconds``.
- ``blue_green``: all traffic moves once the new fleet is up; it bakes ``bake_seconds`` before the old fleet
  is terminated, so an alarm can still send traffic back.
Every strategy keeps the old fleet ``termination_wait_seconds`` and rolls back on any of ``rollback_alarms``.
"""

from __future__ import annotations

from typing import Any

from segflow.deployments.models import BlueGreenSettings, ModelDeployConfig

VARIANT_NAME = "AllTraffic"


def traffic_routing(config: ModelDeployConfig) -> dict[str, Any]:
    if config.strategy == "canary":
        assert config.canary is not None
        return {
            "Type": "CANARY",
            "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": config.canary.size_percent},
            "WaitIntervalInSeconds": config.canary.bake_seconds,
        }
    if config.strategy == "linear":
        assert config.linear is not None
        return {
            "Type": "LINEAR",
            "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": config.linear.step_percent},
            "WaitIntervalInSeconds": config.linear.interval_seconds,
        }
    if config.strategy == "blue_green":
        settings = config.blue_green or BlueGreenSettings()
        return {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": settings.bake_seconds}
    return {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0}


def deployment_config(config: ModelDeployConfig) -> dict[str, Any]:
    """What UpdateEndpoint gets as ``DeploymentConfig``."""
    deployment: dict[str, Any] = {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": traffic_routing(config),
            "TerminationWaitInSeconds": config.termination_wait_seconds,
        }
    }
    if config.rollback_alarms:
        deployment["AutoRollbackConfiguration"] = {
            "Alarms": [{"AlarmName": name} for name in config.rollback_alarms]
        }
    return deployment
