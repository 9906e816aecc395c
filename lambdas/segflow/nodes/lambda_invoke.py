"""``action`` with ``action_type: lambda_invoke``: calls one of your Lambda functions, waits for its answer.

The invocation is synchronous (RequestResponse); the function's JSON result is the node's output. A function
that raises fails the node with the function's own ``errorType`` (``ValueError``, ``OrderRejected``), so retry
policies and users see the function's error, not a generic one. The function receives segflow's idempotency
key, execution and node in ``context.client_context.custom``, so it can recognise a repeated delivery.

segflow waits for the answer at most until the node's deadline (the time left before its segment must yield),
and does not start the node with less time left than ``timeout_seconds`` (default: Lambda's 15 minutes) while
the next invocation would give it more: a synchronous invoke that is cut goes on running in Lambda, and the
node's next run invokes the function again (same idempotency key).

The stack grants ``lambda:InvokeFunction`` on exactly the functions named in the CDK context
``invoke_functions``; any other function answers AccessDenied.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from functools import cache
from typing import Any

from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionError, ReadTimeoutError
from pydantic import BaseModel, ConfigDict, Field, field_validator

from segflow.adapters.call_deadline import limited_by_node_deadline
from segflow.declaration import INVOKE_FUNCTIONS_CONTEXT
from segflow.domain.errors import NodeFailure
from segflow.domain.limits import (
    LAMBDA_CLIENT_CONTEXT_MAX_BYTES,
    LAMBDA_INVOKE_MAX_PAYLOAD_BYTES,
    LAMBDA_INVOKE_MAX_WAIT_SECONDS,
)
from segflow.nodes.base import NodeContext, NodeResult, NodeType

# Lambda's own pattern for FunctionName (a name, a partial ARN or a full ARN, each with an optional
# ":qualifier") and for Qualifier.
_FUNCTION_NAME = re.compile(
    r"^(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?"
    r"([a-zA-Z0-9-_]{1,64})(:(\$LATEST|[a-zA-Z0-9-_]{1,128}))?$"
)
_QUALIFIER = re.compile(r"^(\$LATEST|[a-zA-Z0-9-_]{1,128})$")


class FunctionFailed(NodeFailure):
    """The function raised; ``error_type`` is its own ``errorType``. Retryable: a retry policy decides, by
    naming the function's error types in ``retry_on``."""

    retryable = True


class LambdaThrottled(NodeFailure):
    error_type = "LambdaThrottled"
    retryable = True


class LambdaUnavailable(NodeFailure):
    error_type = "LambdaUnavailable"
    retryable = True


class LambdaTimeout(NodeFailure):
    error_type = "LambdaTimeout"
    retryable = True


class LambdaInvokeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    function_name: str = Field(
        min_length=1,
        max_length=170,
        description="The function's name, partial ARN or ARN (optionally ':alias'); the stack must name it "
        f"in -c {INVOKE_FUNCTIONS_CONTEXT}=...",
    )
    payload: Any = Field(default=None, description="The event the function receives: any JSON (templates).")
    qualifier: str | None = Field(default=None, description="A version or alias; default: $LATEST.")

    @field_validator("function_name")
    @classmethod
    def _function_name(cls, name: str) -> str:
        if "{{" not in name and not _FUNCTION_NAME.match(name):
            raise ValueError(
                f"{name!r} is not a Lambda function name, partial ARN or ARN "
                "(letters, digits, '-' and '_', up to 64 characters, optionally ':version' or ':alias')"
            )
        return name

    @field_validator("qualifier")
    @classmethod
    def _qualifier(cls, qualifier: str | None) -> str | None:
        if qualifier is not None and "{{" not in qualifier and not _QUALIFIER.match(qualifier):
            raise ValueError(f"{qualifier!r} is not a version or alias ($LATEST, 1, live, ...)")
        return qualifier


_lock = threading.Lock()


@cache
def _lambda_client(read_timeout: float) -> Any:
    import boto3

    # No SDK retries: a retried read timeout would run the function a second time. Throttling surfaces as
    # LambdaThrottled, which the node's retry policy may retry.
    config = Config(
        read_timeout=read_timeout,
        connect_timeout=10,
        retries={"mode": "standard", "max_attempts": 1},
        max_pool_connections=50,
    )
    return limited_by_node_deadline(
        boto3.session.Session().client("lambda", config=config), operations=("Invoke",)
    )


