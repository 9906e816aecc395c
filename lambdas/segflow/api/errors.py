"""segflow's errors as HTTP answers: each kind of :class:`~segflow.domain.errors.SegflowError` mapped once to
a status, every answer a ``{code, message, details}`` body (:class:`~segflow.api.models.ErrorBody`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from segflow.domain.errors import ErrorKind, SegflowError

if TYPE_CHECKING:  # imported when an answer is shaped: the WebSocket handler needs only the statuses
    from aws_lambda_powertools.event_handler import Response

STATUS_OF_KIND: dict[ErrorKind, int] = {
    "invalid": 400,
    "unauthenticated": 401,
    "forbidden": 403,
    "not_found": 404,
    "conflict": 409,
    "unavailable": 503,
    "failed": 500,
}
# How many problems an answer's message names (``details`` lists them all).
MESSAGE_PROBLEMS = 5


def error_response(
    status: int, code: str, message: str, details: list[dict[str, Any]] | None = None
) -> Response[str]:
    from aws_lambda_powertools.event_handler import Response

    from segflow.api.models import ErrorBody

    body = ErrorBody(code=code, message=message, details=details or [])
    return Response(status_code=status, content_type="application/json", body=body.model_dump_json())


def segflow_error_response(error: SegflowError) -> Response[str]:
    """The answer to a segflow error: its kind's status, its code, its message (an invalid workflow's
    problems one by one in ``details``)."""
    from segflow.dsl.validation import WorkflowValidationError

    if isinstance(error, WorkflowValidationError):
        details = [{"location": issue.location, "message": issue.message} for issue in error.issues]
        summary = "; ".join(str(issue) for issue in error.issues[:MESSAGE_PROBLEMS])
        return error_response(400, error.code, f"the workflow is invalid: {summary}", details)
    return error_response(STATUS_OF_KIND[error.kind], error.code, str(error))


def invalid_request_response(problems: list[dict[str, Any]]) -> Response[str]:
    """A request its models refused (pydantic's errors): 422, every problem with where it is."""
    details = [
        {"location": ".".join(str(p) for p in problem.get("loc", ())), "message": problem.get("msg", "")}
        for problem in problems
    ]
    summary = "; ".join(f"{d['location']}: {d['message']}" for d in details[:MESSAGE_PROBLEMS])
    return error_response(422, "InvalidRequest", f"the request is invalid: {summary}", details)
