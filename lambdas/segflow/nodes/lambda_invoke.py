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
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from segflow.declaration import INVOKE_FUNCTIONS_CONTEXT
from segflow.domain.errors import NodeFailure
from segflow.domain.limits import (
    LAMBDA_CLIENT_CONTEXT_MAX_BYTES,
    LAMBDA_INVOKE_MAX_CONCURRENCY,
    LAMBDA_INVOKE_MAX_PAYLOAD_BYTES,
    LAMBDA_INVOKE_MAX_WAIT_SECONDS,
)
from segflow.nodes.base import NodeContext, NodeResult, NodeType

# Lambda's own pattern for FunctionName (a name, a partial ARN or a full ARN, each with an optional
# ":qualifier") and for Qualifier.
_FUNCTION_NAME = re.compile(
    r"(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?"
    r"([a-zA-Z0-9-_]{1,64})(:(\$LATEST|[a-zA-Z0-9-_]{1,128}))?"
)
_QUALIFIER = re.compile(r"(\$LATEST|[a-zA-Z0-9-_]{1,128})")


class FunctionFailed(NodeFailure):
    """The function raised; ``error_type`` is its own ``errorType``. Retryable: a retry policy decides, by
    naming the function's error types in ``retry_on``."""

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
        if "{{" not in name and not _FUNCTION_NAME.fullmatch(name):
            raise ValueError(
                f"{name!r} is not a Lambda function name, partial ARN or ARN "
                "(letters, digits, '-' and '_', up to 64 characters, optionally ':version' or ':alias')"
            )
        return name

    @field_validator("qualifier")
    @classmethod
    def _qualifier(cls, qualifier: str | None) -> str | None:
        if qualifier is not None and "{{" not in qualifier and not _QUALIFIER.fullmatch(qualifier):
            raise ValueError(f"{qualifier!r} is not a version or alias ($LATEST, 1, live, ...)")
        return qualifier


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
    wait = min(context.timeout_seconds or LAMBDA_INVOKE_MAX_WAIT_SECONDS, LAMBDA_INVOKE_MAX_WAIT_SECONDS)
    raw, raised = context.services.functions.invoke(
        config.function_name, config.qualifier, payload, _client_context(context), wait
    )
    if raised:
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
    max_concurrency=LAMBDA_INVOKE_MAX_CONCURRENCY,
)
