"""The user's Lambda functions, as the ``lambda_invoke`` node calls them: synchronously, once per call.

The client makes no SDK retries (a retried read timeout would run the function a second time) and waits for
the answer at most ``wait_seconds``, or until the node's deadline (:mod:`segflow.adapters.call_deadline`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError, ConnectionError, ReadTimeoutError

from segflow.declaration import INVOKE_FUNCTIONS_CONTEXT
from segflow.domain.errors import LambdaThrottled, LambdaTimeout, LambdaUnavailable, NodeFailure


def _client_failure(function: str, error: ClientError) -> NodeFailure:
    code = error.response.get("Error", {}).get("Code", "")
    message = error.response.get("Error", {}).get("Message", "") or str(error)
    if code == "ResourceNotFoundException":
        return NodeFailure(f"lambda {function!r} does not exist: {message}", "LambdaFunctionNotFound")
    if code in ("AccessDeniedException", "AccessDenied"):
        return NodeFailure(
            f"lambda {function!r} may not be invoked by segflow: deploy the stack with "
            f"-c {INVOKE_FUNCTIONS_CONTEXT}=<its name> ({message})",
            "LambdaAccessDenied",
        )
    if code in ("TooManyRequestsException", "EC2ThrottledException"):
        return LambdaThrottled(f"lambda {function!r}: {code}: {message}")
    if code == "RequestTooLargeException":
        return NodeFailure(f"lambda {function!r}: {message}", "PayloadTooLarge")
    if code in ("ServiceException", "ResourceNotReadyException", "ResourceConflictException") or (
        error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500
    ):
        return LambdaUnavailable(f"lambda {function!r}: {code}: {message}")
    return NodeFailure(f"lambda {function!r}: {code}: {message}", "LambdaError")


class Functions:
    def __init__(self, client_for: Callable[[float], Any]) -> None:
        """``client_for(read_timeout)``: a Lambda client that waits that long for an answer."""
        self._client_for = client_for

    def invoke(
        self,
        function_name: str,
        qualifier: str | None,
        payload: bytes,
        client_context: str,
        wait_seconds: float,
    ) -> tuple[bytes, bool]:
        function = f"{function_name}:{qualifier}" if qualifier else function_name
        request: dict[str, Any] = {
            "FunctionName": function_name,
            "InvocationType": "RequestResponse",
            "Payload": payload,
            "ClientContext": client_context,
        }
        if qualifier:
            request["Qualifier"] = qualifier
        try:
            response = self._client_for(wait_seconds).invoke(**request)
            raw: bytes = response["Payload"].read()
        except ClientError as error:
            raise _client_failure(function, error) from error
        except ReadTimeoutError as error:
            raise LambdaTimeout(f"lambda {function!r} did not answer within {wait_seconds:g}s") from error
        except ConnectionError as error:
            raise LambdaUnavailable(f"lambda {function!r}: {error}") from error
        return raw, bool(response.get("FunctionError"))
