"""FinalizeExecution: record the outcome; return the final output (success) or the error (failure)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from segflow.adapters import factory
from segflow.contracts import FinalizeEvent
from segflow.engine.finalizer import finalize
from segflow.handlers.errors import concise_errors
from segflow.handlers.invocation_log import invocation_log_context

logger = Logger()


@invocation_log_context(logger)
@concise_errors(logger)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    parsed = FinalizeEvent.model_validate(event)
    records = factory.execution_records()
    journal = factory.journal(records, context.get_remaining_time_in_millis)
    result = finalize(records, factory.manifests(), factory.node_outputs(), parsed, journal)
    logger.info(
        "finalized",
        extra={"execution_id": result.execution_id, "status": result.status, "nodes": result.nodes},
    )
    return result.model_dump(exclude_none=True)
