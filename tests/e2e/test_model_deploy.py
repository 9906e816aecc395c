"""deploy/model: real SageMaker calls (moto + the local emulation of endpoint updates), waited for in Wait
states, health-checked, rolled back, and written to the deployment log."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from segflow.declaration import UserResources
from segflow.deployments import naming
from segflow.dsl.validation import WorkflowValidationError

from segflow_cli.client import SegflowClient
from segflow_local.embedded import EmbeddedAws
from segflow_local.sagemaker_emulation import POLLS_ENV
from tests.conftest import history, run_to_end
from tests.support.e2e import final_output
from tests.support.history import event_types
from tests.support.sagemaker import answer_probes, register_versions, registry_source
from tests.support.workflows import chain_edges, deploy_model, transform, workflow

pytestmark = pytest.mark.e2e

HEALTHY = {"prediction": 0.12, "model": "churn"}
PROBE = {"body": {"features": [1, 2, 3]}, "expected": {"model": "churn"}}


@pytest.fixture()
def model(embedded: EmbeddedAws) -> str:
    """A fresh model id with two approved registry versions."""
    model_id = f"churn-{uuid.uuid4().hex[:8]}"
    register_versions(embedded.client("sagemaker"), model_id, 2)
    return model_id


def deploy_workflow(model_id: str, version: int, environment: str, **config: Any) -> dict[str, Any]:
    node = deploy_model(
        "deploy", model_id, version, environment, source=registry_source(model_id, version), **config
    )
    return workflow(
        f"deploy-{model_id}",
        [node, transform("after", "{{ nodes.deploy.endpoint }}")],
        chain_edges(["deploy", "after"]),
    )


def deploy(client: SegflowClient, model_id: str, version: int, environment: str, **config: Any) -> tuple:
    arn, description = run_to_end(client, deploy_workflow(model_id, version, environment, **config))
    return arn, description


def endpoint_of(model_id: str, environment: str) -> str:
    return naming.endpoint_name("default", model_id, environment)


def config_of(model_id: str, version: int, environment: str) -> str:
    return naming.endpoint_config_name("default", model_id, str(version), environment)


def test_first_deployment_creates_the_endpoint_and_the_node_returns_the_result(
    client: SegflowClient, embedded: EmbeddedAws, model: str
) -> None:
    arn, description = deploy(client, model, 1, "staging")

    assert description["status"] == "SUCCEEDED", description.get("cause")
    output = client.node_records(arn)["deploy"]
    result = client.node_output(output)
    endpoint = endpoint_of(model, "staging")
    assert {k: result[k] for k in ("success", "endpoint", "version", "environment", "strategy")} == {
        "success": True,
        "endpoint": endpoint,
        "version": "1",
        "environment": "staging",
        "strategy": "all_at_once",
    }
    assert result["previous_version"] is None
    assert result["deployment_id"].startswith("dep-")
    described = embedded.client("sagemaker").describe_endpoint(EndpointName=endpoint)
    assert described["EndpointStatus"] == "InService"
    assert described["EndpointConfigName"] == config_of(model, 1, "staging")
    model_description = embedded.client("sagemaker").describe_model(ModelName=config_of(model, 1, "staging"))
    assert model_description["PrimaryContainer"]["ModelPackageName"].endswith(f"{model.lower()}/1")
    assert final_output(client, arn) == {"after": endpoint}
    [logged] = client.deployments(model)
    assert [t.status for t in logged.transitions] == ["started", "creating", "succeeded"]
    assert logged.started_by.startswith("arn:aws:")


def test_an_update_sends_the_canary_s_deployment_config_and_reports_the_version_it_replaced(
    client: SegflowClient, embedded: EmbeddedAws, model: str
) -> None:
    """Each strategy's exact request: tests/functional/test_model_deploy_requests.py (Stubber)."""
    deploy(client, model, 1, "production")
    answer_probes(HEALTHY)

    arn, description = deploy(
        client,
        model,
        2,
        "production",
        strategy="canary",
        canary={"size_percent": 10, "bake_seconds": 120},
        rollback_alarms=["churn-5xx"],
        termination_wait_seconds=300,
        health_probe=PROBE,
    )

    assert description["status"] == "SUCCEEDED", description.get("cause")
    described = embedded.client("sagemaker").describe_endpoint(EndpointName=endpoint_of(model, "production"))
    assert described["EndpointConfigName"] == config_of(model, 2, "production")
    assert described["LastDeploymentConfig"] == {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": "CANARY",
                "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10},
                "WaitIntervalInSeconds": 120,
            },
            "TerminationWaitInSeconds": 300,
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "churn-5xx"}]},
    }
    record = client.node_records(arn)["deploy"]
    result = client.node_output(record)
    assert (result["strategy"], result["version"], result["previous_version"]) == ("canary", "2", "1")
    assert result["health_check"] == {"passed": True, "answer": HEALTHY}
    newest = client.deployments(model)[0]
    assert (newest.previous_config, newest.previous_version) == (config_of(model, 1, "production"), "1")
    assert [t.status for t in newest.transitions] == ["started", "updating", "health_check", "succeeded"]


