"""Lambda failing as Step Functions reports it: the state machine retries each kind as asl/workflow.asl.json
says (throttling and Lambda's service errors at length, a timed-out or crashed function twice), and a
function that keeps dying ends the execution FAILED, its error named.

Lambda itself stands in front of the embedded runtime here: the first invokes of ExecuteSegment for this
test's workflow get the answer Lambda gives in each case, the later ones reach the real handler.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from segflow.declaration import EXECUTE_SEGMENT

from segflow_cli.client import SegflowClient
from segflow_local import botocore_hook
from segflow_local.embedded import EmbeddedAws
from segflow_local.lambda_invocation import InvokeResult, timed_out
from tests.conftest import history, run_to_end
from tests.support.history import failed_lambda_causes
from tests.support.stores import stores_of
from tests.support.workflows import linear_workflow

pytestmark = pytest.mark.e2e


class FailingFirst:
    """The embedded runtime, except that the first ``times`` invokes of ExecuteSegment whose payload names
    ``marker`` get ``failure``."""

    def __init__(self, runtime: EmbeddedAws, marker: str, failure: InvokeResult, times: int) -> None:
        self._runtime = runtime.runtime
        self._marker = marker.encode()
        self._failure = failure
        self._left = times
        self._lock = threading.Lock()
        self.segment_invokes = 0

    def invoke(
        self,
        function_ref: str,
        payload: bytes,
        qualifier: str | None = None,
        client_context: str | None = None,
    ) -> InvokeResult:
        if function_ref.endswith(f"-{EXECUTE_SEGMENT.logical_id}") and self._marker in payload:
            with self._lock:
                self.segment_invokes += 1
                fail = self._left > 0
                self._left -= 1
            if fail:
                return self._failure
        return self._runtime.invoke(function_ref, payload, qualifier, client_context)


@contextmanager
def lambda_failing(
    embedded: EmbeddedAws, marker: str, failure: InvokeResult, times: int
) -> Iterator[FailingFirst]:
    target = FailingFirst(embedded, marker, failure, times)
    with botocore_hook.routed_to(target):
        yield target


def unhandled(body: dict) -> InvokeResult:
    return InvokeResult(200, json.dumps(body).encode(), "Unhandled")


FAILURES = {
    # Invoke refused: the account's or the function's concurrency is used up.
    "throttled": (
        InvokeResult(
            429,
            b'{"Reason":"ReservedFunctionConcurrentInvocationLimitExceeded","Type":"User",'
            b'"message":"Rate Exceeded."}',
            error_code="TooManyRequestsException",
        ),
        "Lambda.TooManyRequestsException",
    ),
    "service error": (
        InvokeResult(500, b'{"Type":"Service","message":"Internal error"}', error_code="ServiceException"),
        "Lambda.ServiceException",
    ),
    # The function ran past its timeout, answered as current runtimes do...
    "timed out": (InvokeResult(200, timed_out("1f2e", 900), "Unhandled"), "Sandbox.Timedout"),
    # ...and as older ones did (no errorType): Step Functions names it Lambda.Unknown.
    "timed out, no error type": (
        unhandled({"errorMessage": "2024-05-01T10:00:00.000Z 1f2e Task timed out after 900.00 seconds"}),
        "Lambda.Unknown",
    ),
    "killed": (
        unhandled(
            {
                "errorType": "Runtime.ExitError",
                "errorMessage": "RequestId: 1f2e Error: Runtime exited with error: signal: killed",
            }
        ),
        "Runtime.ExitError",
    ),
}


@pytest.mark.parametrize("kind", list(FAILURES))
def test_a_segment_whose_lambda_fails_once_is_retried_and_the_execution_succeeds(
    client: SegflowClient, embedded: EmbeddedAws, kind: str
) -> None:
    # Given a workflow whose (one) segment's first invocation fails the way Lambda fails
    failure, error = FAILURES[kind]
    workflow = linear_workflow(f"lambda-failure-{uuid.uuid4().hex[:8]}", 3)

    # When it runs
    with lambda_failing(embedded, workflow["workflow_id"], failure, times=1) as lambdas:
        arn, description = run_to_end(client, workflow, {"start": 1})

    # Then the failure carries Step Functions' name, the state machine retried it, and the run succeeded
    assert description["status"] == "SUCCEEDED", description.get("cause")
    [cause] = failed_lambda_causes(stores_of(client).sfn, arn)
    assert cause.startswith(f"{error}: ")
    assert lambdas.segment_invokes == 2
    assert client.output(arn)["nodes"] == {"succeeded": 3}


def test_a_function_that_keeps_timing_out_is_tried_three_times_then_the_execution_fails(
    client: SegflowClient, embedded: EmbeddedAws
) -> None:
    # Given a segment whose every invocation times out
    workflow = linear_workflow(f"lambda-timeouts-{uuid.uuid4().hex[:8]}", 3)
    failure = InvokeResult(200, timed_out("1f2e", 900), "Unhandled")

    # When it runs
    with lambda_failing(embedded, workflow["workflow_id"], failure, times=10) as lambdas:
        arn, description = run_to_end(client, workflow, {"start": 1})

    # Then the retrier gave up after two more tries, and the execution failed naming the timeout
    assert lambdas.segment_invokes == 3
    assert description["status"] == "FAILED"
    assert description["error"] == "Sandbox.Timedout"
    assert "Task timed out after 900.00 seconds" in description["cause"]
    execution = client.execution_record(arn)
    assert execution is not None and execution.status == "FAILED"
    assert [e["type"] for e in history(client, arn)].count("LambdaFunctionFailed") == 3
