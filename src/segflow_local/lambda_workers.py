"""Handlers in worker processes, one invocation at a time each, the way Lambda runs them in sandboxes.

``segflow local up --isolation process`` answers invokes here instead of in the server's own threads. A worker
that dies mid-invocation (SIGKILL, ``os._exit``, a crash in C code) fails the invoke the way Lambda's Invoke
API answers it: ``X-Amz-Function-Error: Unhandled`` and ``{"errorType": "Runtime.ExitError", "errorMessage":
"RequestId: … Error: Runtime exited with error: signal: killed"}``; one that outlives the function's timeout
is killed and the invoke answers ``Sandbox.Timedout`` (``RequestId: … Error: Task timed out after 30.00
seconds``). Step Functions reports a function error's ``errorType`` as the error name (and ``Lambda.Unknown``
for an error payload without one, as Lambda's older runtimes answered timeouts); the state machine's Retry
then decides, as it would on AWS.

Workers reach the embedded AWS through ``AWS_ENDPOINT_URL`` (inherited), so this mode needs the server.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import threading
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection

from segflow.declaration import FunctionSpec

from segflow_local.lambda_invocation import timed_out
from segflow_local.sandbox import FunctionIdentity

# Idle workers kept warm for the next invoke; busier moments start more, then the extras stop.
MAX_IDLE_WORKERS = 8
# How long past the function's timeout a worker may take to answer before it is killed.
TIMEOUT_GRACE_SECONDS = 1.0
# A worker whose pipe closed is exiting; on a loaded machine its exit status can take seconds to arrive.
WORKER_EXIT_WAIT_SECONDS = 30.0

_spawn = multiprocessing.get_context("spawn")


@dataclass(frozen=True)
class WorkerReply:
    payload: bytes
    function_error: str | None = None


def _worker_main(conn: Connection) -> None:
    """A worker's loop: receive (spec, function name, ARN, event), run the handler, send the answer."""
    from segflow_local import fault_rates, faults, sandbox
    from segflow_local.lambda_invocation import LocalLambdaContext, load_handler

    sandbox.install()
    faults.install_from_environment()
    fault_rates.activate_from_environment(stream=str(os.getpid()), state_machine=False)
    while True:
        try:
            spec, name, arn, payload, identity, environment = conn.recv()
        except (EOFError, OSError):
            return
        context = LocalLambdaContext(spec, name, arn)
        try:
            event = json.loads(payload) if payload else {}
            with sandbox.running_as(identity, environment):
                result = load_handler(spec.handler)(event, context)
            conn.send((json.dumps(result).encode(), None))
        except Exception as error:  # the Lambda runtime reports any unhandled error this way
            body = {
                "errorType": type(error).__name__,
                "errorMessage": str(error),
                "stackTrace": traceback.format_tb(error.__traceback__)[-5:],
            }
            conn.send((json.dumps(body).encode(), "Unhandled"))


class _Worker:
    def __init__(self) -> None:
        self.conn, child = _spawn.Pipe(duplex=True)
        self.process = _spawn.Process(target=_worker_main, args=(child,), name="segflow-lambda", daemon=True)
        self.process.start()
        child.close()

    def stop(self) -> None:
        self.conn.close()
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)


_SIGNAL_WORDS = {
    "SIGKILL": "signal: killed",
    "SIGTERM": "signal: terminated",
    "SIGSEGV": "signal: segmentation fault",
}


def exit_reason(exitcode: int | None) -> str:
    """Lambda's wording: ``signal: killed`` for SIGKILL, ``exit status 3`` for ``exit(3)``."""
    if exitcode is None:
        return "unknown"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            return f"signal: {-exitcode}"
        return _SIGNAL_WORDS.get(name, f"signal: {name.lower()}")
    return f"exit status {exitcode}"


class WorkerPool:
    def __init__(self, max_idle: int = MAX_IDLE_WORKERS) -> None:
        self.max_idle = max_idle
        # Idle workers per function: like Lambda's sandboxes, a worker only ever runs one function.
        self._idle: dict[str, list[_Worker]] = {}
        self._lock = threading.Lock()
        self._closed = False
        self.exits: list[str] = []  # why each worker that died mid-invocation died, in order

    def invoke(
        self,
        spec: FunctionSpec,
        name: str,
        arn: str,
        payload: bytes,
        request_id: str,
        identity: FunctionIdentity | None,
        environment: dict[str, str] | None,
    ) -> WorkerReply:
        worker = self._take(name)
        try:
            worker.conn.send((spec, name, arn, payload, identity, environment))
            answered = worker.conn.poll(spec.timeout_seconds + TIMEOUT_GRACE_SECONDS)
            reply: tuple[bytes, str | None] | None = worker.conn.recv() if answered else None
        except (EOFError, OSError, BrokenPipeError):
            worker.process.join(timeout=WORKER_EXIT_WAIT_SECONDS)
            reason = exit_reason(worker.process.exitcode)
            worker.stop()
            with self._lock:
                self.exits.append(reason)
            message = f"RequestId: {request_id} Error: Runtime exited with error: {reason}"
            return WorkerReply(_error_body("Runtime.ExitError", message), "Unhandled")
        if reply is None:
            worker.stop()
            return WorkerReply(timed_out(request_id, spec.timeout_seconds), "Unhandled")
        self._release(name, worker)
        return WorkerReply(reply[0], reply[1])

    def _take(self, function: str) -> _Worker:
        with self._lock:
            if self._closed:
                raise RuntimeError("the worker pool is closed")
            idle = self._idle.setdefault(function, [])
            while idle:
                worker = idle.pop()
                if worker.process.is_alive():
                    return worker
                worker.stop()
        return _Worker()

    def _release(self, function: str, worker: _Worker) -> None:
        with self._lock:
            idle = self._idle.setdefault(function, [])
            if not self._closed and len(idle) < self.max_idle and worker.process.is_alive():
                idle.append(worker)
                return
        worker.stop()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle = [worker for workers in self._idle.values() for worker in workers]
            self._idle = {}
        for worker in idle:
            worker.stop()


def _error_body(error_type: str, message: str) -> bytes:
    return json.dumps({"errorType": error_type, "errorMessage": message}).encode()
