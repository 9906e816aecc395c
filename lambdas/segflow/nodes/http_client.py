"""The HTTP request of every node that calls out (api_call, data_query's http source, webhook notifications).

Every request carries an ``Idempotency-Key`` header (tenant, execution and node), so a receiving service can
recognise a repeated delivery after a retry. 5xx and 429 answers, timeouts and broken connections are
retryable; other non-success answers are not. A request is not sent once the node's deadline has passed, and
waits at most until it: one cut there fails with the deadline's error (``NodeTimeout`` for the node's
``timeout_seconds``, ``InvocationDeadline`` for the invocation's; it may have reached the server, and the
node's next run sends it again with the same key). ``HttpTimeout`` is the request's own timeout only.
"""

from __future__ import annotations

import http.client
import json
import socket
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from segflow.domain.deadline import Deadline, current_deadline
from segflow.domain.errors import NodeFailure
from segflow.domain.limits import HTTP_MAX_RESPONSE_BYTES
from segflow.dsl.templates import as_text


class HttpError(NodeFailure):
    """The server answered a status the node does not accept."""

    error_type = "HttpError"
    retryable = True
    status: int | None = None  # the answer's status, when there was one


class HttpTimeout(NodeFailure):
    """One request's own timeout ended before an answer (not the node's deadline)."""

    error_type = "HttpTimeout"
    retryable = True


class ConnectionFailed(NodeFailure):
    """The connection could not be made or broke before the answer."""

    error_type = "ConnectionFailed"
    retryable = True


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: Any  # JSON when the answer says so, else text; None when empty
    content_type: str | None


def check_http_url(url: str) -> str:
    """A pydantic field check: http(s) only (a ``{{ template }}`` is checked once rendered)."""
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


def _timed_out(shown: str, wait: float, cut_by: Deadline | None) -> NodeFailure:
    """HttpTimeout when the request's own timeout ended it; the node's deadline's error (NodeTimeout,
    InvocationDeadline) when the deadline did."""
    if cut_by is not None:
        return cut_by.expired(
            f"{shown} was cut after {wait:.1f}s; it may have reached the server "
            "(a resend carries the same Idempotency-Key)"
        )
    return HttpTimeout(f"{shown} timed out after {wait:g}s")


def send(
    method: str,
    url: str,
    *,
    idempotency_key: str,
    timeout: float,
    headers: dict[str, str] | None = None,
    query: dict[str, Any] | None = None,
    body: Any = None,
    expected_status: list[int] | None = None,
    secret_path: bool = False,
    deadline: Deadline | None = None,
) -> HttpAnswer:
    """One request; raises the retryable or final :class:`NodeFailure` for what went wrong.

    Errors name the URL without its query (values may carry tokens), and without its path when
    ``secret_path`` says the path is the credential (webhook URLs).
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):
        shown_url = f"{parts.scheme}://{parts.netloc}/..." if secret_path else repr(url)
        raise NodeFailure(f"url must be http or https: {shown_url}", "ConfigError")
    shown = f"{method} {parts.scheme}://{parts.netloc}/..." if secret_path else f"{method} {url}"
    if query:
        separator = "&" if urllib.parse.urlsplit(url).query else "?"
        url = f"{url}{separator}{urllib.parse.urlencode({k: as_text(v) for k, v in query.items()})}"
    all_headers = {"Accept": "application/json", "User-Agent": "segflow", **(headers or {})}
    all_headers["Idempotency-Key"] = idempotency_key
    data = None
    if body is not None and method not in ("GET", "HEAD"):
        data = json.dumps(body, separators=(",", ":")).encode()
        all_headers.setdefault("Content-Type", "application/json")
    request = urllib.request.Request(url, data=data, headers=all_headers, method=method)
    deadline = deadline if deadline is not None else current_deadline()  # checked before anything is sent
    wait, cut = deadline.cap(timeout, shown) if deadline is not None else (timeout, False)
    try:
        with urllib.request.urlopen(request, timeout=wait) as response:
            status = response.status
            raw = response.read(HTTP_MAX_RESPONSE_BYTES + 1)
            response_headers = dict(response.headers.items())
    except urllib.error.HTTPError as error:
        status = error.code
        raw = error.read(HTTP_MAX_RESPONSE_BYTES + 1)
        response_headers = dict(error.headers.items()) if error.headers else {}
    except TimeoutError as error:
        raise _timed_out(shown, wait, deadline if cut else None) from error
    except urllib.error.URLError as error:
        if isinstance(error.reason, TimeoutError | socket.timeout):
            raise _timed_out(shown, wait, deadline if cut else None) from error
        raise ConnectionFailed(f"{shown}: {error.reason}") from error
    except (ConnectionError, http.client.HTTPException) as error:  # reset or closed while answering
        raise ConnectionFailed(f"{shown}: {type(error).__name__}: {error}") from error
    if len(raw) > HTTP_MAX_RESPONSE_BYTES:
        raise NodeFailure(f"response larger than {HTTP_MAX_RESPONSE_BYTES} bytes", "ResponseTooLarge")
    content_type = response_headers.get("Content-Type")
    answer = HttpAnswer(status, _decode(raw, content_type or ""), content_type)
    succeeded = status in expected_status if expected_status else 200 <= status < 300
    if not succeeded:
        detail = json.dumps(answer.body)[:300] if answer.body is not None else ""
        failure = HttpError(f"{shown} answered {status} {detail}".strip())
        failure.status = status
        failure.retryable = status >= 500 or status == 429
        raise failure
    return answer