def test_a_deployment_updating_for_several_polls_waits_in_wait_states(
    client: SegflowClient, model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    deploy(client, model, 1, "dev")
    monkeypatch.setenv(POLLS_ENV, "4")

    arn, description = deploy(client, model, 2, "dev", strategy="canary", canary={"size_percent": 50})

    assert description["status"] == "SUCCEEDED", description.get("cause")
    events = history(client, arn)
    types = event_types(events)
    assert types.count("WaitStateEntered") >= 4, "one Wait state between each two polls"
    # Every Lambda call is one poll: short, far below the poll interval of 1 s.
    scheduled: dict[int, float] = {}
    spans = []
    for event in events:
        if event["type"] == "LambdaFunctionScheduled":
            scheduled[event["id"]] = event["timestamp"].timestamp()
        elif event["type"] == "LambdaFunctionSucceeded" and event["previousEventId"] - 1 in scheduled:
            spans.append(event["timestamp"].timestamp() - scheduled[event["previousEventId"] - 1])
    assert spans and max(spans) < 1.0
    waits = [e for e in client.events(arn) if e.node_id == "deploy" and e.new_state == "waiting"]
    assert len(waits) >= 4 and all("updating" in (e.reason or "") for e in waits)


def test_a_failing_health_probe_restores_the_previous_config_and_the_log_shows_the_rollback(
    client: SegflowClient, embedded: EmbeddedAws, model: str
) -> None:
    deploy(client, model, 1, "production")
    answer_probes({"error": "model failed to load"})

    arn, description = deploy(
        client, model, 2, "production", strategy="canary", canary={"size_percent": 20}, health_probe=PROBE
    )

    assert description["status"] == "FAILED"
    record = client.node_records(arn)["deploy"]
    assert record.error_type == "HealthCheckFailed"
    assert "model failed to load" in record.error_message
    assert config_of(model, 1, "production") in record.error_message
    described = embedded.client("sagemaker").describe_endpoint(EndpointName=endpoint_of(model, "production"))
    assert (described["EndpointStatus"], described["EndpointConfigName"]) == (
        "InService",
        config_of(model, 1, "production"),
    )
    newest = client.deployments(model)[0]
    assert newest.status == "rolled_back"
    assert [t.status for t in newest.transitions] == [
        "started",
        "updating",
        "health_check",
        "health_check_failed",
        "rolling_back",
        "rolled_back",
    ]
    assert "model failed to load" in (newest.failure_reason or "")
    assert "after" not in client.node_records(arn), "nothing runs after a failed deployment"
    # Watchers saw each status change: the node's events carry the deployment's transitions.
    events = [e for e in client.events(arn) if e.node_id == "deploy"]
    reasons = " ".join(e.reason or "" for e in events)
    assert "updating" in reasons and "rolling_back" in reasons
    assert events[-1].new_state == "failed" and "HealthCheckFailed" in (events[-1].error or "")


def test_a_rollback_by_sagemaker_alarms_is_reported_as_such(
    client: SegflowClient, embedded: EmbeddedAws, model: str
) -> None:
    deploy(client, model, 1, "staging")
    cloudwatch = embedded.client("cloudwatch")
    alarm = f"{model}-latency"
    cloudwatch.put_metric_alarm(
        AlarmName=alarm,
        MetricName="ModelLatency",
        Namespace="AWS/SageMaker",
        Statistic="Average",
        Period=60,
        EvaluationPeriods=1,
        Threshold=500,
        ComparisonOperator="GreaterThanThreshold",
    )
    cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="p99 over budget")

    arn, description = deploy(client, model, 2, "staging", strategy="blue_green", rollback_alarms=[alarm])

    assert description["status"] == "FAILED"
    record = client.node_records(arn)["deploy"]
    assert record.error_type == "DeploymentRolledBack"
    assert alarm in record.error_message
    newest = client.deployments(model)[0]
    assert newest.status == "rolled_back_by_alarm"
    described = embedded.client("sagemaker").describe_endpoint(EndpointName=endpoint_of(model, "staging"))
    assert described["EndpointConfigName"] == config_of(model, 1, "staging")


