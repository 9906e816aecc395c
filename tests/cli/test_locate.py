"""Finding a deployment: the stack's outputs on AWS (CloudFormation stubbed), stage and endpoint selection."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from segflow import declaration

from segflow_cli import locate
from segflow_cli.locate import EndpointSession, LocateError, locate_stack

STATE_MACHINE_ARN = "arn:aws:states:eu-west-1:111122223333:stateMachine:segflow-prod-WorkflowStateMachine"
OUTPUTS = [
    {"OutputKey": declaration.OUTPUT_STATE_MACHINE_ARN, "OutputValue": STATE_MACHINE_ARN},
    {"OutputKey": declaration.OUTPUT_BUCKET_NAME, "OutputValue": "segflow-prod-data"},
    {"OutputKey": declaration.OUTPUT_EXECUTIONS_TABLE_NAME, "OutputValue": "segflow-prod-executions"},
]


class StubbedSession:
    """A boto3 session whose CloudFormation client answers from a Stubber."""

    def __init__(self) -> None:
        self.session = boto3.session.Session(
            aws_access_key_id="ak", aws_secret_access_key="sk", region_name="eu-west-1"
        )
        self.cloudformation = self.session.client("cloudformation")
        self.stubber = Stubber(self.cloudformation)
        self.region_name = "eu-west-1"

    def client(self, service: str, **_: Any) -> Any:
        assert service == "cloudformation"
        return self.cloudformation


def stack(outputs: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "Stacks": [
            {
                "StackName": "segflow-prod",
                "CreationTime": "2026-01-01T00:00:00Z",
                "StackStatus": "CREATE_COMPLETE",
                "Outputs": outputs,
            }
        ]
    }


def test_resources_come_from_the_stack_outputs() -> None:
    session = StubbedSession()
    session.stubber.add_response("describe_stacks", stack(OUTPUTS), {"StackName": "segflow-prod"})
    with session.stubber:
        deployment = locate_stack("prod", session)
    assert deployment.session is session
    assert deployment.endpoint is None
    assert deployment.resources.state_machine_arn == STATE_MACHINE_ARN
    assert deployment.resources.bucket == "segflow-prod-data"
    assert deployment.resources.executions_table == "segflow-prod-executions"


def test_a_missing_stack_says_what_to_do() -> None:
    session = StubbedSession()
    session.stubber.add_client_error(
        "describe_stacks", "ValidationError", "Stack with id segflow-prod does not exist"
    )
    with session.stubber, pytest.raises(LocateError) as error:
        locate_stack("prod", session)
    message = str(error.value)
    assert "cannot read stack segflow-prod in eu-west-1" in message
    assert "does not exist" in message
    assert "--endpoint" in message


def test_a_stack_without_segflow_outputs_is_refused() -> None:
    session = StubbedSession()
    session.stubber.add_response("describe_stacks", stack(OUTPUTS[:1]), {"StackName": "segflow-prod"})
    with session.stubber, pytest.raises(LocateError, match="has no output"):
        locate_stack("prod", session)


def test_stage_comes_from_the_flag_then_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []
    monkeypatch.setattr(locate, "locate_stack", lambda stage: asked.append(stage))
    monkeypatch.delenv("SEGFLOW_ENDPOINT", raising=False)
    monkeypatch.delenv("SEGFLOW_STAGE", raising=False)
    locate.locate()
    monkeypatch.setenv("SEGFLOW_STAGE", "staging")
    locate.locate()
    locate.locate(stage="prod")
    assert asked == ["dev", "staging", "prod"]


def test_an_endpoint_must_be_a_url() -> None:
    with pytest.raises(LocateError, match="must be an http"):
        locate.locate(endpoint="127.0.0.1:4566")


def test_endpoint_sessions_point_every_client_at_the_endpoint() -> None:
    base = boto3.session.Session(aws_access_key_id="ak", aws_secret_access_key="sk", region_name="us-east-1")
    session = EndpointSession("http://127.0.0.1:4566", base)
    assert session.client("stepfunctions").meta.endpoint_url == "http://127.0.0.1:4566"
    s3 = session.client("s3")
    assert s3.meta.endpoint_url == "http://127.0.0.1:4566"
    assert s3.meta.config.s3["addressing_style"] == "path"


def test_the_management_api_and_workflows_table_come_from_the_outputs_when_present() -> None:
    versions_outputs = [
        *OUTPUTS,
        {"OutputKey": declaration.OUTPUT_WORKFLOWS_TABLE_NAME, "OutputValue": "segflow-prod-workflows"},
        {
            "OutputKey": declaration.OUTPUT_MANAGEMENT_API_URL,
            "OutputValue": "https://abc.execute-api.eu-west-1.amazonaws.com",
        },
    ]
    for outputs, expected in (
        (OUTPUTS, (None, None)),
        (versions_outputs, ("segflow-prod-workflows", "https://abc.execute-api.eu-west-1.amazonaws.com")),
    ):
        session = StubbedSession()
        session.stubber.add_response("describe_stacks", stack(outputs), {"StackName": "segflow-prod"})
        with session.stubber:
            found = locate_stack("prod", session).resources
        assert (found.workflows_table, found.management_api_url) == expected
