"""One local Lambda invocation: the function's local name and ARN, its handler, the context object it gets,
and the answer the Invoke API gives (including a timeout's). Shared by the in-process runtime, its worker
processes and the runner of your own functions."""

from __future__ import annotations

import importlib
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from segflow.declaration import FunctionSpec

from segflow_local.sandbox import FunctionIdentity

LOCAL_ACCOUNT_ID = "123456789012"
LOCAL_REGION = "us-east-1"


def local_function_name(stage: str, spec: FunctionSpec) -> str:
    return f"segflow-{stage}-{spec.logical_id}"


def local_function_arn(stage: str, spec: FunctionSpec, region: str = LOCAL_REGION) -> str:
    return f"arn:aws:lambda:{region}:{LOCAL_ACCOUNT_ID}:function:{local_function_name(stage, spec)}"


_handlers: dict[str, Callable[[dict[str, Any], Any], Any]] = {}
_handlers_lock = threading.Lock()


def load_handler(path: str) -> Callable[[dict[str, Any], Any], Any]:
    """The handler function at ``module.attribute``, imported once per process."""
    with _handlers_lock:
        handler = _handlers.get(path)
        if handler is None:
            module_name, _, attr = path.rpartition(".")
            handler = getattr(importlib.import_module(module_name), attr)
            _handlers[path] = handler
        return handler


class LocalLambdaContext:
    """The subset of the Lambda context object handlers and powertools use."""

    def __init__(self, spec: FunctionSpec, function_name: str, arn: str) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = arn
        self.memory_limit_in_mb = spec.memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + spec.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def timed_out(request_id: str, timeout_seconds: float) -> bytes:
    """Lambda's Invoke answer (with ``X-Amz-Function-Error: Unhandled``) for a function past its timeout;
    Step Functions reports its ``errorType`` as the error and the whole payload as the cause."""
    message = f"RequestId: {request_id} Error: Task timed out after {timeout_seconds:.2f} seconds"
    return json.dumps({"errorType": "Sandbox.Timedout", "errorMessage": message}).encode()


@dataclass(frozen=True)
class InvokeResult:
    status: int
    payload: bytes
    function_error: str | None = None  # "Unhandled": the function raised (the payload says what)
    error_code: str | None = None  # the Invoke API's own error (status >= 400): ResourceNotFoundException


class FunctionIdentities(Protocol):
    """Who each function runs as: what the stack attached to the runtime answers."""

    def function_identity(self, spec: FunctionSpec) -> FunctionIdentity: ...
