"""Handler errors reach Step Functions short and named; passing AWS trouble is named so the ASL retries it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError, EndpointConnectionError
from segflow.adapters.event_log import EventLogContention
from segflow.handlers.errors import TRANSIENT_ERROR, concise_errors

from tests.conftest import REPO_ROOT


def raising(error: Exception) -> Any:
    @concise_errors(Logger(service="test"))
    def handler(event: dict[str, Any], context: Any) -> None:
        raise error

    return handler


def client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code} happened"}}, "PutItem")


def cancelled(*reasons: str) -> ClientError:
    response = {
        "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
        "CancellationReasons": [{"Code": reason} for reason in reasons],
    }
    return ClientError(response, "TransactWriteItems")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("error", "name"),
    [
        (client_error("ProvisionedThroughputExceededException"), TRANSIENT_ERROR),
        (client_error("ThrottlingException"), TRANSIENT_ERROR),
        (client_error("SlowDown"), TRANSIENT_ERROR),
        (EndpointConnectionError(endpoint_url="https://dynamodb"), TRANSIENT_ERROR),
        (cancelled("None", "TransactionConflict"), TRANSIENT_ERROR),
        (cancelled("ThrottlingError", "None"), TRANSIENT_ERROR),
        (cancelled("TransactionConflict", "ConditionalCheckFailed"), "ClientError"),
        (EventLogContention("EventLogContention: the log stayed busy"), TRANSIENT_ERROR),
        (client_error("AccessDeniedException"), "ClientError"),
        (ValueError("bad"), "ValueError"),
    ],
)
def test_the_error_name_says_whether_retrying_can_help(error: Exception, name: str) -> None:
    with pytest.raises(Exception) as raised:
        raising(error)({}, None)
    assert type(raised.value).__name__ == name


def test_long_messages_are_cut() -> None:
    with pytest.raises(Exception) as raised:
        raising(ValueError("x" * 5000))({}, None)
    assert len(str(raised.value)) == 1000


def tasks(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in states.items():
        if state["Type"] == "Task":
            yield name, state
        if "ItemProcessor" in state:
            yield from tasks(state["ItemProcessor"]["States"])


def test_every_task_of_the_state_machine_retries_transient_aws_errors() -> None:
    definition = json.loads((REPO_ROOT / "asl" / "workflow.asl.json").read_text())
    for name, state in tasks(definition["States"]):
        retried = {error for retrier in state.get("Retry", []) for error in retrier["ErrorEquals"]}
        assert TRANSIENT_ERROR in retried, name


LAMBDA_FAILURES = {  # what Step Functions reports, by kind (docs/architecture.md, Failures)
    "throttled": {"Lambda.TooManyRequestsException", TRANSIENT_ERROR},
    "service": {
        "Lambda.ClientExecutionTimeoutException",
        "Lambda.ServiceException",
        "Lambda.AWSLambdaException",
        "Lambda.SdkClientException",
    },
    "died": {"Lambda.Unknown", "Sandbox.Timedout", "Runtime.ExitError", "Runtime.OutOfMemory"},
}


def test_every_task_retries_each_kind_of_lambda_failure_with_its_own_retrier() -> None:
    definition = json.loads((REPO_ROOT / "asl" / "workflow.asl.json").read_text())
    for name, state in tasks(definition["States"]):
        retriers = {frozenset(retrier["ErrorEquals"]): retrier for retrier in state["Retry"]}
        assert set(retriers) == {frozenset(errors) for errors in LAMBDA_FAILURES.values()}, name
        throttled = retriers[frozenset(LAMBDA_FAILURES["throttled"])]
        assert throttled["JitterStrategy"] == "FULL" and throttled["MaxAttempts"] >= 6, name
        assert throttled["MaxDelaySeconds"] <= 60, name
        assert retriers[frozenset(LAMBDA_FAILURES["died"])]["MaxAttempts"] == 2, name
