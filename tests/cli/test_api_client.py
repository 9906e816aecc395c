"""The CLI's management API client: how each kind of stack is called and signed, and its errors."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from segflow import declaration

from segflow_cli.api_client import (
    ApiError,
    BearerToken,
    LocalIdentity,
    ManagementApi,
    SigV4Signer,
    api_for,
    api_region,
)
from segflow_cli.locate import LocatedStack, LocateError, Resources
from tests.support.http_server import LocalHttpServer, start_http_server

STATE_MACHINE_ARN = "arn:aws:states:eu-west-1:111122223333:stateMachine:segflow-prod-WorkflowStateMachine"
AWS_API_URL = "https://abc123.execute-api.eu-west-1.amazonaws.com"


@pytest.fixture()
def server() -> Iterator[LocalHttpServer]:
    server = start_http_server()
    yield server
    server.server.shutdown()


def resources(api_url: str | None) -> Resources:
    outputs = {
        declaration.OUTPUT_STATE_MACHINE_ARN: STATE_MACHINE_ARN,
        declaration.OUTPUT_BUCKET_NAME: "bucket",
        declaration.OUTPUT_EXECUTIONS_TABLE_NAME: "executions",
    }
    if api_url:
        outputs[declaration.OUTPUT_MANAGEMENT_API_URL] = api_url
    return Resources.from_outputs(outputs)


def aws_session() -> boto3.session.Session:
    return boto3.session.Session(
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        aws_session_token="token",
        region_name="us-east-1",
    )


def test_local_identity_sends_the_tenant_header(server: LocalHttpServer) -> None:
    server.route("GET", "/workflows", body={"workflows": []})
    api = ManagementApi(server.url + "/", LocalIdentity("acme", "ada"))
    assert api.workflows() == []
    [sent] = server.requests
    assert sent.headers["X-Segflow-Tenant"] == "acme"
    assert sent.headers["X-Segflow-Principal"] == "ada"
    assert "Authorization" not in sent.headers


def test_bearer_tokens_and_query_strings(server: LocalHttpServer) -> None:
    server.route("GET", "/workflows/a%20b/diff", body={"diff": {}})
    ManagementApi(server.url, BearerToken("t0ken")).diff("a b", 1)
    [sent] = server.requests
    assert sent.path == "/workflows/a%20b/diff?from=1"  # no "to": the API's default applies
    assert sent.headers["Authorization"] == "Bearer t0ken"


def test_sigv4_signs_for_execute_api(server: LocalHttpServer) -> None:
    server.route("POST", "/workflows/orders/rollback", body={"result": {}})
    ManagementApi(server.url, SigV4Signer(aws_session(), "eu-west-1")).rollback("orders", 2, "why")
    [sent] = server.requests
    authorization = sent.headers["Authorization"]
    assert authorization.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/execute-api/aws4_request" in authorization
    assert "SignedHeaders=" in authorization and "Signature=" in authorization
    assert sent.headers["X-Amz-Security-Token"] == "token"
    assert sent.body == {"to_version": 2, "reason": "why"}


def test_errors_carry_the_api_code_and_details(server: LocalHttpServer) -> None:
    details = [{"location": "edge 'a' -> 'b'", "message": "target 'b' is not a node"}]
    server.route(
        "POST", "/workflows", status=400, body={"code": "InvalidWorkflow", "message": "m", "details": details}
    )
    server.route("GET", "/workflows", status=403, body={"message": "Forbidden"})
    api = ManagementApi(server.url, LocalIdentity("default"))
    with pytest.raises(ApiError) as invalid:
        api.publish({"workflow_id": "x"})
    assert (invalid.value.status, invalid.value.code) == (400, "InvalidWorkflow")
    assert invalid.value.lines() == ["edge 'a' -> 'b': target 'b' is not a node"]
    with pytest.raises(ApiError) as forbidden:
        api.workflows()
    assert (forbidden.value.status, forbidden.value.code) == (403, "Forbidden")
    assert forbidden.value.lines()[0].startswith("Forbidden: the API did not accept this caller")


def test_an_unreachable_api_is_a_locate_error() -> None:
    from tests.cli.conftest import free_port

    api = ManagementApi(f"http://127.0.0.1:{free_port()}", LocalIdentity("default"))
    with pytest.raises(LocateError, match="cannot reach the management API"):
        api.workflows()


def test_api_for_picks_the_way_to_authenticate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEGFLOW_TOKEN", raising=False)
    monkeypatch.delenv("SEGFLOW_PRINCIPAL", raising=False)
    local = api_for(
        LocatedStack(None, resources("http://127.0.0.1:4566/_segflow/api"), "http://127.0.0.1:4566"), "acme"
    )
    assert local.auth == LocalIdentity("acme")
    assert local.base_url == "http://127.0.0.1:4566/_segflow/api"

    stack = LocatedStack(aws_session(), resources(AWS_API_URL + "/"))
    signed = api_for(stack, "ignored")
    assert isinstance(signed.auth, SigV4Signer) and signed.auth.region == "eu-west-1"
    assert signed.base_url == AWS_API_URL

    monkeypatch.setenv("SEGFLOW_TOKEN", "jwt")
    assert api_for(stack, "ignored").auth == BearerToken("jwt")

    with pytest.raises(LocateError, match="ManagementApiUrl"):
        api_for(LocatedStack(aws_session(), resources(None)), "default")


def test_api_region() -> None:
    assert api_region(AWS_API_URL, None) == "eu-west-1"
    assert api_region("https://api.example.com", "ap-south-1") == "ap-south-1"
    with pytest.raises(LocateError):
        api_region("https://api.example.com", None)
