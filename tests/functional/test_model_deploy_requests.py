"""The exact SageMaker requests of deploy/model, with botocore's Stubber (real request and response shapes)
where moto has no implementation (UpdateEndpoint, DeploymentConfig); the deployment log is the embedded
DynamoDB."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.stub import Stubber
from segflow.adapters import factory
from segflow.adapters.model_endpoints import ModelEndpoints
from segflow.deployments import naming
from segflow.deployments.models import DeploymentRecord, DeploymentTransition, ModelDeployConfig
from segflow.nodes.base import ExecutionInfo, NodeContext, NodeResult, Poll
from segflow.nodes.model_deploy import run_model_deploy
from segflow.nodes.services import NodeServices

from segflow_local.embedded import EmbeddedAws

ROLE = "arn:aws:iam::123456789012:role/model-execution"
ARN_PREFIX = "arn:aws:sagemaker:us-east-1:123456789012"
NOW = datetime(2026, 12, 3, tzinfo=UTC)

STRATEGIES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("all_at_once", {}, {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0}),
    (
        "canary",
        {"canary": {"size_percent": 10, "bake_seconds": 600}},
        {
            "Type": "CANARY",
            "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10},
            "WaitIntervalInSeconds": 600,
        },
    ),
    (
        "linear",
        {"linear": {"step_percent": 20, "interval_seconds": 300}},
        {
            "Type": "LINEAR",
            "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 20},
            "WaitIntervalInSeconds": 300,
        },
    ),
    ("blue_green", {}, {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 300}),
]


class Deployer:
    """Runs the node's executor as the segment runner would, with a stubbed SageMaker client."""

    def __init__(self, embedded: EmbeddedAws, config: dict[str, Any]) -> None:
        self.sagemaker = embedded.client("sagemaker")
        self.stubber = Stubber(self.sagemaker)
        self.config = ModelDeployConfig.model_validate(config)
        self.execution = ExecutionInfo(
            "default", f"exec-{uuid.uuid4().hex[:8]}", "wf", "2026-12-03T00:00:00Z"
        )
        endpoints = ModelEndpoints(self.sagemaker, None, None, lambda: ROLE)
        with embedded.running_as("ExecuteSegment"):  # the function that runs deploy nodes
            self.log = factory.deployment_log()
        self.services = NodeServices(
            model_endpoints_factory=lambda: endpoints, deployment_log_factory=lambda: self.log
        )
        self.endpoint = naming.endpoint_name("default", self.config.model_id, self.config.environment)
        self.config_name = naming.endpoint_config_name(
            "default", self.config.model_id, self.config.version, self.config.environment
        )
        self.package = f"{ARN_PREFIX}:model-package/{self.config.model_id}/2"

    def run(self, progress: dict[str, Any] | None = None) -> NodeResult | Poll:
        context = NodeContext(
            node_id="ship",
            config=self.config,
            execution=self.execution,
            services=self.services,
            progress=progress,
        )
        with self.stubber:
            result = run_model_deploy(context)
            self.stubber.assert_no_pending_responses()
        return result

    def expect_package(self) -> None:
        group = self.config.model_id
        summary = {
            "ModelPackageName": group,
            "ModelPackageGroupName": group,
            "ModelPackageVersion": 2,
            "ModelPackageArn": self.package,
            "CreationTime": NOW,
            "ModelPackageStatus": "Completed",
            "ModelApprovalStatus": "Approved",
        }
        self.stubber.add_response(
            "list_model_packages",
            {"ModelPackageSummaryList": [summary]},
            {"ModelPackageGroupName": group, "SortBy": "CreationTime", "SortOrder": "Descending"},
        )
        described = {k: v for k, v in summary.items() if k != "ModelPackageGroupName"}
        self.stubber.add_response(
            "describe_model_package",
            {
                **described,
                "ModelPackageGroupName": group,
                "ModelPackageStatusDetails": {"ValidationStatuses": []},
            },
            {"ModelPackageName": self.package},
        )

    def expect_endpoint(self, status: str, config_name: str) -> None:
        self.stubber.add_response(
            "describe_endpoint",
            {
                "EndpointName": self.endpoint,
                "EndpointArn": f"{ARN_PREFIX}:endpoint/{self.endpoint}",
                "EndpointConfigName": config_name,
                "EndpointStatus": status,
                "CreationTime": NOW,
                "LastModifiedTime": NOW,
            },
            {"EndpointName": self.endpoint},
        )

    def expect_missing(self, operation: str, params: dict[str, Any]) -> None:
        self.stubber.add_client_error(
            operation, "ValidationException", f"Could not find {operation}", expected_params=params
        )

    def expect_existing(self) -> None:
        """The model and the endpoint config of this version exist already."""
        arn = f"{ARN_PREFIX}:model/{self.config_name}"
        self.stubber.add_response(
            "describe_model",
            {"ModelName": self.config_name, "ModelArn": arn, "CreationTime": NOW, "ExecutionRoleArn": ROLE},
            {"ModelName": self.config_name},
        )
        self.stubber.add_response(
            "describe_endpoint_config",
            {
                "EndpointConfigName": self.config_name,
                "EndpointConfigArn": f"{ARN_PREFIX}:endpoint-config/{self.config_name}",
                "ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": self.config_name}],
                "CreationTime": NOW,
            },
            {"EndpointConfigName": self.config_name},
        )

    def expect_creates(self) -> None:
        tags = [
            {"Key": "segflow:environment", "Value": self.config.environment},
            {"Key": "segflow:model", "Value": self.config.model_id},
            {"Key": "segflow:tenant", "Value": "default"},
            {"Key": "segflow:version", "Value": self.config.version},
        ]
        self.expect_missing("describe_model", {"ModelName": self.config_name})
        self.stubber.add_response(
            "create_model",
            {"ModelArn": f"{ARN_PREFIX}:model/{self.config_name}"},
            {
                "ModelName": self.config_name,
                "PrimaryContainer": {"ModelPackageName": self.package},
                "ExecutionRoleArn": ROLE,
                "Tags": tags,
            },
        )
        self.expect_missing("describe_endpoint_config", {"EndpointConfigName": self.config_name})
        self.stubber.add_response(
            "create_endpoint_config",
            {"EndpointConfigArn": f"{ARN_PREFIX}:endpoint-config/{self.config_name}"},
            {
                "EndpointConfigName": self.config_name,
                "ProductionVariants": [
                    {
                        "VariantName": "AllTraffic",
                        "ModelName": self.config_name,
                        "InstanceType": self.config.instance_type,
                        "InitialInstanceCount": self.config.instance_count,
                        "InitialVariantWeight": 1.0,
                    }
                ],
                "Tags": tags,
            },
        )


