"""Execution-level events: started, finished, and the ends Step Functions reports that no handler saw."""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

from segflow.domain.errors import ExecutionFinished
from segflow.domain.ids import split_execution_name
from segflow.domain.limits import ERROR_MESSAGE_MAX_CHARS
from segflow.domain.records import ExecutionIdentity, ExecutionRecord
from segflow.domain.statuses import TERMINAL_EXECUTION_STATUSES, ExecutionStatus, event_state
from segflow.engine.ports import ExecutionLog, ExecutionRecords
from segflow.events.models import EventDraft


def identity_of(record: ExecutionRecord) -> ExecutionIdentity:
    return ExecutionIdentity(
        record.tenant_id, record.execution_id, record.workflow_id, record.workflow_version
    )


def started_draft(reason: str | None = None) -> EventDraft:
    return EventDraft(
        kind="execution", previous_state="pending", new_state="running", reason=reason, timestamp=time.time()
    )


def _duration_ms(started_at: str) -> int | None:
    try:
        return max(0, int((time.time() - datetime.fromisoformat(started_at).timestamp()) * 1000))
    except ValueError:
        return None


def finish(
    journal: ExecutionLog,
    execution: ExecutionIdentity,
    started_at: str,
    status: ExecutionStatus,
    fields: dict[str, Any],
    reason: str | None = None,
    error: str | None = None,
    completed: int | None = None,
) -> bool:
    """Record the execution's end and its event in one transaction; False if its end was recorded already.
    ``completed``: the nodes finished, when the caller counted them from the records."""
    draft = EventDraft(
        kind="execution",
        previous_state="running",
        new_state=event_state(status),
        reason=reason,
        timestamp=time.time(),
        duration_ms=_duration_ms(started_at),
        error=error,
    )
    try:
        journal.record_end(execution, draft, {"status": status, **fields}, completed=completed)
    except ExecutionFinished:
        return False
    return True


def execution_of_status_change(detail: dict[str, Any]) -> tuple[str, str] | None:
    """(tenant, execution id) of an EventBridge "Step Functions Execution Status Change" detail; a
    continuation part counts as the execution it continues. None for an input segflow did not write, or a
    name that is not ``<the input's tenant>.<id>`` (InitializeStateBag refused it: it has no record, and an
    execution of that id may be another one's)."""
    try:
        request = json.loads(detail.get("input") or "{}")
    except ValueError:
        return None
    if not isinstance(request, dict):
        return None
    tenant = str(request.get("tenant_id") or "default")
    named, execution_id = split_execution_name(str(detail.get("name") or ""))
    if named != tenant:
        return None
    continuation = request.get("continuation") or {}
    return tenant, str(continuation.get("execution_id") or execution_id)


def record_status_change(
    records: ExecutionRecords, journal: ExecutionLog, detail: dict[str, Any], now: str
) -> bool:
    """A terminal status no handler recorded (StopExecution, the execution's timeout, a failure outside a
    handler): mark the record and publish the event. False if segflow had recorded the end already."""
    status = detail.get("status")
    found = execution_of_status_change(detail)
    if status not in TERMINAL_EXECUTION_STATUSES or found is None:
        return False
    record = records.get_execution(*found)
    if record is None or record.status != "RUNNING":
        return False
    error = detail.get("error") or ("States.Timeout" if status == "TIMED_OUT" else None)
    cause = (detail.get("cause") or "")[:ERROR_MESSAGE_MAX_CHARS] or None
    reason = {
        "ABORTED": "stopped (StopExecution)",
        "TIMED_OUT": "the execution timed out",
        "FAILED": "failed outside a segflow handler",
    }.get(status)
    return finish(
        journal,
        identity_of(record),
        record.started_at,
        status,
        {"finished_at": now, "error": error, "cause": cause},
        reason=reason,
        error=f"{error}: {cause}" if error and cause else error,
    )
