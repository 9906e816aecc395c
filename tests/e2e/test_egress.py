"""Outbound calls on the embedded AWS, through real node types: the egress policy (the metadata address, the
stack's default on loopback, the Lambda runtime API, the deny and allow lists as stack context), redirects
(a POST answered 302 fails as a 302, no GET sent; same-origin opt-in) and llm_chat's key on a redirect.

Only loopback servers are ever contacted: refused addresses are literals (or names in /etc/hosts), refused
before connecting."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from segflow.declaration import EgressLists

from segflow_cli.client import SegflowClient
from segflow_local.embedded import EmbeddedAws
from tests.conftest import run_to_end
from tests.support.e2e import unique_path
from tests.support.http_server import LocalHttpServer
from tests.support.workflows import api_call, data_query, llm_chat, notification, workflow

pytestmark = pytest.mark.e2e

SetEgress = Callable[[EgressLists], None]
METADATA = "http://169.254.169.254/latest/meta-data/iam/security-credentials/"
RETRY_EVERYTHING = {"max_attempts": 3, "backoff_seconds": 0.05, "retry_on": ["EgressDenied", "HttpError"]}


@pytest.fixture()
def stack_egress(embedded: EmbeddedAws) -> Iterator[SetEgress]:
    """Deploy the stack's egress lists (``-c egress_allow=… -c egress_deny=…``) for this test only."""
    local = embedded.stack.egress

    def deploy(lists: EgressLists) -> None:
        embedded.stack.egress = lists

    yield deploy
    embedded.stack.egress = local


def port_of(server: LocalHttpServer) -> int:
    return int(server.server.server_address[1])


def failure(client: SegflowClient, node: dict[str, Any]) -> tuple[str, str, int]:
    arn, description = run_to_end(client, workflow(f"egress-{uuid.uuid4().hex[:6]}", [node]))
    assert description["status"] == "FAILED", "the call was not refused"
    record = client.node_records(arn)[node["node_id"]]
    return record.error_type or "", record.error_message or "", record.attempt


@pytest.mark.parametrize(
    "node",
    [
        api_call("call", METADATA, method="GET", retry=RETRY_EVERYTHING),
        data_query("call", "http", url=METADATA, retry=RETRY_EVERYTHING),
        notification("call", "webhook", "hi", url=METADATA, retry=RETRY_EVERYTHING),
        llm_chat("call", "m", provider="openai", base_url="http://169.254.169.254/v1", prompt="hi"),
    ],
    ids=["api_call", "data_query", "webhook", "llm_chat"],
)
def test_no_node_type_reaches_the_metadata_address_and_the_refusal_is_never_retried(
    client: SegflowClient, node: dict[str, Any]
) -> None:
    error_type, message, attempt = failure(client, node)

    assert (error_type, attempt) == ("EgressDenied", 1)
    assert "169.254.169.254 is link-local (instance metadata) — egress policy" in message


def test_the_stacks_default_refuses_loopback_and_its_allow_list_opens_it(
    client: SegflowClient, fresh_http_server: LocalHttpServer, stack_egress: SetEgress
) -> None:
    path = unique_path("hook")
    fresh_http_server.route("POST", path, status=200, body={"ok": True})
    hook = notification(
        "call", "webhook", "deployed", url=f"http://localhost:{port_of(fresh_http_server)}{path}"
    )

    stack_egress(EgressLists())  # no context: the stack's default
    error_type, message, _ = failure(client, hook)
    assert error_type == "EgressDenied" and "is loopback" in message and "localhost resolves to" in message
    assert fresh_http_server.requests == []

    stack_egress(EgressLists(allow=("localhost",)))  # -c egress_allow=localhost
    _, description = run_to_end(client, workflow("egress-allowed", [hook]))
    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert [r.body["text"] for r in fresh_http_server.requests_to(path)] == ["deployed"]