def deploy_config(strategy: str, settings: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "model_id": f"scorer-{uuid.uuid4().hex[:6]}",
        "version": 2,
        "environment": "production",
        "source": {"model_package_group": "placeholder", "model_package_version": 2},
        "instance_type": "ml.c5.xlarge",
        "instance_count": 4,
        "strategy": strategy,
        "rollback_alarms": ["scorer-5xx", "scorer-latency"],
        "termination_wait_seconds": 120,
        **settings,
        **extra,
    }


@pytest.mark.parametrize(("strategy", "settings", "routing"), STRATEGIES, ids=[s[0] for s in STRATEGIES])
def test_each_strategy_sends_exactly_its_deployment_config(
    embedded: EmbeddedAws, strategy: str, settings: dict[str, Any], routing: dict[str, Any]
) -> None:
    config = deploy_config(strategy, settings)
    config["source"]["model_package_group"] = config["model_id"]
    deployer = Deployer(embedded, config)
    deployer.expect_package()
    deployer.expect_endpoint("InService", "segflow-v1-config")
    deployer.expect_creates()
    deployer.stubber.add_response(
        "update_endpoint",
        {"EndpointArn": f"{ARN_PREFIX}:endpoint/{deployer.endpoint}"},
        {
            "EndpointName": deployer.endpoint,
            "EndpointConfigName": deployer.config_name,
            "DeploymentConfig": {
                "BlueGreenUpdatePolicy": {
                    "TrafficRoutingConfiguration": routing,
                    "TerminationWaitInSeconds": 120,
                },
                "AutoRollbackConfiguration": {
                    "Alarms": [{"AlarmName": "scorer-5xx"}, {"AlarmName": "scorer-latency"}]
                },
            },
        },
    )

    result = deployer.run()

    assert isinstance(result, Poll)
    assert result.delay_seconds == 30
    assert result.progress["previous_config"] == "segflow-v1-config"
    logged = deployer.log.get("default", result.progress["deployment_id"])
    assert logged is not None and logged.status == "updating" and logged.strategy == strategy