def lambda_client(read_timeout: float = LAMBDA_INVOKE_MAX_WAIT_SECONDS) -> Any:
    with _lock:
        return _lambda_client(read_timeout)


def _client_context(context: NodeContext) -> str:
    custom = {
        "segflow_idempotency_key": context.idempotency_key,
        "segflow_execution_id": context.execution.execution_id,
        "segflow_workflow_id": context.execution.workflow_id,
        "segflow_node_id": context.node_id,
        "segflow_attempt": str(context.attempt),
    }
    encoded = base64.b64encode(json.dumps({"custom": custom}, separators=(",", ":")).encode()).decode()
    if len(encoded) > LAMBDA_CLIENT_CONTEXT_MAX_BYTES:  # very long ids: the key alone still fits
        custom = {"segflow_idempotency_key": context.idempotency_key[:2_000]}
        encoded = base64.b64encode(json.dumps({"custom": custom}).encode()).decode()
    return encoded


def _described(config: LambdaInvokeConfig) -> str:
    return f"{config.function_name}:{config.qualifier}" if config.qualifier else config.function_name


def _function_failure(function: str, raw: bytes) -> FunctionFailed:
    try:
        error = json.loads(raw) if raw else {}
    except ValueError:
        error = {"errorMessage": raw.decode("utf-8", errors="replace")}
    if not isinstance(error, dict):
        error = {"errorMessage": json.dumps(error)}
    error_type = str(error.get("errorType") or "FunctionError")
    message = str(error.get("errorMessage") or "(no message)")
    where = ""
    trace = error.get("stackTrace")
    if isinstance(trace, list) and trace:  # the innermost frame says where it raised
        where = " at " + " ".join(str(trace[-1]).split())
    return FunctionFailed(f"lambda {function!r} raised {error_type}: {message}{where}", error_type)


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


def execute(context: NodeContext) -> NodeResult:
    config: LambdaInvokeConfig = context.config
    function = _described(config)
    payload = json.dumps(config.payload, separators=(",", ":")).encode()
    if len(payload) > LAMBDA_INVOKE_MAX_PAYLOAD_BYTES:
        raise NodeFailure(
            f"payload for lambda {function!r} is {len(payload):,} bytes; Lambda accepts at most "
            f"{LAMBDA_INVOKE_MAX_PAYLOAD_BYTES:,} bytes for a synchronous invoke (pass a reference, "
            "e.g. an S3 key, instead)",
            "PayloadTooLarge",
        )
    request: dict[str, Any] = {
        "FunctionName": config.function_name,
        "InvocationType": "RequestResponse",
        "Payload": payload,
        "ClientContext": _client_context(context),
    }
    if config.qualifier:
        request["Qualifier"] = config.qualifier
    wait = min(context.timeout_seconds or LAMBDA_INVOKE_MAX_WAIT_SECONDS, LAMBDA_INVOKE_MAX_WAIT_SECONDS)
    try:
        response = lambda_client(wait).invoke(**request)
        raw: bytes = response["Payload"].read()
    except ClientError as error:
        raise _client_failure(function, error) from error
    except ReadTimeoutError as error:
        raise LambdaTimeout(f"lambda {function!r} did not answer within {wait:g}s") from error
    except ConnectionError as error:
        raise LambdaUnavailable(f"lambda {function!r}: {error}") from error
    if response.get("FunctionError"):
        raise _function_failure(function, raw)
    try:
        output = json.loads(raw) if raw else None
    except ValueError:  # a custom runtime may answer with any bytes
        output = raw.decode("utf-8", errors="replace")
    return NodeResult(output=output)


NODE_TYPE = NodeType(
    type="action",
    subtype="lambda_invoke",
    subtype_field="action_type",
    config_model=LambdaInvokeConfig,
    description="Invokes one of your Lambda functions synchronously with a JSON payload; its result is the "
    "output, its errorType the node's error.",
    executor=execute,
    blocks_for=lambda raw: LAMBDA_INVOKE_MAX_WAIT_SECONDS,
)
