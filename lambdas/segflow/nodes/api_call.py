"""``action`` with ``action_type: api_call``: a real HTTP request with method, headers, JSON body and timeout.

Every request carries an ``Idempotency-Key`` header (tenant, origin execution and node path: the same on every
attempt, resume and part, :mod:`segflow.domain.effect_keys`), so a receiving service can recognise a repeated
delivery. Redirects are not followed unless ``follow_redirects`` says ``same_origin``; every call passes the
egress policy (:mod:`segflow.nodes.http_client`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from segflow.domain.limits import API_CALL_MAX_CONCURRENCY, HTTP_DEFAULT_TIMEOUT_SECONDS
from segflow.nodes.base import NodeContext, NodeResult, NodeType, configured_seconds
from segflow.nodes.http_client import FollowRedirects, check_http_url, send


class ApiCallConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    url: str = Field(min_length=1)
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] = "POST"
    headers: dict[str, str] = Field(default_factory=dict)
    query: dict[str, Any] = Field(default_factory=dict)
    body: Any = None
    timeout_seconds: float | None = Field(default=None, gt=0, le=900)
    expected_status: list[int] | None = Field(
        default=None, description="Statuses that count as success; default: any 2xx."
    )
    follow_redirects: FollowRedirects = Field(
        default="never",
        description="never: a redirect is the answer (its 3xx status); same_origin: follow redirects to the "
        "same scheme, host and port only (307/308 keep the method and body, 303 becomes a GET, 301/302 are "
        "followed for GET and HEAD only).",
    )

    @field_validator("url")
    @classmethod
    def _http_only(cls, url: str) -> str:
        return check_http_url(url)


def run_api_call(context: NodeContext) -> NodeResult:
    config: ApiCallConfig = context.config
    answer = send(
        config.method,
        config.url,
        idempotency_key=context.idempotency_key,
        timeout=config.timeout_seconds or context.timeout_seconds or HTTP_DEFAULT_TIMEOUT_SECONDS,
        headers=config.headers,
        query=config.query,
        body=config.body,
        expected_status=config.expected_status,
        follow_redirects=config.follow_redirects,
    )
    return NodeResult(
        output={"status": answer.status, "body": answer.body, "content_type": answer.content_type}
    )


NODE_TYPE = NodeType(
    type="action",
    subtype="api_call",
    subtype_field="action_type",
    config_model=ApiCallConfig,
    description="Calls an HTTP API (method, headers, query, JSON body, timeout) and returns its answer.",
    executor=run_api_call,
    blocks_for=lambda raw: configured_seconds(raw, HTTP_DEFAULT_TIMEOUT_SECONDS),
    max_concurrency=API_CALL_MAX_CONCURRENCY,
)
