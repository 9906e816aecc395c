"""The one outbound HTTP client of every node that calls out (api_call, data_query's http source, webhook
notifications, llm_chat's OpenAI-compatible endpoints).

- **Egress policy** (:mod:`segflow.domain.egress`): the host is resolved once, every address it resolves to
  is checked, and the connection goes to a checked address (the name still in ``Host`` and TLS SNI and
  certificate checks), so a name cannot resolve to an allowed address for the check and to another for the
  connection. A refused call fails with ``EgressDenied`` (never retried) and sends nothing.
- **Redirects are not followed** unless the node opts in (``follow_redirects: same_origin``), and then only to
  the same scheme, host and port: no header (credentials included) is ever sent to another host. A redirect
  not followed is the answer: its 3xx status, a failure unless ``expected_status`` lists it. 307 and 308 are
  followed with the method and body; 303 with a GET; 301 and 302 only for GET and HEAD.
- **Deadlines**: a request waits at most its own timeout or until the node's deadline
  (:func:`~segflow.domain.deadline.current_deadline`: its ``timeout_seconds``, capped by the invocation's time
  left), in all (connect, send, every read, every redirect). Its own timeout ending first is ``HttpTimeout``;
  the node's deadline ending it is that deadline's error (``NodeTimeout``, or ``InvocationDeadline``). A cut
  request may have reached the server; its next attempt carries the same ``Idempotency-Key``.
- 5xx and 429 answers, timeouts and broken connections are retryable; other non-success answers are not.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import ssl
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from segflow.domain.deadline import Deadline, current_deadline
from segflow.domain.egress import (
    EGRESS_ALLOW_ENV,
    EGRESS_DENY_ENV,
    LAMBDA_RUNTIME_API_ENV,
    EgressPolicy,
    address_of,
)
from segflow.domain.errors import NodeFailure
from segflow.domain.limits import HTTP_MAX_REDIRECTS, HTTP_MAX_RESPONSE_BYTES, HTTP_READ_CHUNK_BYTES
from segflow.dsl.templates import as_text

FollowRedirects = Literal["never", "same_origin"]
# host, port -> every address it resolves to (injectable: tests resolve names to refused addresses).
Resolver = Callable[[str, int], Sequence[str]]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})


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


@dataclass(frozen=True)
class RawAnswer:
    """What the server answered, as bytes; ``unfollowed`` says why a redirect answer was not followed."""

    status: int
    headers: dict[str, str]
    body: bytes
    unfollowed: str | None = None

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)


def check_http_url(url: str) -> str:
    """A pydantic field check: http(s) only (a ``{{ template }}`` is checked once rendered)."""
    if "{{" in url:
        return url
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in ("http", "https"):
        raise ValueError(f"url must be http or https, not {scheme or 'missing'!r}")
    return url


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, in the resolver's order (an address is itself)."""
    if address_of(host) is not None:
        return [host.strip("[]")]
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@lru_cache(maxsize=8)
def _policy(allow: str | None, deny: str | None, runtime_api: str | None) -> EgressPolicy:
    return EgressPolicy.from_environment(
        {
            key: value
            for key, value in (
                (EGRESS_ALLOW_ENV, allow),
                (EGRESS_DENY_ENV, deny),
                (LAMBDA_RUNTIME_API_ENV, runtime_api),
            )
            if value is not None
        }
    )


def egress_policy() -> EgressPolicy:
    """The policy of the function this runs in (its environment: the stack's lists, Lambda's runtime API)."""
    return _policy(
        os.environ.get(EGRESS_ALLOW_ENV),
        os.environ.get(EGRESS_DENY_ENV),
        os.environ.get(LAMBDA_RUNTIME_API_ENV),
    )


def _origin(parts: urllib.parse.SplitResult) -> tuple[str, str | None, int]:
    scheme = parts.scheme.lower()
    return scheme, parts.hostname, parts.port or (443 if scheme == "https" else 80)


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection to a host name that connects to one address already checked."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._create_connection = _pinned(address)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """An HTTPS connection to a host name (SNI and certificate check on the name) at one checked address."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._create_connection = _pinned(address)


