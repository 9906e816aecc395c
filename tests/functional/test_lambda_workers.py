"""The worker-process runtime answers invokes the way Lambda does, including when the process dies."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from segflow.declaration import FunctionSpec

from segflow_local.iam_policy import Policy
from segflow_local.lambda_workers import WorkerPool, exit_reason
from segflow_local.sandbox import FunctionIdentity


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
    assert body["errorMessage"] == "RequestId: req-1 Task timed out after 1.00 seconds"


def test_signals_are_named_as_lambda_names_them() -> None:
    assert exit_reason(-9) == "signal: killed"
    assert exit_reason(-15) == "signal: terminated"
    assert exit_reason(0) == "exit status 0"
