"""FinalizeExecution's logic: the execution's outcome, recorded once, and its final output shaped small.

A success reads what does not depend on the workflow's size: the plan's summary, the records of the sinks
(the output) and of the judgments whose routes decide what was skipped (none in a workflow without
judgments; :mod:`segflow.engine.skips`). Every other node succeeded: the stages completed only when each of
their segments did, and a segment only when each of its nodes succeeded or was skipped. A failure lists the
records, as it must: which nodes ran before it is known only to them.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from segflow.contracts import FinalizeEvent, FinalizeResult
from segflow.domain.limits import ERROR_MESSAGE_MAX_CHARS, FINAL_OUTPUT_INLINE_MAX_BYTES
from segflow.domain.records import ExecutionIdentity, NodeRecord
from segflow.domain.statuses import TERMINAL_NODE_STATUSES
from segflow.engine.execution_events import finish
from segflow.engine.ports import ExecutionLog, ExecutionRecords, NodeOutputs, PlanStore
from segflow.engine.skips import count_skipped, records_needed


def _now() -> str:
    return datetime.now(UTC).isoformat()


def describe_error(error: dict[str, Any] | None) -> tuple[str, str]:
    """(error name, readable cause) from a Catch result ``{"Error", "Cause"}``."""
    if not error:
        return "Segflow.ExecutionFailed", "the execution failed"
    name = str(error.get("Error") or "Segflow.ExecutionFailed")
    cause = error.get("Cause") or ""
    try:
        parsed = json.loads(cause)
        if isinstance(parsed, dict) and "errorMessage" in parsed:
            cause = str(parsed["errorMessage"])
    except (TypeError, ValueError):
        pass
    return name, str(cause)[:ERROR_MESSAGE_MAX_CHARS]


def _recorded_summary(nodes: list[NodeRecord]) -> tuple[dict[str, int], int]:
    """(nodes per status, nodes finished) of the records."""
    summary: dict[str, int] = dict(Counter(record.status for record in nodes))
    return summary, sum(1 for record in nodes if record.status in TERMINAL_NODE_STATUSES)


def _succeeded_summary(node_count: int, skipped: int) -> dict[str, int]:
    """Nodes per status of an execution that succeeded: every node succeeded but those skipped."""
    counts = {"succeeded": node_count - skipped, "skipped": skipped}
    return {status: count for status, count in counts.items() if count}


def finalize(
    records: ExecutionRecords,
    manifests: PlanStore,
    outputs: NodeOutputs,
    event: FinalizeEvent,
    journal: ExecutionLog,
) -> FinalizeResult:
    if event.statebag is None:
        name, cause = describe_error(event.error)
        return FinalizeResult(execution_id="", workflow_id="", status="FAILED", error=name, cause=cause)
    statebag = event.statebag
    tenant, execution_id = statebag.tenant_id, statebag.execution_id
    identity = ExecutionIdentity(tenant, execution_id, statebag.workflow_id, statebag.workflow_version)

    if event.outcome == "FAILED":
        summary, completed = _recorded_summary(records.list_nodes(tenant, execution_id))
        name, cause = describe_error(event.error)
        finish(
            journal,
            identity,
            statebag.started_at,
            "FAILED",
            {"finished_at": _now(), "error": name, "cause": cause, "summary": summary},
            error=f"{name}: {cause}",
            completed=completed,
        )
        return FinalizeResult(
            execution_id=execution_id,
            workflow_id=statebag.workflow_id,
            status="FAILED",
            nodes=summary,
            error=name,
            cause=cause,
        )

    plan = manifests.read_plan_summary(statebag.manifest_prefix)
    sinks = manifests.read_sinks(statebag.manifest_prefix)
    skipped: int | None = None
    if plan is not None:
        rule = plan[0].skips
        skipped = count_skipped(rule, records.get_nodes(tenant, execution_id, records_needed(rule)))
    if skipped is None:  # a plan stored without its summary (planned before plans were shared)
        nodes = records.list_nodes(tenant, execution_id)
        summary, completed = _recorded_summary(nodes)
        by_id = {record.node_id: record for record in nodes}
    else:
        summary, completed = _succeeded_summary(statebag.node_count, skipped), statebag.node_count
        by_id = records.get_nodes(tenant, execution_id, sinks)
    result: dict[str, Any] = {}
    for sink in sinks:
        record = by_id.get(sink)
        if record is not None and record.status == "succeeded":
            result[sink] = outputs.load(record.output_json, record.output_key)
    stored = outputs.save_execution_data(
        tenant, execution_id, "output", result, inline_max_bytes=FINAL_OUTPUT_INLINE_MAX_BYTES
    )
    finish(
        journal,
        identity,
        statebag.started_at,
        "SUCCEEDED",
        {
            "finished_at": _now(),
            "output_json": stored.inline_json,
            "output_key": stored.s3_key,
            "summary": summary,
        },
        completed=completed,
    )
    return FinalizeResult(
        execution_id=execution_id,
        workflow_id=statebag.workflow_id,
        status="SUCCEEDED",
        output=json.loads(stored.inline_json) if stored.inline_json is not None else None,
        output_ref=stored.s3_key,
        nodes=summary,
    )