def test_a_deployment_past_its_maximum_duration_fails_the_node(
    client: SegflowClient, model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(POLLS_ENV, "1000")
    arn, description = deploy(client, model, 1, "dev", max_duration_seconds=2)

    assert description["status"] == "FAILED"
    record = client.node_records(arn)["deploy"]
    assert record.error_type == "DeploymentTimedOut"
    assert "max_duration_seconds 2" in record.error_message
    assert client.deployments(model)[0].status == "timed_out"


def test_a_missing_artifact_fails_before_anything_is_created(
    client: SegflowClient, embedded: EmbeddedAws
) -> None:
    model_id = f"fraud-{uuid.uuid4().hex[:8]}"
    sagemaker = embedded.client("sagemaker")
    models_before = len(sagemaker.list_models(MaxResults=100)["Models"])
    # Your artifact bucket, named in -c data_buckets=… so the node can tell a missing artifact (404) from
    # one it may not read (403, which it leaves to SageMaker's own role).
    artifacts = f"model-artifacts-{uuid.uuid4().hex[:8]}"
    embedded.client("s3").create_bucket(Bucket=artifacts)
    embedded.stack.grant_user_resources(UserResources(buckets=(artifacts,)))
    source = {"model_data_url": f"s3://{artifacts}/absent/{model_id}.tar.gz", "image_uri": "img:1"}
    node = deploy_model("deploy", model_id, 3, "dev", source=source)

    arn, description = run_to_end(client, workflow("missing-artifact", [node], []))

    assert description["status"] == "FAILED"
    record = client.node_records(arn)["deploy"]
    assert record.error_type == "ArtifactNotFound"
    assert f"absent/{model_id}.tar.gz" in record.error_message
    assert len(sagemaker.list_models(MaxResults=100)["Models"]) == models_before
    assert client.deployments(model_id) == []


@pytest.mark.parametrize(
    ("change", "field", "problem"),
    [
        ({"environment": "qa"}, "config.environment", "'dev', 'staging' or 'production'"),
        ({"strategy": "canary", "canary": {"size_percent": 60}}, "config.canary.size_percent", "50"),
        ({"source": None}, "config.source", "required"),
    ],
)
def test_bad_config_fails_validation_with_the_field_named_before_anything_is_created(
    client: SegflowClient, embedded: EmbeddedAws, change: dict[str, Any], field: str, problem: str
) -> None:
    node = deploy_model("ship", "churn", 2, "staging", source=registry_source("churn", 2))
    for key, value in change.items():
        if value is None:
            node["config"].pop(key)
        else:
            node["config"][key] = value
    sagemaker = embedded.client("sagemaker")
    before = len(sagemaker.list_endpoint_configs(MaxResults=100)["EndpointConfigs"])

    with pytest.raises(WorkflowValidationError) as raised:
        client.start(workflow("bad-deploy", [node], []))

    message = str(raised.value)
    assert "'ship'" in message and field in message and problem in message, message
    assert len(sagemaker.list_endpoint_configs(MaxResults=100)["EndpointConfigs"]) == before
