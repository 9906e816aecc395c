"""What an ``llm_chat`` node asks, of which provider, and what it answers."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from segflow.domain.limits import LLM_MAX_STOP_SEQUENCES, LLM_MAX_TOKENS_LIMIT

Provider = Literal["bedrock", "openai"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


class ChatMessage(_Strict):
    role: Literal["user", "assistant"]
    content: str = Field(min_length=1)


class SecretRef(_Strict):
    """Where an API key is kept: a Secrets Manager secret (optionally one JSON field of it) or an SSM
    SecureString parameter. Nodes read them with their tenant's credentials, which may read only the tenant's
    own: secrets named ``segflow/<tenant>/…`` and parameters under ``/segflow/<tenant>/``. A JSON value may
    name the ``endpoint`` the key is for; it is then sent nowhere else."""

    secret: str | None = Field(default=None, description="Secrets Manager secret name or ARN")
    parameter: str | None = Field(default=None, description="SSM parameter name (SecureString)")
    key: str | None = Field(default=None, description="The field of a JSON secret that holds the key")

    @model_validator(mode="after")
    def _one(self) -> SecretRef:
        if (self.secret is None) == (self.parameter is None):
            raise ValueError("give exactly one of secret or parameter")
        return self


class LlmChatConfig(_Strict):
    provider: Provider = "bedrock"
    model: str = Field(min_length=1, description="Bedrock model id, or the endpoint's model name")
    system: str | None = None
    prompt: str | None = Field(default=None, description="One user message (templated)")
    messages: list[ChatMessage] | None = Field(default=None, min_length=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1, le=LLM_MAX_TOKENS_LIMIT)
    top_p: float | None = Field(default=None, gt=0, le=1)
    stop_sequences: list[str] = Field(default_factory=list, max_length=LLM_MAX_STOP_SEQUENCES)
    output_schema: dict[str, Any] | None = Field(
        default=None,
        description="A JSON Schema (object, properties, required, type, enum, items) the answer must meet; "
        "a mismatch is sent back once with the validation error.",
    )
    base_url: str | None = Field(default=None, description="openai: the endpoint, e.g. https://host/v1")
    api_key_ref: SecretRef | None = Field(default=None, description="openai: where the API key is kept")
    timeout_seconds: float | None = Field(default=None, gt=0, le=900)

    @model_validator(mode="before")
    @classmethod
    def _no_inline_key(cls, data: Any) -> Any:
        if isinstance(data, dict) and any(k in data for k in ("api_key", "apiKey", "key", "token")):
            raise ValueError("api_key: never inline; give api_key_ref {secret | parameter}")
        return data

    @model_validator(mode="after")
    def _shape(self) -> LlmChatConfig:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("give exactly one of prompt or messages")
        if self.provider == "openai" and not self.base_url:
            raise ValueError("base_url: required for provider 'openai'")
        if self.provider == "bedrock" and (self.base_url or self.api_key_ref):
            raise ValueError("base_url and api_key_ref are for provider 'openai'; Bedrock uses the role")
        if (
            self.base_url
            and "{{" not in self.base_url
            and not self.base_url.startswith(("http://", "https://"))
        ):
            raise ValueError("base_url: must be http or https")
        return self

    def conversation(self) -> list[ChatMessage]:
        return list(self.messages) if self.messages else [ChatMessage(role="user", content=self.prompt or "")]


class ChatAnswer(BaseModel):
    """One model call's answer, as the node stores it (and reuses after a crash)."""

    model_config = ConfigDict(extra="forbid")

    text: str
    stop_reason: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    latency_ms: int = 0
