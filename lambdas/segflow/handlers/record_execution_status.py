"""RecordExecutionStatus: the EventBridge rule's target for "Step Functions Execution Status Change".

Executions that end without a handler seeing it (ABORTED by StopExecution, TIMED_OUT, FAILED outside a
handler) get their record closed and a terminal event, so watchers learn of it like any other end.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent

from segflow.adapters import factory
from segflow.engine.execution_events import record_status_change
from segflow.handlers.errors import concise_errors
from segflow.handlers.invocation_log import invocation_log_context

logger = Logger()


@invocation_log_context(logger)
@concise_errors(logger)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    detail = EventBridgeEvent(event).detail
    records = factory.execution_records()
    recorded = record_status_change(records, factory.journal(records), detail, datetime.now(UTC).isoformat())
    logger.info(
        "execution status change",
        extra={"execution": detail.get("name"), "status": detail.get("status"), "recorded": recorded},
    )
    return {"recorded": recorded}
