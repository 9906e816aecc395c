"""llm_chat against Bedrock's Converse API (the embedded emulation) and an OpenAI-compatible endpoint (a local
HTTP server), with JSON answers checked by schema and API keys read from Secrets Manager and SSM."""

from __future__ import annotations

import json
import uuid

import pytest
from segflow.dsl.validation import WorkflowValidationError

from segflow_cli.client import SegflowClient
from segflow_local import bedrock_emulation
from segflow_local.embedded import EmbeddedAws
from tests.conftest import run_to_end
from tests.support.http_server import LocalHttpServer
from tests.support.workflows import edge, judgment, llm_chat, transform, workflow

pytestmark = pytest.mark.e2e

TRIAGE_SCHEMA = {
    "type": "object",
    "properties": {"sentiment": {"enum": ["positive", "negative"]}, "urgent": {"type": "boolean"}},
    "required": ["sentiment", "urgent"],
}
MODEL = "anthropic.claude-3-haiku-20240307-v1:0"


def node_output(client: SegflowClient, arn: str, node_id: str):
    record = client.node_records(arn)[node_id]
    return client.node_output(record)


def triage_workflow(name: str, **config) -> dict:
    return workflow(
        name,
        [
            llm_chat(
                "triage",
                MODEL,
                system="You triage support tickets. Answer with JSON only.",
                prompt="Ticket: {{ input.ticket }}",
                temperature=0.2,
                max_tokens=200,
                stop_sequences=["</json>"],
                output_schema=TRIAGE_SCHEMA,
                **config,
            ),
            judgment("is_urgent", "{{ nodes.triage.json.urgent }}"),
            transform("page", {"page": "{{ nodes.triage.json.sentiment }}"}),
            transform("queue", "later"),
        ],
        [edge("triage", "is_urgent"), edge("is_urgent", "page", "true"), edge("is_urgent", "queue", "false")],
    )


def test_a_json_answer_from_bedrock_routes_the_judgment(client: SegflowClient) -> None:
    ticket = f"My invoice is wrong and I am furious ({uuid.uuid4().hex[:6]})"
    bedrock_emulation.queue_answers('{"sentiment": "negative", "urgent": true}')

    arn, description = run_to_end(client, triage_workflow("triage-bedrock"), {"ticket": ticket})

    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert client.output(arn)["output"] == {"page": {"page": "negative"}}
    output = node_output(client, arn, "triage")
    assert output["json"] == {"sentiment": "negative", "urgent": True}
    assert (output["provider"], output["model"], output["calls"]) == ("bedrock", MODEL, 1)
    assert (
        output["usage"]["input_tokens"] > 0
        and output["usage"]["total_tokens"] > output["usage"]["input_tokens"]
    )
    [sent] = [r for r in bedrock_emulation.requests() if ticket in json.dumps(r)]
    assert sent["modelId"] == MODEL
    assert sent["system"] == [{"text": "You triage support tickets. Answer with JSON only."}]
    assert sent["messages"] == [{"role": "user", "content": [{"text": f"Ticket: {ticket}"}]}]
    assert sent["inferenceConfig"] == {"maxTokens": 200, "temperature": 0.2, "stopSequences": ["</json>"]}


def test_an_answer_that_misses_the_schema_is_sent_back_once(client: SegflowClient) -> None:
    ticket = f"Thanks, all good ({uuid.uuid4().hex[:6]})"
    bedrock_emulation.queue_answers("Sure! It is positive.", '{"sentiment": "positive", "urgent": false}')

    arn, description = run_to_end(client, triage_workflow("triage-retry"), {"ticket": ticket})

    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert client.output(arn)["output"] == {"queue": "later"}
    assert node_output(client, arn, "triage")["calls"] == 2
    second = [r for r in bedrock_emulation.requests() if ticket in json.dumps(r)][1]
    assert "the answer is not JSON" in second["messages"][-1]["content"][0]["text"]
    assert second["messages"][-2] == {"role": "assistant", "content": [{"text": "Sure! It is positive."}]}