def test_the_lambda_runtime_api_is_refused_though_the_local_runtime_allows_loopback(
    client: SegflowClient, embedded: EmbeddedAws, fresh_http_server: LocalHttpServer
) -> None:
    runtime_api = f"127.0.0.1:{port_of(fresh_http_server)}"
    fresh_http_server.route("GET", "/2018-06-01/runtime/invocation/next", status=200)
    embedded.stack.environment_overrides["AWS_LAMBDA_RUNTIME_API"] = runtime_api  # where Lambda says it is
    try:
        error_type, message, _ = failure(
            client, data_query("call", "http", url=f"http://{runtime_api}/2018-06-01/runtime/invocation/next")
        )
    finally:
        del embedded.stack.environment_overrides["AWS_LAMBDA_RUNTIME_API"]

    assert error_type == "EgressDenied" and f"{runtime_api} is the Lambda runtime API" in message
    assert fresh_http_server.requests == []


def test_a_deny_list_cidr_refuses_what_it_covers(
    client: SegflowClient, embedded: EmbeddedAws, fresh_http_server: LocalHttpServer, stack_egress: SetEgress
) -> None:
    fresh_http_server.route("POST", "/orders", status=201)
    stack_egress(embedded.stack.egress.add(EgressLists(deny=("127.0.0.1/32",))))  # -c egress_deny=…

    error_type, message, _ = failure(client, api_call("call", f"{fresh_http_server.url}/orders"))

    assert error_type == "EgressDenied"
    assert "127.0.0.1 matches 127.0.0.1/32 of the deny list (egress_deny) — egress policy" in message
    assert fresh_http_server.requests == []


def test_a_post_answered_302_fails_as_a_302_and_no_get_is_sent(
    client: SegflowClient, fresh_http_server: LocalHttpServer
) -> None:
    fresh_http_server.route("POST", "/charge", status=302, headers={"Location": "/receipt"})
    fresh_http_server.route("GET", "/receipt", status=200, body={"paid": True})

    error_type, message, _ = failure(
        client, api_call("call", f"{fresh_http_server.url}/charge", body={"n": 1})
    )

    assert error_type == "HttpError" and "answered 302 redirect to" in message
    assert [(r.method, r.path) for r in fresh_http_server.requests] == [("POST", "/charge")]


def test_a_node_that_opts_in_follows_a_same_origin_redirect_only(
    client: SegflowClient, fresh_http_server: LocalHttpServer, http_server: LocalHttpServer
) -> None:
    fresh_http_server.route("POST", "/v1/orders", status=308, headers={"Location": "/v2/orders"})
    fresh_http_server.route("POST", "/v2/orders", status=201, body={"order": 7})
    fresh_http_server.route("POST", "/away", status=307, headers={"Location": f"{http_server.url}/away"})
    moved = api_call(
        "moved", f"{fresh_http_server.url}/v1/orders", body={"n": 1}, follow_redirects="same_origin"
    )
    away = api_call("away", f"{fresh_http_server.url}/away", follow_redirects="same_origin")

    arn, description = run_to_end(client, workflow("egress-redirects", [moved]))
    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert client.node_output(client.node_records(arn)["moved"])["body"] == {"order": 7}
    assert fresh_http_server.requests_to("/v2/orders")[0].body == {"n": 1}

    error_type, message, _ = failure(client, away)
    assert error_type == "HttpError" and "another origin, never followed" in message
    assert http_server.requests_to("/away") == []


def test_llm_chat_never_sends_its_key_to_the_host_a_redirect_names(
    client: SegflowClient,
    embedded: EmbeddedAws,
    fresh_http_server: LocalHttpServer,
    http_server: LocalHttpServer,
) -> None:
    secret = f"segflow/default/llm-{uuid.uuid4().hex[:6]}"
    embedded.client("secretsmanager").create_secret(
        Name=secret, SecretString=json.dumps({"k": "sk-moved-42"})
    )
    elsewhere = f"http://localhost:{port_of(http_server)}/v1/chat/completions"  # another host
    fresh_http_server.route("POST", "/v1/chat/completions", status=302, headers={"Location": elsewhere})
    node = llm_chat(
        "ask",
        "m",
        provider="openai",
        base_url=f"{fresh_http_server.url}/v1",
        api_key_ref={"secret": secret, "key": "k"},
        prompt="hi",
    )

    error_type, message, _ = failure(client, node)

    assert error_type == "ModelError" and "answered 302" in message and "not followed" in message
    assert fresh_http_server.requests[0].headers["Authorization"] == "Bearer sk-moved-42"
    assert http_server.requests_to("/v1/chat/completions") == []
