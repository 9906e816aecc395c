"""Tenant ids are matched whole wherever they are parsed: ``acme`` followed by a newline is no tenant id (a
``^…$`` pattern with ``re.match`` accepted it), as a JWT claim, in the StartExecution input, from the local
gateways and on the CLI."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from segflow.api import jwt_tokens
from segflow.api.identity import (
    API_AUTH_ENV,
    TENANT_CLAIM_ENV,
    Forbidden,
    caller_from_request_context,
    caller_from_websocket_context,
)
from segflow.api.jwt_tokens import InvalidToken, JwtVerifier
from segflow.declaration import MANAGEMENT_HTTP_API
from segflow.handlers import websocket_authorizer

from segflow_cli.client import SegflowClient
from segflow_cli.common import CliError
from segflow_cli.target import check_tenant
from segflow_local.embedded import EmbeddedAws
from segflow_local.http_api import HttpRequest, LocalHttpApi, local_authorizer
from tests.support.http_server import LocalHttpServer, start_http_server
from tests.support.stores import stores_of
from tests.support.waiting import wait_for
from tests.support.workflows import transform, workflow
from tests.unit.api.test_jwt_tokens import AUDIENCES, CLAIM, FakeContext, Issuer, connect_event, new_key

NEWLINE_TENANT = "acme\n"


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    server: LocalHttpServer = start_http_server()
    issuer = Issuer(server, f"{server.url}/pool", [])
    issuer.publish(new_key("k1"))
    yield issuer
    server.server.shutdown()


# --- as a JWT claim ----------------------------------------------------------------------------------------


def test_the_management_api_refuses_a_tenant_claim_with_a_trailing_newline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(API_AUTH_ENV, "jwt")
    monkeypatch.setenv(TENANT_CLAIM_ENV, "custom:tenant_id")
    claims = {"sub": "u-1", "custom:tenant_id": NEWLINE_TENANT}

    with pytest.raises(Forbidden, match="custom:tenant_id"):
        caller_from_request_context({"authorizer": {"jwt": {"claims": claims, "scopes": None}}})


def test_the_websocket_authorizer_denies_a_signed_token_whose_tenant_has_a_trailing_newline(
    issuer: Issuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(jwt_tokens.JWT_ISSUER_ENV, issuer.url)
    monkeypatch.setenv(jwt_tokens.JWT_AUDIENCE_ENV, ",".join(AUDIENCES))
    monkeypatch.setenv(jwt_tokens.TENANT_CLAIM_ENV, CLAIM)
    monkeypatch.setattr(websocket_authorizer, "_verifier", None)
    token = issuer.token(**{CLAIM: NEWLINE_TENANT})

    with pytest.raises(InvalidToken, match=CLAIM):
        JwtVerifier(issuer.url, AUDIENCES, CLAIM).verify(token)
    answer = websocket_authorizer.handler(connect_event(token), FakeContext())
    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert "context" not in answer
    # the same token with the plain tenant is allowed: only the newline is refused
    allowed = websocket_authorizer.handler(connect_event(issuer.token()), FakeContext())
    assert allowed["context"]["tenant_id"] == "acme"


def test_the_websocket_connect_refuses_an_authorizer_tenant_with_a_trailing_newline() -> None:
    with pytest.raises(Forbidden):
        caller_from_websocket_context({"authorizer": {"tenant_id": NEWLINE_TENANT, "principal": "ada"}})


# --- the local gateway and the CLI -------------------------------------------------------------------------


@pytest.mark.e2e
def test_the_local_gateway_refuses_a_tenant_header_with_a_trailing_newline(embedded: EmbeddedAws) -> None:
    assert local_authorizer({"x-segflow-tenant": NEWLINE_TENANT}) is None
    gateway = LocalHttpApi(MANAGEMENT_HTTP_API, embedded.runtime.stage, embedded.runtime.invoke)

    def workflows_of(tenant: str) -> int:
        request = HttpRequest("GET", "/workflows", "", {"x-segflow-tenant": tenant}, b"")
        return gateway.handle(request).status

    assert workflows_of(NEWLINE_TENANT) == 403
    assert workflows_of("acme") == 200


def test_the_cli_refuses_a_tenant_option_with_a_trailing_newline() -> None:
    with pytest.raises(CliError, match="--tenant"):
        check_tenant(NEWLINE_TENANT)
    assert check_tenant("acme") == "acme"


# --- in the StartExecution input ---------------------------------------------------------------------------


@pytest.mark.e2e
def test_initialize_state_bag_refuses_a_start_input_tenant_with_a_trailing_newline(
    client: SegflowClient,
) -> None:
    # Given a workflow uploaded under acme's submissions, and a start whose input names "acme\n"
    document = workflow("w", [transform("a", 1)])
    key = client.executions.launcher.upload_submission("acme", "workflows", document)
    request = {"tenant_id": NEWLINE_TENANT, "workflow": {"s3_key": key}}
    sfn = stores_of(client).sfn

    # When the state machine is started with it
    arn = sfn.start_execution(
        stateMachineArn=client.resources.state_machine_arn,
        name=f"acme.newline-{uuid.uuid4().hex[:12]}",
        input=json.dumps(request),
    )["executionArn"]
    description = wait_for(
        lambda: (d := sfn.describe_execution(executionArn=arn))["status"] != "RUNNING" and d,
        "the execution ended",
    )

    # Then InitializeStateBag fails it, naming tenant_id, and nothing ran for acme
    assert description["status"] == "FAILED"
    assert "tenant_id" in description["cause"], description["cause"][:300]
    acme = SegflowClient(client.session, client.resources, "acme")
    assert acme.execution_record(arn) is None