def test_an_answer_that_misses_the_schema_twice_fails_the_node(client: SegflowClient) -> None:
    bedrock_emulation.queue_answers('{"sentiment": "meh"}', '{"sentiment": "meh", "urgent": "no"}')

    arn, description = run_to_end(client, triage_workflow("triage-fails"), {"ticket": "?"})

    assert description["status"] == "FAILED"
    record = client.node_records(arn)["triage"]
    assert record.error_type == "AnswerSchemaMismatch"
    assert (
        "after one retry, the answer does not fit the schema: sentiment: Input should be"
        in record.error_message
    )


def test_an_openai_compatible_endpoint_with_the_key_from_secrets_manager(
    client: SegflowClient, embedded: EmbeddedAws, fresh_http_server: LocalHttpServer
) -> None:
    secret = f"segflow/default/llm-{uuid.uuid4().hex[:6]}"  # the default tenant's own
    embedded.client("secretsmanager").create_secret(
        Name=secret, SecretString=json.dumps({"api_key": "sk-local-42"})
    )
    completion = {
        "choices": [{"message": {"role": "assistant", "content": "Bonjour"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 3},
    }
    fresh_http_server.route("POST", "/v1/chat/completions", body=completion)
    node = llm_chat(
        "translate",
        "local-mistral",
        provider="openai",
        base_url=f"{fresh_http_server.url}/v1",
        api_key_ref={"secret": secret, "key": "api_key"},
        prompt="Say hello in French",
        max_tokens=20,
    )

    arn, description = run_to_end(client, workflow("openai-compatible", [node], []))

    assert description["status"] == "SUCCEEDED", description.get("cause")
    output = node_output(client, arn, "translate")
    assert (output["text"], output["provider"], output["stop_reason"]) == ("Bonjour", "openai", "stop")
    assert output["usage"] == {"input_tokens": 12, "output_tokens": 3, "total_tokens": 15}
    [request] = fresh_http_server.requests_to("/v1/chat/completions")
    assert request.headers["Authorization"] == "Bearer sk-local-42"
    assert request.body == {
        "model": "local-mistral",
        "messages": [{"role": "user", "content": "Say hello in French"}],
        "max_tokens": 20,
    }
    seen = json.dumps([e.model_dump() for e in client.events(arn)]) + json.dumps(output)
    assert "sk-local-42" not in seen, "the key is never stored or published"


def test_an_ssm_parameter_holds_the_key_and_a_missing_one_fails_clearly(
    client: SegflowClient, embedded: EmbeddedAws, fresh_http_server: LocalHttpServer
) -> None:
    completion = {"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}]}
    fresh_http_server.route("POST", "/chat/completions", body=completion)
    name = f"/segflow/default/llm-{uuid.uuid4().hex[:6]}"
    embedded.client("ssm").put_parameter(Name=name, Value="sk-ssm", Type="SecureString")

    def run(parameter: str) -> tuple[str, dict]:
        node = llm_chat(
            "ask",
            "m",
            provider="openai",
            base_url=fresh_http_server.url,
            api_key_ref={"parameter": parameter},
            prompt="hi",
        )
        return run_to_end(client, workflow("openai-ssm", [node], []))

    _, good = run(name)
    assert good["status"] == "SUCCEEDED", good.get("cause")
    assert fresh_http_server.requests_to("/chat/completions")[0].headers["Authorization"] == "Bearer sk-ssm"
    arn, bad = run(f"{name}-missing")
    assert bad["status"] == "FAILED"
    record = client.node_records(arn)["ask"]
    assert record.error_type == "SecretNotFound" and "-missing" in record.error_message


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ({"provider": "openai", "base_url": "https://llm.example/v1", "api_key": "sk-live"}, "never inline"),
        ({"provider": "openai"}, "base_url: required for provider 'openai'"),
        ({"output_schema": {"type": ["string", "null"]}}, "a list of types is not supported"),
        ({"temperature": 3}, "config.temperature"),
    ],
)
def test_bad_llm_config_fails_validation_naming_the_node(
    client: SegflowClient, config: dict, problem: str
) -> None:
    node = llm_chat("ask", MODEL, prompt="hi", **config)
    with pytest.raises(WorkflowValidationError) as raised:
        client.start(workflow("bad-llm", [node], []))
    message = str(raised.value)
    assert "'ask'" in message and problem in message, message
