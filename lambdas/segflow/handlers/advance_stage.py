"""AdvanceStage: verify the finished stage from the records, return the cursor for what runs next."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from segflow.adapters import factory
from segflow.contracts import AdvanceStageEvent
from segflow.engine.history_budget import budgeted
from segflow.engine.stage_advancer import advance_stage
from segflow.handlers.errors import concise_errors
from segflow.handlers.invocation_log import invocation_log_context

logger = Logger()


@invocation_log_context(logger)
@concise_errors(logger)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    parsed = AdvanceStageEvent.model_validate(event)
    cursor = advance_stage(factory.execution_records(), factory.manifests(), parsed.statebag, parsed.stage)
    return budgeted(cursor, parsed.history_events).model_dump(exclude_none=True)
