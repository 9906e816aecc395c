"""``llm_chat``: one chat with a model (Amazon Bedrock's Converse API, or an OpenAI-compatible endpoint).

With ``output_schema`` the answer must be JSON meeting it (checked with pydantic); a mismatch is sent back
once with the validation error. Every answer is kept (``NodeServices.model_calls``) before the node's
checkpoint, so a segment retried after a crash reuses it: a completed call is never sent again. Token usage
and latency are in the output and are emitted as CloudWatch metrics (embedded metric format, no API call).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from pydantic import field_validator

from segflow.domain.errors import NodeFailure
from segflow.domain.limits import (
    AWS_SDK_READ_TIMEOUT_SECONDS,
    HTTP_DEFAULT_TIMEOUT_SECONDS,
    LLM_CHAT_MAX_CONCURRENCY,
)
from segflow.llm.answer_schema import SchemaError, check_schema, parse_answer
from segflow.llm.models import ChatAnswer, ChatMessage, LlmChatConfig
from segflow.nodes.base import NodeContext, NodeResult, NodeType, configured_seconds

METRICS_NAMESPACE = "segflow"


class AnswerSchemaMismatch(NodeFailure):
    """The model's answer does not match the node's answer schema."""

    error_type = "AnswerSchemaMismatch"


class LlmChatNodeConfig(LlmChatConfig):
    @field_validator("output_schema")
    @classmethod
    def _supported(cls, schema: dict[str, Any] | None) -> dict[str, Any] | None:
        if schema is not None:
            try:
                check_schema(schema)
            except SchemaError as error:
                raise ValueError(str(error)) from None
        return schema


def _emit_metrics(config: LlmChatConfig, answers: list[ChatAnswer]) -> None:
    for name, unit, value in (
        ("LlmInputTokens", MetricUnit.Count, sum(a.input_tokens for a in answers)),
        ("LlmOutputTokens", MetricUnit.Count, sum(a.output_tokens for a in answers)),
        ("LlmLatency", MetricUnit.Milliseconds, sum(a.latency_ms for a in answers)),
    ):
        with single_metric(name=name, unit=unit, value=value, namespace=METRICS_NAMESPACE) as metric:
            metric.add_dimension(name="model", value=config.model[:250])


def run_llm_chat(context: NodeContext) -> NodeResult:
    config: LlmChatConfig = context.config
    ledger = context.services.model_calls
    models = context.services.chat_models
    tenant, execution = context.execution.tenant_id, context.execution.execution_id
    call_key = context.node_id
    kept = ledger.answers(tenant, execution, call_key)
    messages = config.conversation()
    answers: list[ChatAnswer] = []

    def call(number: int, conversation: list[ChatMessage]) -> ChatAnswer:
        if len(kept) >= number:  # answered before a crash: not sent again
            return kept[number - 1]
        answer = models.chat(config, conversation, context.timeout_seconds)
        ledger.keep(tenant, execution, call_key, number, answer)
        return answer

    answers.append(call(1, messages))
    value: Any = None
    if config.output_schema is not None:
        value, problem = parse_answer(answers[0].text, config.output_schema)
        if problem is not None:
            retry = [
                *messages,
                ChatMessage(role="assistant", content=answers[0].text or "(empty)"),
                ChatMessage(
                    role="user",
                    content=f"{problem}. Answer again with only the JSON, meeting this schema: "
                    f"{config.output_schema}",
                ),
            ]
            answers.append(call(2, retry))
            value, problem = parse_answer(answers[1].text, config.output_schema)
            if problem is not None:
                raise AnswerSchemaMismatch(f"after one retry, {problem}")
    _emit_metrics(config, answers)
    last = answers[-1]
    output = {
        "text": last.text,
        "json": value,
        "provider": config.provider,
        "model": config.model,
        "stop_reason": last.stop_reason,
        "usage": {
            "input_tokens": sum(a.input_tokens for a in answers),
            "output_tokens": sum(a.output_tokens for a in answers),
            "total_tokens": sum(a.input_tokens + a.output_tokens for a in answers),
        },
        "latency_ms": sum(a.latency_ms for a in answers),
        "calls": len(answers),
    }
    return NodeResult(output=output)


NODE_TYPE = NodeType(
    type="llm_chat",
    config_model=LlmChatNodeConfig,
    description="Chats with a model (Bedrock Converse, or an OpenAI-compatible endpoint); JSON answers too.",
    executor=run_llm_chat,
    blocks_for=lambda raw: configured_seconds(
        raw, HTTP_DEFAULT_TIMEOUT_SECONDS if raw.get("provider") == "openai" else AWS_SDK_READ_TIMEOUT_SECONDS
    ),
    max_concurrency=LLM_CHAT_MAX_CONCURRENCY,
)
