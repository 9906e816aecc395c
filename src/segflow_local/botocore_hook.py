"""Answers ``lambda:Invoke`` inside this process, before moto sees it (used by the in-process mode).

The handler is registered on ``before-send.lambda.Invoke`` through botocore's built-in handler list, so every
boto3 client created afterwards (including the ones moto's interpreter creates per Task) carries it. botocore
runs more specific event names first, so this answers before moto's generic ``before-send`` stubber.
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import botocore.handlers
from botocore.awsrequest import AWSResponse

from segflow_local import fault_rates
from segflow_local.lambda_runtime import LocalLambdaRuntime

_EVENT = "before-send.lambda.Invoke"
_lock = threading.Lock()
_active: LocalLambdaRuntime | None = None


class _RawBody:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any):
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
    headers = {"Content-Type": "application/json", "X-Amz-Executed-Version": "$LATEST"}
    if result.error_code:
        headers["x-amzn-ErrorType"] = result.error_code
    elif result.function_error:
        headers["X-Amz-Function-Error"] = result.function_error
    return AWSResponse(request.url, result.status, headers, _RawBody(result.payload))


def _ensure_registered() -> None:
    if (_EVENT, _answer_invoke) not in botocore.handlers.BUILTIN_HANDLERS:
        botocore.handlers.BUILTIN_HANDLERS.append((_EVENT, _answer_invoke))


def activate(runtime: LocalLambdaRuntime) -> None:
    """Route this process's Lambda invokes to ``runtime``. Call before creating boto3 clients."""
    global _active
    with _lock:
        _ensure_registered()
        _active = runtime


def deactivate() -> None:
    global _active
    with _lock:
        _active = None
