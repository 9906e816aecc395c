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
import json
import threading
import traceback
import uuid
from typing import Any, Literal

from segflow.declaration import FUNCTIONS, FunctionSpec

from segflow_local import sandbox
from segflow_local.lambda_invocation import (
    FunctionIdentities,
    InvokeResult,
    LocalLambdaContext,
    load_handler,
    local_function_arn,
    local_function_name,
    timed_out,
)

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
        # Thread mode: invocations whose handler has returned (or raised), for tests to wait on.
        self.completed: dict[str, int] = {}
        # Set once segflow is deployed: each function then runs with its own environment and IAM policy.
        self.stack: FunctionIdentities | None = None
        self.overruns: list[tuple[str, str]] = []  # (logical id, request id) of thread-mode overruns
        from segflow_local.user_functions import UserFunctions

        self.user_functions = UserFunctions()

    def attach(self, stack: FunctionIdentities) -> None:
        """Run every function as ``stack`` deploys it (environment and policy), from now on."""
        sandbox.install()
        self.stack = stack

    def identity(self, spec: FunctionSpec) -> tuple[sandbox.FunctionIdentity | None, dict[str, str] | None]:
        """Who ``spec`` runs as. A runtime no stack is attached to (tests of the runtime's own timeouts
        and workers; the embedded AWS and ``segflow local up`` always attach one) runs it as no function."""
        if self.stack is None:
            return None, None
        identity = self.stack.function_identity(spec)
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
                with self._lock:
                    self.completed[spec.logical_id] = self.completed.get(spec.logical_id, 0) + 1
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
