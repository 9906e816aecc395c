"""Runs segflow's Lambda handlers in this process, answering the Lambda Invoke API the way Lambda does.

moto's Step Functions interpreter calls ``lambda:Invoke`` for every Task. With Docker unavailable, moto's own
Lambda cannot run code, so the invoke is answered here: the function name is looked up in the declaration,
its handler imported from the Lambda asset and called with a context that carries a real deadline. Any
other function is one of yours, created in moto: :mod:`segflow_local.user_functions` runs it.

A function that outlives its timeout fails the invoke as Lambda reports it (``Sandbox.Timedout``, see
:func:`timed_out`). In thread mode the handler runs in a thread of its own and the invoke is answered at the
deadline; Python cannot stop a thread, so the handler is left to finish in the background (its context
then says no time remains, so a segment starts no further node) and its late answer is dropped. Process
mode (:mod:`segflow_local.lambda_workers`) kills the worker instead, as Lambda ends the sandbox.
"""

from __future__ import annotations

import contextvars
import importlib
import json
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from segflow.declaration import FUNCTIONS, FunctionSpec

from segflow_local import sandbox

if TYPE_CHECKING:
    from segflow_local.deployer import LocalDeployment

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


Isolation = Literal["thread", "process"]


class LocalLambdaRuntime:
    """Maps deployed function names to the declared handlers and invokes them.

    ``isolation="thread"`` runs handlers in the caller's thread (fast; one process shares its boto3 clients);
    ``"process"`` runs each invocation in a worker process (:mod:`segflow_local.lambda_workers`), which may be
    killed like a Lambda sandbox. A thread cannot be killed at its function's timeout: ``overruns`` names the
    invocations that ran past it (Lambda would have killed them), for tests to assert there are none.
    """

    def __init__(
        self, stage: str, timeout_overrides: dict[str, int] | None = None, isolation: Isolation = "thread"
    ) -> None:
        self.stage = stage
        self.isolation = isolation
        self._workers: Any = None
        if isolation == "process":
            from segflow_local.lambda_workers import WorkerPool

            self._workers = WorkerPool()
        self._specs: dict[str, FunctionSpec] = {}
        for spec in FUNCTIONS:
            if timeout_overrides and spec.logical_id in timeout_overrides:
                spec = FunctionSpec(
                    **{**spec.__dict__, "timeout_seconds": timeout_overrides[spec.logical_id]}
                )
            self._specs[local_function_name(stage, spec)] = spec
        self._lock = threading.Lock()
        self.invocations: dict[str, int] = {}
        # Set once segflow is deployed: each function then runs with its own environment and IAM policy.
        self.deployment: LocalDeployment | None = None
        self.overruns: list[tuple[str, str]] = []  # (logical id, request id) of thread-mode overruns
        from segflow_local.user_functions import UserFunctions

        self.user_functions = UserFunctions()

    def attach(self, deployment: LocalDeployment) -> None:
        """Run every function as ``deployment`` deploys it (environment and policy), from now on."""
        sandbox.install()
        self.deployment = deployment

    def identity(self, spec: FunctionSpec) -> tuple[sandbox.FunctionIdentity | None, dict[str, str] | None]:
        """Who ``spec`` runs as. A runtime no deployment is attached to (tests of the runtime's own timeouts
        and workers; the embedded AWS and ``segflow local up`` always attach one) runs it as no function."""
        if self.deployment is None:
            return None, None
        identity = self.deployment.function_identity(spec)
        return identity, sandbox.lambda_environment(identity, spec.memory_mb, spec.handler)

    @property
    def function_names(self) -> list[str]:
        return list(self._specs)

    def knows(self, function_ref: str) -> bool:
        """One of segflow's functions, or one of yours created in moto."""
        name = function_ref.rsplit(":function:", 1)[-1].split(":", 1)[0]
        return name in self._specs or self.user_functions.exists(function_ref)

    def invoke(
        self,
        function_ref: str,
        payload: bytes,
        qualifier: str | None = None,
        client_context: str | None = None,
    ) -> InvokeResult:
        name = function_ref.rsplit(":function:", 1)[-1].split(":", 1)[0]
        spec = self._specs.get(name)
        if spec is None:
            with sandbox.running_as(None):  # your function, not segflow's: it is not run as the caller
                return self.user_functions.invoke(function_ref, payload, qualifier, client_context)
        with self._lock:
            self.invocations[spec.logical_id] = self.invocations.get(spec.logical_id, 0) + 1
        arn = local_function_arn(self.stage, spec)
        identity, environment = self.identity(spec)
        if self._workers is not None:
            reply = self._workers.invoke(spec, name, arn, payload, str(uuid.uuid4()), identity, environment)
            return InvokeResult(200, reply.payload, reply.function_error)
        event = json.loads(payload) if payload else {}
        context = LocalLambdaContext(spec, name, arn)
        outcome: dict[str, Any] = {}
        done = threading.Event()

        def run() -> None:
            try:
                with sandbox.running_as(identity, environment):
                    outcome["result"] = load_handler(spec.handler)(event, context)
            except Exception as error:  # the Lambda runtime reports any unhandled error this way
                outcome["error"] = error
            finally:
                done.set()

        # The caller's context variables go along (the handler runs as if in the caller's thread).
        worker = threading.Thread(
            target=contextvars.copy_context().run,
            args=(run,),
            # Named after the invoking thread: its logs read as that caller's invocation.
            name=f"{threading.current_thread().name}/lambda-{spec.logical_id}",
            daemon=True,
        )
        worker.start()
        if not done.wait(context.get_remaining_time_in_millis() / 1000):
            with self._lock:
                self.overruns.append((spec.logical_id, context.aws_request_id))
            return InvokeResult(200, timed_out(context.aws_request_id, spec.timeout_seconds), "Unhandled")
        error = outcome.get("error")
        if error is not None:
            body = {
                "errorType": type(error).__name__,
                "errorMessage": str(error),
                "stackTrace": traceback.format_tb(error.__traceback__)[-5:],
            }
            return InvokeResult(200, json.dumps(body).encode(), "Unhandled")
        return InvokeResult(200, json.dumps(outcome.get("result")).encode())

    @property
    def worker_exits(self) -> list[str]:
        """Process mode: why each worker that died mid-invocation died."""
        return list(self._workers.exits) if self._workers is not None else []

    def close(self) -> None:
        if self._workers is not None:
            self._workers.close()
        self.user_functions.close()
