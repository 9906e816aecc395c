"""The chat models ``llm_chat`` calls: Amazon Bedrock's Converse API, and any OpenAI-compatible endpoint
(its API key read by reference from Secrets Manager or SSM, never from the workflow), called through the one
outbound HTTP client (:mod:`segflow.nodes.http_client`: egress policy, no redirects, so the key is sent to
the endpoint's host only)."""

from __future__ import annotations

import json
import time
import urllib.parse
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from segflow.domain.deadline import Deadline
from segflow.domain.errors import NodeFailure
from segflow.domain.limits import HTTP_DEFAULT_TIMEOUT_SECONDS, LLM_MAX_RESPONSE_BYTES
from segflow.llm.models import ChatAnswer, ChatMessage, LlmChatConfig, SecretRef
from segflow.nodes.http_client import exchange

_RETRYABLE_BEDROCK = (
    "ThrottlingException",
    "ServiceUnavailableException",
    "InternalServerException",
    "ModelNotReadyException",
    "ModelTimeoutException",
)


class ModelError(NodeFailure):
    """The model endpoint refused or failed the chat."""

    error_type = "ModelError"


class SecretNotFound(NodeFailure):
    """The secret or parameter holding the model's key does not exist."""

    error_type = "SecretNotFound"


class SecretNotForEndpoint(NodeFailure):
    """The key names the endpoint it is for, and the node asked to send it elsewhere."""

    error_type = "SecretNotForEndpoint"


def _same_endpoint(bound: str, url: str) -> bool:
    """Whether ``url`` is under ``bound``: same scheme, host and port, and a path within the bound one's."""
    want, got = urllib.parse.urlsplit(bound), urllib.parse.urlsplit(url)
    prefix = want.path.rstrip("/") + "/"
    return (want.scheme.lower(), want.hostname, want.port) == (
        got.scheme.lower(),
        got.hostname,
        got.port,
    ) and (got.path.rstrip("/") + "/").startswith(prefix)


def _failure(message: str, retryable: bool) -> ModelError:
    failure = ModelError(message)
    failure.retryable = retryable
    return failure


