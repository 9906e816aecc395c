"""InitializeStateBag: validate and partition the workflow, return a pointer-only statebag."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from segflow.adapters import factory
from segflow.contracts import ExecutionRequest, InitializeEvent
from segflow.domain.ids import execution_id_in_name
from segflow.engine.initializer import Initializer
from segflow.handlers.errors import concise_errors
from segflow.handlers.invocation_log import invocation_log_context

logger = Logger()


@invocation_log_context(logger)
@concise_errors(logger)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    parsed = InitializeEvent.model_validate(event)
    request = ExecutionRequest.model_validate(parsed.request)
    execution_id = execution_id_in_name(request.tenant_id, parsed.execution_name)
    records = factory.execution_records()
    initializer = Initializer(
        records,
        factory.manifests(),
        factory.node_outputs(),
        factory.workflow_versions(),
        factory.journal(records),
    )
    result = initializer.initialize(request, execution_id, parsed.started_at)
    logger.info(
        "initialized",
        extra={
            "tenant_id": request.tenant_id,
            "execution_id": result.statebag.execution_id,
            "part": result.statebag.part,
            "workflow_version": result.statebag.workflow_version,
            "segments": result.statebag.segment_count,
            "stages": result.statebag.stage_count,
        },
    )
    return result.model_dump(exclude_none=True)
