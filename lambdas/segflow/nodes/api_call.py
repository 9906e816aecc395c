"""``action`` with ``action_type: api_call``: a real HTTP request with method, headers, JSON body and timeout.

Every request carries an ``Idempotency-Key`` header (tenant, execution and node), so a receiving service can
recognise a repeated delivery after a retry.
"""

from __future__ import annotations

import http.client
import json
import socket
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from segflow.dsl.templates import as_text
from segflow.limits import HTTP_DEFAULT_TIMEOUT_SECONDS, HTTP_MAX_RESPONSE_BYTES
from segflow.nodes.base import NodeContext, NodeFailure, NodeResult, NodeType


class HttpError(NodeFailure):
    error_type = "HttpError"
    retryable = True


class HttpTimeout(NodeFailure):
    error_type = "HttpTimeout"
    retryable = True


class ConnectionFailed(NodeFailure):
    error_type = "ConnectionFailed"
    retryable = True


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

    @field_validator("url")
    @classmethod
    def _http_only(cls, url: str) -> str:
        if "{{" in url:
            return url
        scheme = urllib.parse.urlsplit(url).scheme
        if scheme not in ("http", "https"):
            raise ValueError(f"url must be http or https, not {scheme or 'missing'!r}")
        return url


def _decode(raw: bytes, content_type: str) -> Any:
    if not raw:
        return None
    text = raw.decode("utf-8", errors="replace")
    if "json" in content_type:
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text
    return text


def run_api_call(context: NodeContext) -> NodeResult:
    config: ApiCallConfig = context.config
    url = config.url
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise NodeFailure(f"url must be http or https: {url!r}", "ConfigError")
    if config.query:
        separator = "&" if urllib.parse.urlsplit(url).query else "?"
        url = f"{url}{separator}{urllib.parse.urlencode({k: as_text(v) for k, v in config.query.items()})}"
    headers = {"Accept": "application/json", "User-Agent": "segflow", **config.headers}
    headers["Idempotency-Key"] = context.idempotency_key
    data = None
    if config.body is not None and config.method not in ("GET", "HEAD"):
        data = json.dumps(config.body, separators=(",", ":")).encode()
        headers.setdefault("Content-Type", "application/json")
    timeout = config.timeout_seconds or context.timeout_seconds or HTTP_DEFAULT_TIMEOUT_SECONDS
    request = urllib.request.Request(url, data=data, headers=headers, method=config.method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status = response.status
            raw = response.read(HTTP_MAX_RESPONSE_BYTES + 1)
            response_headers = dict(response.headers.items())
    except urllib.error.HTTPError as error:
        status = error.code
        raw = error.read(HTTP_MAX_RESPONSE_BYTES + 1)
        response_headers = dict(error.headers.items()) if error.headers else {}
    except TimeoutError as error:
        raise HttpTimeout(f"{config.method} {config.url} timed out after {timeout:g}s") from error
    except urllib.error.URLError as error:
        if isinstance(error.reason, TimeoutError | socket.timeout):
            raise HttpTimeout(f"{config.method} {config.url} timed out after {timeout:g}s") from error
        raise ConnectionFailed(f"{config.method} {config.url}: {error.reason}") from error
    except (ConnectionError, http.client.HTTPException) as error:  # reset or closed while answering
        raise ConnectionFailed(f"{config.method} {config.url}: {type(error).__name__}: {error}") from error
    if len(raw) > HTTP_MAX_RESPONSE_BYTES:
        raise NodeFailure(f"response larger than {HTTP_MAX_RESPONSE_BYTES} bytes", "ResponseTooLarge")
    body = _decode(raw, response_headers.get("Content-Type", ""))
    succeeded = status in config.expected_status if config.expected_status else 200 <= status < 300
    if not succeeded:
        detail = json.dumps(body)[:300] if body is not None else ""
        error = HttpError(f"{config.method} {config.url} answered {status} {detail}".strip())
        error.retryable = status >= 500 or status == 429
        raise error
    return NodeResult(
        output={"status": status, "body": body, "content_type": response_headers.get("Content-Type")}
    )


NODE_TYPE = NodeType(
    type="action",
    subtype="api_call",
    subtype_field="action_type",
    config_model=ApiCallConfig,
    description="Calls an HTTP API (method, headers, query, JSON body, timeout) and returns its answer.",
    executor=run_api_call,
)
