"""ContinueExecution: the history is near its limit; start the next part of the execution, return its ARN."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from segflow.adapters import factory
from segflow.contracts import ContinueEvent, ContinueResult
from segflow.engine.continuation import continuation_request, part_name
from segflow.handlers.errors import concise_errors
from segflow.handlers.invocation_log import invocation_log_context

logger = Logger()


@invocation_log_context(logger)
@concise_errors(logger)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    parsed = ContinueEvent.model_validate(event)
    statebag = parsed.statebag
    part = statebag.part + 1
    name = part_name(statebag.tenant_id, statebag.execution_id, part)
    # Recorded first: the part's InitializeStateBag checks it. A retry finds it recorded and starts the
    # same execution again, which Step Functions answers with the running one (same name, same input).
    factory.execution_records().record_continuation(statebag.tenant_id, statebag.execution_id, part, name)
    request = continuation_request(statebag, parsed.stage, parsed.wait_seconds)
    arn = factory.execution_launcher().start_or_find(request, name)
    logger.info(
        "continued", extra={"execution_id": statebag.execution_id, "part": part, "stage": parsed.stage}
    )
    return ContinueResult(execution_id=statebag.execution_id, part=part, continued_as=arn).model_dump()
