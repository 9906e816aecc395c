"""Errors leave a handler short and named: the full traceback goes to the logs, not into the state.

The Lambda runtime puts an unhandled error's message and stack trace into the task's ``Cause``, which the
state machine then carries; a deep stack trace alone can exceed the state payload budget. The error type
name is kept, because Retry and Catch match on it, except for AWS errors that pass (throttling, a service's
5xx, a dropped connection, after boto3's own retries; a transaction cancelled only by contention, after the
store's) and segflow's ``EventLogContention`` (the execution log stayed busy): those become
``TransientAwsError``, which the state machine retries with backoff; the re-invoked handler resumes from its
records. The message keeps the original name. This is the one place Step Functions error names are made:
segflow's own errors (:class:`~segflow.domain.errors.SegflowError`) keep their class name here, while their
``kind`` and ``code`` are what HTTP callers see (:mod:`segflow.api.errors`).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError, ReadTimeoutError

from segflow.adapters.transactions import cancelled_by_contention
from segflow.domain.limits import ERROR_MESSAGE_MAX_CHARS

Handler = Callable[[dict[str, Any], Any], Any]

TRANSIENT_ERROR = "TransientAwsError"  # the name asl/workflow.asl.json retries
_TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "TransactionConflictException",
        "InternalServerError",
        "InternalFailure",
        "ServiceUnavailable",
        "SlowDown",
        "InternalError",
    }
)
# segflow's own errors that mean the same: nothing was stored, running the handler again is safe.
_TRANSIENT_ERRORS = frozenset({"EventLogContention"})


def error_name(error: Exception) -> str:
    """What Step Functions will see as the error: the class name, or TransientAwsError."""
    if isinstance(error, ConnectionClosedError | EndpointConnectionError | ReadTimeoutError):
        return TRANSIENT_ERROR
    if isinstance(error, ClientError) and (
        error.response.get("Error", {}).get("Code") in _TRANSIENT_CODES or cancelled_by_contention(error)
    ):
        return TRANSIENT_ERROR
    if type(error).__name__ in _TRANSIENT_ERRORS:
        return TRANSIENT_ERROR
    return type(error).__name__


_named: dict[str, type[Exception]] = {}
_lock = threading.Lock()


def _error_class(name: str) -> type[Exception]:
    with _lock:
        if name not in _named:
            _named[name] = type(name, (Exception,), {"__module__": "segflow"})
        return _named[name]


def concise_errors(logger: Logger) -> Callable[[Handler], Handler]:
    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        def wrapper(event: dict[str, Any], context: Any) -> Any:
            try:
                return handler(event, context)
            except Exception as error:
                name = error_name(error)
                logger.exception("handler failed", extra={"error_type": type(error).__name__, "error": name})
                message = str(error)
                if len(message) > ERROR_MESSAGE_MAX_CHARS:
                    message = message[: ERROR_MESSAGE_MAX_CHARS - 1] + "…"
                raise _error_class(name)(message) from None

        return wrapper

    return decorate
