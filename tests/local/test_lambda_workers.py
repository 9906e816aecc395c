"""The local Lambda runtime answers invokes the way Lambda's Invoke API does, including when the function
dies (process isolation) or outlives its timeout (either isolation mode)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator

import pytest
from segflow.declaration import EXECUTE_SEGMENT, FunctionSpec

from segflow_local.iam_policy import Policy
from segflow_local.lambda_invocation import local_function_name
from segflow_local.lambda_runtime import LocalLambdaRuntime
from segflow_local.lambda_workers import WorkerPool, exit_reason
from segflow_local.sandbox import FunctionIdentity
from tests.support import worker_handlers


def spec(handler: str, timeout_seconds: int = 30) -> FunctionSpec:
    return FunctionSpec(
        logical_id="Probe",
        handler=f"tests.support.worker_handlers.{handler}",
        description="probe",
        memory_mb=128,
        timeout_seconds=timeout_seconds,
    )


@pytest.fixture()
def pool() -> Iterator[WorkerPool]:
    workers = WorkerPool(max_idle=2)
    yield workers
    workers.close()


PROBE = FunctionIdentity(
    logical_id="Probe",
    function_name="probe",
    role_name="probe-role",
    account="123456789012",
    region="us-east-1",
    policy=Policy(()),
    environment={},
)


def invoke(pool: WorkerPool, handler: str, event: dict, timeout_seconds: int = 30) -> tuple[dict, str | None]:
    reply = pool.invoke(
        spec(handler, timeout_seconds),
        "probe",
        "arn:probe",
        json.dumps(event).encode(),
        "req-1",
        PROBE,
        {"PROBE_SETTING": "1"},
    )
    return json.loads(reply.payload), reply.function_error


def test_an_answer_comes_back_and_the_warm_worker_is_reused(pool: WorkerPool) -> None:
    first, error = invoke(pool, "answer", {"n": 1})
    second, _ = invoke(pool, "answer", {"n": 2})
    assert error is None and first["echo"] == {"n": 1} and second["echo"] == {"n": 2}
    assert first["pid"] == second["pid"]
    assert 0 < first["remaining_ms"] <= 30_000


def test_an_unhandled_error_is_reported_with_its_type(pool: WorkerPool) -> None:
    body, error = invoke(pool, "raise_error", {"value": 7})
    assert error == "Unhandled"
    assert (body["errorType"], body["errorMessage"]) == ("ValueError", "bad value 7")


def test_a_process_that_exits_fails_the_invoke_as_runtime_exit_error(pool: WorkerPool) -> None:
    body, error = invoke(pool, "exit_three", {})
    assert error == "Unhandled"
    assert body == {
        "errorType": "Runtime.ExitError",
        "errorMessage": "RequestId: req-1 Error: Runtime exited with error: exit status 3",
    }
    assert pool.exits == ["exit status 3"]
    # the next invoke gets a new worker
    answer, _ = invoke(pool, "answer", {})
    assert answer["echo"] == {}


def test_a_process_past_its_timeout_is_killed_and_the_invoke_times_out(pool: WorkerPool) -> None:
    body, error = invoke(pool, "hang", {}, timeout_seconds=1)
    assert error == "Unhandled"
    assert body["errorType"] == "Sandbox.Timedout"
    assert body["errorMessage"] == "RequestId: req-1 Error: Task timed out after 1.00 seconds"


def test_signals_are_named_as_lambda_names_them() -> None:
    assert exit_reason(-9) == "signal: killed"
    assert exit_reason(-15) == "signal: terminated"
    assert exit_reason(0) == "exit status 0"


def test_in_thread_mode_a_function_past_its_timeout_is_answered_at_the_deadline() -> None:
    # Given the in-process runtime, and a function (in ExecuteSegment's place) that keeps working past its
    # one-second deadline before it answers
    runtime = LocalLambdaRuntime("probe")
    name = local_function_name("probe", EXECUTE_SEGMENT)
    runtime._specs[name] = dataclasses.replace(
        spec("outlive_deadline", timeout_seconds=1), logical_id=EXECUTE_SEGMENT.logical_id
    )
    worker_handlers.late_answer_given.clear()
    try:
        # When it is invoked
        result = runtime.invoke(name, b"{}")

        # Then the invoke fails as Lambda reports a timeout, before the function got to answer
        assert not worker_handlers.late_answer_given.is_set()
        assert (result.status, result.function_error) == (200, "Unhandled")
        body = json.loads(result.payload)
        assert body["errorType"] == "Sandbox.Timedout"
        assert body["errorMessage"].startswith("RequestId: ")
        assert body["errorMessage"].endswith(" Error: Task timed out after 1.00 seconds")
        # and the function, left running, still finishes (its answer goes nowhere)
        assert worker_handlers.late_answer_given.wait(10)
    finally:
        runtime.close()
