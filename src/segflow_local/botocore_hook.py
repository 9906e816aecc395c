"""Answers ``lambda:Invoke`` inside this process, before moto sees it (used by the in-process mode).

The handler is registered on ``before-send.lambda.Invoke`` through botocore's built-in handler list, so every
boto3 client created afterwards (including the ones moto's interpreter creates per Task) carries it. botocore
runs more specific event names first, so this answers before moto's generic ``before-send`` stubber.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import boto3
import botocore.handlers
from botocore.awsrequest import AWSResponse

from segflow_local import fault_rates
from segflow_local.lambda_invocation import InvokeResult

_EVENT = "before-send.lambda.Invoke"


class InvokeTarget(Protocol):
    """What answers the Invoke API: :class:`~segflow_local.lambda_runtime.LocalLambdaRuntime`, or anything
    standing in front of it."""

    def invoke(
        self,
        function_ref: str,
        payload: bytes,
        qualifier: str | None = None,
        client_context: str | None = None,
    ) -> InvokeResult: ...


_lock = threading.Lock()
_active: InvokeTarget | None = None


class _RawBody:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data

    def read(self, *_: Any) -> bytes:
        return self._data


def _answer_invoke(request: Any, **_: Any) -> AWSResponse | None:
    runtime = _active
    url = urlsplit(request.url)
    # Only calls to AWS itself (which the in-process mock answers); a client pointed at a local endpoint
    # (segflow local up, in another process) goes there.
    if runtime is None or not (url.hostname or "").endswith(".amazonaws.com"):
        return None
    if fault_rates.injected(request):  # throttled: the function does not run
        return None
    function_ref = url.path.split("/functions/", 1)[1].split("/invocations", 1)[0]
    qualifier = parse_qs(url.query).get("Qualifier", [None])[0]
    client_context = request.headers.get("X-Amz-Client-Context")
    if isinstance(client_context, bytes):
        client_context = client_context.decode()
    result = runtime.invoke(unquote(function_ref), request.body or b"", qualifier, client_context)
    headers = {
        "Content-Type": "application/json",
        "X-Amz-Executed-Version": "$LATEST",
        "x-amzn-RequestId": str(uuid.uuid4()),
    }
    if result.error_code:
        headers["x-amzn-ErrorType"] = result.error_code
    elif result.function_error:
        headers["X-Amz-Function-Error"] = result.function_error
    return AWSResponse(request.url, result.status, headers, _RawBody(result.payload))


def _ensure_registered() -> None:
    if (_EVENT, _answer_invoke) in botocore.handlers.BUILTIN_HANDLERS:
        return
    botocore.handlers.BUILTIN_HANDLERS.append((_EVENT, _answer_invoke))
    # A default session made before now lacks the handler, and moto's interpreter makes its clients from it.
    if boto3.DEFAULT_SESSION is not None:
        boto3.setup_default_session(region_name=boto3.DEFAULT_SESSION.region_name)


def activate(runtime: InvokeTarget) -> None:
    """Route this process's Lambda invokes to ``runtime``. Call before creating boto3 clients."""
    global _active
    with _lock:
        _ensure_registered()
        _active = runtime


def deactivate() -> None:
    global _active
    with _lock:
        _active = None


@contextmanager
def routed_to(target: InvokeTarget) -> Iterator[None]:
    """Answer this process's Lambda invokes with ``target`` for a while, then as before."""
    global _active
    with _lock:
        _ensure_registered()
        previous, _active = _active, target
    try:
        yield
    finally:
        with _lock:
            _active = previous
