"""segflow's errors answer HTTP callers by their kind (one mapping) and Step Functions by their class name."""

from __future__ import annotations

import json
from typing import get_args

import pytest
from segflow.adapters.approvals import ApprovalNotPending, ApprovalNotRequested
from segflow.adapters.execution_launcher import ExecutionAlreadyExists
from segflow.api.errors import STATUS_OF_KIND, segflow_error_response
from segflow.api.identity import Forbidden, Unauthenticated
from segflow.domain.errors import ErrorKind, SegflowError
from segflow.dsl.validation import ValidationIssue, WorkflowValidationError
from segflow.engine.approval_decisions import ApproverNotAllowed
from segflow.engine.resume import ResumeRefused, UnknownResumeNode
from segflow.handlers.errors import error_name
from segflow.services.executions import ExecutionNotFound, ExecutionNotRunning, InvalidPageToken
from segflow.versioning.errors import (
    ActiveVersionConflict,
    NoActiveVersion,
    NoDiffTarget,
    TooMuchContention,
    VersionNotFound,
    WorkflowIdMismatch,
    WorkflowNotFound,
)


def test_every_kind_has_a_status() -> None:
    assert set(STATUS_OF_KIND) == set(get_args(ErrorKind))


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (WorkflowNotFound("w"), 404, "WorkflowNotFound"),
        (VersionNotFound("w", 3), 404, "VersionNotFound"),
        (NoActiveVersion("w"), 409, "NoActiveVersion"),
        (NoDiffTarget("w"), 400, "NoActiveVersion"),
        (ActiveVersionConflict("w", 1, 2), 409, "ActiveVersionConflict"),
        (TooMuchContention("busy"), 503, "TooMuchContention"),
        (WorkflowIdMismatch("ids differ"), 400, "WorkflowIdMismatch"),
        (ExecutionAlreadyExists("an execution named 'x' already exists"), 409, "ExecutionAlreadyExists"),
        (ExecutionNotFound("x"), 404, "NotFound"),
        (ExecutionNotRunning("x is SUCCEEDED"), 409, "NotRunning"),
        (InvalidPageToken("no"), 400, "InvalidPageToken"),
        (ResumeRefused("x is SUCCEEDED"), 409, "NotResumable"),
        (UnknownResumeNode("from_node 'nope'"), 400, "UnknownNode"),
        (ApprovalNotPending("decided already: reject by ada"), 409, "AlreadyDecided"),
        (ApprovalNotRequested("no approval"), 404, "NotFound"),
        (ApproverNotAllowed("eve may not decide"), 403, "Forbidden"),
        (Unauthenticated("who?"), 401, "Unauthenticated"),
        (Forbidden("no tenant"), 403, "Forbidden"),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, SegflowError) else str(value),
)
def test_an_error_answers_with_its_kinds_status_and_its_code(
    error: SegflowError, status: int, code: str
) -> None:
    response = segflow_error_response(error)
    body = json.loads(response.body)
    assert (response.status_code, body["code"], body["message"]) == (status, code, str(error))


def test_an_invalid_workflow_lists_every_problem_in_details() -> None:
    issues = [ValidationIssue(f"node 'n{i}'", f"problem {i}") for i in range(7)]
    response = segflow_error_response(WorkflowValidationError(issues))
    body = json.loads(response.body)
    assert (response.status_code, body["code"]) == (400, "InvalidWorkflow")
    assert body["details"] == [{"location": f"node 'n{i}'", "message": f"problem {i}"} for i in range(7)]
    assert body["message"].startswith("the workflow is invalid: node 'n0': problem 0; ")
    assert "n4" in body["message"] and "n5" not in body["message"]


def test_step_functions_sees_the_class_name() -> None:
    assert error_name(WorkflowValidationError([ValidationIssue("workflow", "has no nodes")])) == (
        "WorkflowValidationError"
    )
    assert error_name(ResumeRefused("no")) == "ResumeRefused"
