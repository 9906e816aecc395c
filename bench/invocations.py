"""Every Lambda invocation of a run: which function, how long, how large its event and its result.

The recorder stands in front of the embedded Lambda runtime (``LocalLambdaRuntime.invoke``, which the
botocore hook calls for every ``lambda:Invoke``): segflow's own functions go on to the runtime unchanged, the
baselines' functions (``bench-*``) are answered here the same way, from ``bench.baselines``. Nothing in
``segflow_local`` changes.

Payload sizes matter because a Distributed Map's child executions do not appear in the parent's history: the
events a child would have are the ExecuteSegment event it received and the result it returned.
"""

from __future__ import annotations

import json
import math
import threading
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field

from segflow.declaration import FUNCTIONS, FunctionSpec, function_by_id

from bench.baselines import RUNS_AS
from segflow_local import sandbox
from segflow_local.lambda_invocation import (
    LOCAL_ACCOUNT_ID,
    LOCAL_REGION,
    InvokeResult,
    LocalLambdaContext,
    load_handler,
)
from segflow_local.lambda_runtime import LocalLambdaRuntime

BENCH_PREFIX = "bench-"


def bench_function_arn(logical_id: str) -> str:
    return f"arn:aws:lambda:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:function:{BENCH_PREFIX}{logical_id}"


@dataclass
class InvocationLog:
    count: Counter[str] = field(default_factory=Counter)  # logical id -> invocations
    seconds: Counter[str] = field(default_factory=Counter)  # logical id -> summed duration
    gb_seconds: float = 0.0  # duration (rounded up to 1 ms) x memory, summed
    event_bytes: Counter[str] = field(default_factory=Counter)  # logical id -> summed event bytes
    result_bytes: Counter[str] = field(default_factory=Counter)
    max_event_bytes: int = 0
    max_result_bytes: int = 0

    @property
    def invocations(self) -> int:
        return sum(self.count.values())


class InvocationRecorder:
    def __init__(self, runtime: LocalLambdaRuntime, bench_functions: dict[str, FunctionSpec]) -> None:
        self._runtime = runtime
        self._forward = runtime.invoke
        self._bench = bench_functions  # logical id -> spec (handler path inside ``bench``)
        self._segflow = {f"segflow-{runtime.stage}-{spec.logical_id}": spec for spec in FUNCTIONS}
        self._lock = threading.Lock()
        self._log = InvocationLog()
        self._in_flight = 0

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def invocations_so_far(self) -> int:
        return self._log.invocations

    def install(self) -> None:
        self._runtime.invoke = self.invoke  # type: ignore[method-assign]

    def uninstall(self) -> None:
        self._runtime.invoke = self._forward  # type: ignore[method-assign]

    def reset(self) -> None:
        with self._lock:
            self._log = InvocationLog()

    def snapshot(self) -> InvocationLog:
        with self._lock:
            log = self._log
            return InvocationLog(
                Counter(log.count),
                Counter(log.seconds),
                log.gb_seconds,
                Counter(log.event_bytes),
                Counter(log.result_bytes),
                log.max_event_bytes,
                log.max_result_bytes,
            )

    def _invoke_bench(self, spec: FunctionSpec, name: str, payload: bytes) -> InvokeResult:
        event = json.loads(payload) if payload else {}
        context = LocalLambdaContext(spec, name, bench_function_arn(spec.logical_id))
        identity, environment = self._runtime.identity(function_by_id(RUNS_AS[spec.logical_id]))
        try:
            with sandbox.running_as(identity, environment):
                result = load_handler(spec.handler)(event, context)
        except Exception as error:  # reported the way the Lambda runtime reports an unhandled error
            body = {
                "errorType": type(error).__name__,
                "errorMessage": str(error)[:1000],
                "stackTrace": traceback.format_tb(error.__traceback__)[-3:],
            }
            return InvokeResult(200, json.dumps(body).encode(), "Unhandled")
        return InvokeResult(200, json.dumps(result).encode())

    def invoke(
        self,
        function_ref: str,
        payload: bytes,
        qualifier: str | None = None,
        client_context: str | None = None,
    ) -> InvokeResult:
        with self._lock:
            self._in_flight += 1
        try:
            return self._invoke(function_ref, payload, qualifier, client_context)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _invoke(
        self, function_ref: str, payload: bytes, qualifier: str | None, client_context: str | None
    ) -> InvokeResult:
        name = function_ref.rsplit(":function:", 1)[-1].split(":", 1)[0]
        if name.startswith(BENCH_PREFIX) and name[len(BENCH_PREFIX) :] in self._bench:
            spec = self._bench[name[len(BENCH_PREFIX) :]]
            began = time.thread_time()
            result = self._invoke_bench(spec, name, payload)
        else:
            spec = self._segflow.get(name)
            began = time.thread_time()
            result = self._forward(function_ref, payload, qualifier, client_context)
            if spec is None:
                return result
        # CPU time of the invoking thread: the handler plus the emulated AWS answering its requests in the
        # same thread. Wall time would also count waiting for the GIL behind concurrent Map iterations.
        elapsed = time.thread_time() - began
        billed = max(1, math.ceil(elapsed * 1000)) / 1000  # Lambda bills each started millisecond
        with self._lock:
            log = self._log
            log.count[spec.logical_id] += 1
            log.seconds[spec.logical_id] += elapsed
            log.gb_seconds += billed * spec.memory_mb / 1024
            log.event_bytes[spec.logical_id] += len(payload or b"")
            log.result_bytes[spec.logical_id] += len(result.payload)
            log.max_event_bytes = max(log.max_event_bytes, len(payload or b""))
            log.max_result_bytes = max(log.max_result_bytes, len(result.payload))
        return result