def test_a_retry_after_the_update_was_sent_does_not_send_it_again(embedded: EmbeddedAws) -> None:
    """A crash between UpdateEndpoint and the checkpoint: the retried segment finds the logged deployment."""
    config = deploy_config("canary", {"canary": {"size_percent": 5}})
    config["source"]["model_package_group"] = config["model_id"]
    first = Deployer(embedded, config)
    first.expect_package()
    first.expect_endpoint("InService", "segflow-v1-config")
    first.expect_creates()
    first.stubber.add_response("update_endpoint", {"EndpointArn": f"{ARN_PREFIX}:endpoint/x"})
    assert isinstance(first.run(), Poll)

    retry = Deployer(embedded, config)
    retry.execution = first.execution
    retry.expect_package()
    retry.expect_endpoint("Updating", "segflow-v1-config")
    retry.expect_existing()
    retry.expect_endpoint("Updating", "segflow-v1-config")  # the poll; no UpdateEndpoint is expected

    result = retry.run()

    assert isinstance(result, Poll)
    assert result.progress["previous_config"] == "segflow-v1-config", "the previous config survives the retry"


def test_a_failed_probe_updates_back_to_the_previous_config_without_a_deployment_config(
    embedded: EmbeddedAws,
) -> None:
    config = deploy_config("all_at_once", {}, health_probe={"body": "ping", "expected": "pong"})
    deployer = Deployer(embedded, config)
    runtime = embedded.client("sagemaker-runtime")
    runtime_stub = Stubber(runtime)
    deployer.services._built["model_endpoints"] = ModelEndpoints(
        deployer.sagemaker, runtime, None, lambda: ROLE
    )
    log = deployer.log
    deployment_id = naming.deployment_id("default", deployer.execution.execution_id, "ship")
    log.start(
        DeploymentRecord(
            deployment_id=deployment_id,
            tenant_id="default",
            execution_id=deployer.execution.execution_id,
            workflow_id="wf",
            node_id="ship",
            model_id=deployer.config.model_id,
            version="2",
            environment="production",
            strategy="all_at_once",
            endpoint=deployer.endpoint,
            endpoint_config=deployer.config_name,
            model_name=deployer.config_name,
            model_source="s3://m/model.tar.gz",
            previous_config="segflow-v1-config",
            started_by="tester",
            started_at=0.0,
            updated_at=0.0,
            status="updating",
            transitions=[DeploymentTransition(status="updating", at=0.0)],
        )
    )
    progress = {
        "deployment_id": deployment_id,
        "endpoint": deployer.endpoint,
        "config": deployer.config_name,
        "previous_config": "segflow-v1-config",
        "previous_version": "1",
        "started_at": 1e12,  # far from its maximum duration
        "phase": "deploying",
        "polls": 3,
        "status": "updating",
    }
    deployer.expect_endpoint("InService", deployer.config_name)
    runtime_stub.add_response(
        "invoke_endpoint",
        {"Body": io.BytesIO(b"no"), "ContentType": "text/plain"},
        {
            "EndpointName": deployer.endpoint,
            "Body": b"ping",
            "ContentType": "application/json",
            "Accept": "application/json",
        },
    )
    deployer.stubber.add_response(
        "update_endpoint",
        {"EndpointArn": f"{ARN_PREFIX}:endpoint/x"},
        {"EndpointName": deployer.endpoint, "EndpointConfigName": "segflow-v1-config"},
    )

    with runtime_stub:
        result = deployer.run(progress)

    assert isinstance(result, Poll)
    assert result.progress["phase"] == "rolling_back"
    assert "health probe answered 'no'" in result.progress["problem"]
    statuses = [t.status for t in log.get("default", deployment_id).transitions]
    assert statuses == ["updating", "health_check", "health_check_failed", "rolling_back"]