class ChatModels:
    def __init__(self, bedrock: Any, secretsmanager: Any, ssm: Any) -> None:
        self._bedrock = bedrock
        self._secretsmanager = secretsmanager
        self._ssm = ssm

    def chat(
        self,
        config: LlmChatConfig,
        messages: list[ChatMessage],
        timeout: float | None,
        deadline: Deadline | None = None,
    ) -> ChatAnswer:
        """One answer. It waits at most until ``deadline`` (default: the deadline of the node running in this
        thread): Bedrock's client is capped per request (:mod:`segflow.adapters.call_deadline`), the
        OpenAI-compatible request by the HTTP client."""
        if config.provider == "bedrock":
            return self._converse(config, messages)
        wait = timeout or config.timeout_seconds or HTTP_DEFAULT_TIMEOUT_SECONDS
        return self._openai(config, messages, wait, deadline)

    # --- Bedrock ----------------------------------------------------------------------------------------

    def _converse(self, config: LlmChatConfig, messages: list[ChatMessage]) -> ChatAnswer:
        inference: dict[str, Any] = {}
        if config.max_tokens is not None:
            inference["maxTokens"] = config.max_tokens
        if config.temperature is not None:
            inference["temperature"] = config.temperature
        if config.top_p is not None:
            inference["topP"] = config.top_p
        if config.stop_sequences:
            inference["stopSequences"] = config.stop_sequences
        request: dict[str, Any] = {
            "modelId": config.model,
            "messages": [{"role": m.role, "content": [{"text": m.content}]} for m in messages],
        }
        if config.system:
            request["system"] = [{"text": config.system}]
        if inference:
            request["inferenceConfig"] = inference
        started = time.monotonic()
        try:
            response = self._bedrock.converse(**request)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            message = error.response.get("Error", {}).get("Message", "")
            raise _failure(
                f"Bedrock {config.model}: {code}: {message}", code in _RETRYABLE_BEDROCK
            ) from error
        except BotoCoreError as error:
            raise _failure(f"Bedrock {config.model}: {error}", True) from error
        parts = response.get("output", {}).get("message", {}).get("content", [])
        usage = response.get("usage", {})
        return ChatAnswer(
            text="".join(part.get("text", "") for part in parts),
            stop_reason=response.get("stopReason"),
            input_tokens=usage.get("inputTokens", 0),
            output_tokens=usage.get("outputTokens", 0),
            latency_ms=response.get("metrics", {}).get("latencyMs")
            or int((time.monotonic() - started) * 1000),
        )

    # --- OpenAI-compatible --------------------------------------------------------------------------------

    def _openai(
        self, config: LlmChatConfig, messages: list[ChatMessage], timeout: float, deadline: Deadline | None
    ) -> ChatAnswer:
        body: dict[str, Any] = {"model": config.model, "messages": []}
        if config.system:
            body["messages"].append({"role": "system", "content": config.system})
        body["messages"] += [{"role": m.role, "content": m.content} for m in messages]
        for field, value in (
            ("temperature", config.temperature),
            ("max_tokens", config.max_tokens),
            ("top_p", config.top_p),
            ("stop", config.stop_sequences or None),
        ):
            if value is not None:
                body[field] = value
        headers = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": "segflow"}
        url = f"{(config.base_url or '').rstrip('/')}/chat/completions"
        if config.api_key_ref is not None:
            headers["Authorization"] = f"Bearer {self.secret(config.api_key_ref, url)}"
        started = time.monotonic()
        answered = exchange(
            "POST",
            url,
            headers=headers,
            data=json.dumps(body).encode(),
            timeout=timeout,
            shown=f"POST {url}",
            max_bytes=LLM_MAX_RESPONSE_BYTES,
            deadline=deadline,
        )
        raw = answered.body
        if not 200 <= answered.status < 300:
            detail = answered.unfollowed or raw[:500].decode("utf-8", errors="replace")
            raise _failure(
                f"{url} answered {answered.status}: {detail}",
                answered.status >= 500 or answered.status == 429,
            )
        try:
            answer = json.loads(raw)
            choice = answer["choices"][0]
            text = choice["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError) as error:
            raise _failure(f"{url}: not a chat completion: {raw[:200]!r}", False) from error
        usage = answer.get("usage") or {}
        return ChatAnswer(
            text=text,
            stop_reason=choice.get("finish_reason"),
            input_tokens=usage.get("prompt_tokens", 0),
            output_tokens=usage.get("completion_tokens", 0),
            latency_ms=int((time.monotonic() - started) * 1000),
        )

    def secret(self, ref: SecretRef, url: str) -> str:
        """The key's value, to be sent to ``url``; never logged, never stored. A JSON value that names its
        ``endpoint`` gives its key to that endpoint only."""
        where = ref.parameter or ref.secret
        try:
            if ref.parameter is not None:
                value = self._ssm.get_parameter(Name=ref.parameter, WithDecryption=True)["Parameter"]["Value"]
            else:
                value = self._secretsmanager.get_secret_value(SecretId=ref.secret)["SecretString"]
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            message = error.response.get("Error", {}).get("Message", "")
            raise SecretNotFound(f"the API key {where!r} could not be read: {code}: {message}") from error
        try:
            document = json.loads(value)
        except ValueError:
            document = None
        if isinstance(document, dict) and document.get("endpoint") is not None:
            endpoint = str(document["endpoint"])
            if not _same_endpoint(endpoint, url):
                raise SecretNotForEndpoint(
                    f"the API key {where!r} is for {endpoint}; it is not sent to {url}"
                )
        if ref.key is None:
            return str(value)
        if not isinstance(document, dict) or ref.key not in document:
            raise SecretNotFound(f"the secret {where!r} has no JSON field {ref.key!r}")
        return str(document[ref.key])