def _pinned(address: str) -> Callable[..., socket.socket]:
    def create_connection(
        host_port: tuple[str, int], timeout: float | None = None, source: tuple[str, int] | None = None
    ) -> socket.socket:
        return socket.create_connection((address, host_port[1]), timeout, source)

    return create_connection


class _OutOfTime(Exception):
    """The request's time (its own timeout or the node's deadline) ran out."""


class _Clock:
    """How long the whole request (redirects included) may still take."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds
        self.started = time.monotonic()

    def left(self) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise _OutOfTime
        return left

    def elapsed(self) -> float:
        return time.monotonic() - self.started


def _exchange(
    method: str,
    url: str,
    headers: dict[str, str],
    data: bytes | None,
    clock: _Clock,
    max_bytes: int,
    resolver: Resolver,
    policy: EgressPolicy,
) -> RawAnswer:
    parts = urllib.parse.urlsplit(url)
    scheme, host, port = _origin(parts)
    if not host:
        raise NodeFailure(f"url has no host: {parts.scheme}://{parts.netloc}", "ConfigError")
    try:
        addresses = resolver(host, port)
    except (OSError, UnicodeError) as error:
        raise ConnectionFailed(f"{host} could not be resolved: {error}") from error
    if not addresses:
        raise ConnectionFailed(f"{host} resolved to no address")
    policy.check(host, port, addresses)  # raises EgressDenied before anything is sent
    connection_type = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
    connection = connection_type(host, port, addresses[0], timeout=clock.left())
    target = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
    try:
        connection.connect()
        sock = connection.sock
        assert sock is not None
        sock.settimeout(clock.left())
        connection.request(method, target, body=data, headers=headers)
        sock.settimeout(clock.left())
        response = connection.getresponse()
        chunks: list[bytes] = []
        received = 0
        while received <= max_bytes and not response.isclosed():  # closed: all of it was read
            sock.settimeout(clock.left())
            chunk = response.read(min(HTTP_READ_CHUNK_BYTES, max_bytes + 1 - received))
            if not chunk:
                break
            chunks.append(chunk)
            received += len(chunk)
        return RawAnswer(response.status, dict(response.headers.items()), b"".join(chunks))
    finally:
        connection.close()


def _redirect(method: str, status: int, current: str, location: str | None) -> tuple[str, str] | str:
    """Where a same-origin redirect leads and with which method, or why it is not followed."""
    if not location:
        return "no Location"
    target = urllib.parse.urljoin(current, location)
    shown = urllib.parse.urlunsplit(urllib.parse.urlsplit(target)._replace(query="", fragment=""))
    if _origin(urllib.parse.urlsplit(target)) != _origin(urllib.parse.urlsplit(current)):
        return f"to {shown}: another origin, never followed"
    if status == 303:
        return target, "GET" if method != "HEAD" else "HEAD"
    if status in (301, 302) and method not in ("GET", "HEAD"):
        return f"to {shown}: a {status} of a {method} is not followed (it would become a GET)"
    return target, method


def exchange(
    method: str,
    url: str,
    *,
    headers: dict[str, str],
    data: bytes | None,
    timeout: float,
    shown: str,
    max_bytes: int,
    follow_redirects: FollowRedirects = "never",
    deadline: Deadline | None = None,
    resolver: Resolver | None = None,
    policy: EgressPolicy | None = None,
) -> RawAnswer:
    """One request (and the same-origin redirects it may follow), checked by the egress policy; the answer
    as bytes, whatever its status. Raises ``EgressDenied``, ``HttpTimeout``, the deadline's error,
    ``ConnectionFailed`` or ``ResponseTooLarge``. ``shown`` names the request in errors."""
    deadline = deadline if deadline is not None else current_deadline()
    wait, cut = deadline.cap(timeout, shown) if deadline is not None else (timeout, False)
    clock = _Clock(wait)
    policy = policy if policy is not None else egress_policy()
    resolver = resolver or system_resolver
    try:
        for _ in range(HTTP_MAX_REDIRECTS + 1):
            answer = _exchange(method, url, headers, data, clock, max_bytes, resolver, policy)
            if len(answer.body) > max_bytes:
                raise NodeFailure(f"{shown}: response larger than {max_bytes} bytes", "ResponseTooLarge")
            if answer.status not in _REDIRECTS:
                return answer
            if follow_redirects == "never":
                return _unfollowed(answer, method, url, "redirects are not followed (follow_redirects)")
            step = _redirect(method, answer.status, url, answer.header("Location"))
            if isinstance(step, str):
                return _unfollowed(answer, method, url, step)
            url, next_method = step
            if next_method != method:
                method, data = next_method, None
                headers = {
                    k: v for k, v in headers.items() if k.lower() not in ("content-type", "content-length")
                }
        return _unfollowed(answer, method, url, f"more than {HTTP_MAX_REDIRECTS} redirects")
    except (_OutOfTime, TimeoutError) as error:
        if cut:
            raise deadline.expired(  # type: ignore[union-attr]  # cut: there is a deadline
                f"{shown} was cut after {clock.elapsed():.1f}s; it may have reached the server "
                "(a resend carries the same Idempotency-Key)"
            ) from error
        raise HttpTimeout(f"{shown} timed out after {timeout:g}s") from error
    except (OSError, http.client.HTTPException) as error:  # refused, reset, closed while answering, TLS
        raise ConnectionFailed(f"{shown}: {type(error).__name__}: {error}") from error


def _unfollowed(answer: RawAnswer, method: str, url: str, why: str) -> RawAnswer:
    location = answer.header("Location")
    if location and not why.startswith("to "):
        target = urllib.parse.urlsplit(urllib.parse.urljoin(url, location))
        why = f"to {urllib.parse.urlunsplit(target._replace(query='', fragment=''))}: {why}"
    return RawAnswer(answer.status, answer.headers, answer.body, unfollowed=f"redirect {why}")


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
    follow_redirects: FollowRedirects = "never",
    resolver: Resolver | None = None,
) -> HttpAnswer:
    """One JSON request of a node, with its ``Idempotency-Key``; raises the retryable or final
    :class:`NodeFailure` for what went wrong.

    Errors name the URL without its query (values may carry tokens), and without its path when
    ``secret_path`` says the path is the credential (webhook URLs).
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):
        shown_url = f"{parts.scheme}://{parts.netloc}/..." if secret_path else repr(url)
        raise NodeFailure(f"url must be http or https: {shown_url}", "ConfigError")
    shown = f"{method} {parts.scheme}://{parts.netloc}/..." if secret_path else f"{method} {url}"
    if query:
        separator = "&" if parts.query else "?"
        url = f"{url}{separator}{urllib.parse.urlencode({k: as_text(v) for k, v in query.items()})}"
    all_headers = {"Accept": "application/json", "User-Agent": "segflow", **(headers or {})}
    all_headers["Idempotency-Key"] = idempotency_key
    data = None
    if body is not None and method not in ("GET", "HEAD"):
        data = json.dumps(body, separators=(",", ":")).encode()
        all_headers.setdefault("Content-Type", "application/json")
    raw = exchange(
        method,
        url,
        headers=all_headers,
        data=data,
        timeout=timeout,
        shown=shown,
        max_bytes=HTTP_MAX_RESPONSE_BYTES,
        follow_redirects=follow_redirects,
        deadline=deadline,
        resolver=resolver,
    )
    content_type = raw.header("Content-Type")
    answer = HttpAnswer(raw.status, _decode(raw.body, content_type or ""), content_type)
    succeeded = raw.status in expected_status if expected_status else 200 <= raw.status < 300
    if not succeeded:
        detail = raw.unfollowed or (json.dumps(answer.body)[:300] if answer.body is not None else "")
        if raw.unfollowed and secret_path:
            detail = "redirect not followed"
        failure = HttpError(f"{shown} answered {raw.status} {detail}".strip())
        failure.status = raw.status
        failure.retryable = raw.status >= 500 or raw.status == 429
        raise failure
    return answer
