"""API keys resolve only under the caller's tenant (IAM, ``segflow/${aws:PrincipalTag/tenant}/*``) and go only
to the endpoint a key names.

Tenant B names tenant A's secret (or SSM parameter) in an ``llm_chat`` with a ``base_url`` of B's choosing:
IAM refuses the read, and B's listener receives nothing.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from segflow_cli.client import SegflowClient
from segflow_local.embedded import EmbeddedAws
from tests.conftest import run_to_end
from tests.support.http_server import LocalHttpServer
from tests.support.workflows import llm_chat, workflow

pytestmark = pytest.mark.e2e

TENANT_A = f"keys-a-{uuid.uuid4().hex[:6]}"
TENANT_B = f"keys-b-{uuid.uuid4().hex[:6]}"
KEY_OF_A = "sk-tenant-a-only"
COMPLETION = {"choices": [{"message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}]}


def ask(embedded: EmbeddedAws, client: SegflowClient, tenant: str, base_url: str, ref: dict[str, str]) -> Any:
    node = llm_chat("ask", "m", provider="openai", base_url=base_url, api_key_ref=ref, prompt="hi")
    tenant_client = SegflowClient(embedded.session, client.resources, tenant_id=tenant)
    arn, description = run_to_end(tenant_client, workflow("ask", [node], []))
    return tenant_client, arn, description


@pytest.fixture()
def secret_of_a(embedded: EmbeddedAws, fresh_http_server: LocalHttpServer) -> str:
    """A's key, bound to A's endpoint."""
    name = f"segflow/{TENANT_A}/openai-{uuid.uuid4().hex[:6]}"
    value = {"api_key": KEY_OF_A, "endpoint": f"{fresh_http_server.url}/a"}
    embedded.client("secretsmanager").create_secret(Name=name, SecretString=json.dumps(value))
    return name


def test_another_tenants_secret_is_refused_by_iam_and_never_sent(
    embedded: EmbeddedAws,
    client: SegflowClient,
    secret_of_a: str,
    fresh_http_server: LocalHttpServer,
) -> None:
    fresh_http_server.route("POST", "/b/chat/completions", body=COMPLETION)
    b, arn, description = ask(
        embedded, client, TENANT_B, f"{fresh_http_server.url}/b", {"secret": secret_of_a, "key": "api_key"}
    )
    assert description["status"] == "FAILED"
    record = b.node_records(arn)["ask"]
    assert record.error_type == "SecretNotFound"
    assert "AccessDeniedException" in record.error_message
    session_of_b = f"assumed-role/segflow-test-tenantnoderole/tenant-{TENANT_B}"
    assert f"{session_of_b} is not authorized" in record.error_message
    assert fresh_http_server.requests_to("/b/chat/completions") == []


def test_another_tenants_parameter_is_refused_by_iam_and_never_sent(
    embedded: EmbeddedAws, client: SegflowClient, fresh_http_server: LocalHttpServer
) -> None:
    name = f"/segflow/{TENANT_A}/openai-{uuid.uuid4().hex[:6]}"
    embedded.client("ssm").put_parameter(Name=name, Value=KEY_OF_A, Type="SecureString")
    fresh_http_server.route("POST", "/chat/completions", body=COMPLETION)
    b, arn, description = ask(embedded, client, TENANT_B, fresh_http_server.url, {"parameter": name})
    assert description["status"] == "FAILED"
    record = b.node_records(arn)["ask"]
    assert record.error_type == "SecretNotFound"
    assert "AccessDeniedException" in record.error_message and "ssm:GetParameter" in record.error_message
    assert fresh_http_server.requests_to("/chat/completions") == []


def test_a_key_goes_only_to_the_endpoint_it_names(
    embedded: EmbeddedAws,
    client: SegflowClient,
    secret_of_a: str,
    fresh_http_server: LocalHttpServer,
) -> None:
    fresh_http_server.route("POST", "/a/chat/completions", body=COMPLETION)
    fresh_http_server.route("POST", "/elsewhere/chat/completions", body=COMPLETION)
    ref = {"secret": secret_of_a, "key": "api_key"}

    a, arn, description = ask(embedded, client, TENANT_A, f"{fresh_http_server.url}/elsewhere", ref)
    assert description["status"] == "FAILED"
    record = a.node_records(arn)["ask"]
    assert record.error_type == "SecretNotForEndpoint"
    assert fresh_http_server.requests_to("/elsewhere/chat/completions") == []

    _, _, description = ask(embedded, client, TENANT_A, f"{fresh_http_server.url}/a", ref)
    assert description["status"] == "SUCCEEDED", description.get("cause")
    [request] = fresh_http_server.requests_to("/a/chat/completions")
    assert request.headers["Authorization"] == f"Bearer {KEY_OF_A}"
