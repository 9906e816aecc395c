"""How executions are shown: the run's outcome, the status page, the execution log and the checkpoints."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from segflow.domain.statuses import TERMINAL_EXECUTION_STATUSES
from segflow.events.models import ExecutionEvent
from segflow.services.executions import Checkpoint

from segflow_cli.rendering.nodes import NodeView
from segflow_cli.rendering.progress import Glyphs, format_duration, summary_line, table_lines


def iso(value: Any) -> str | None:
    return value.isoformat(timespec="milliseconds") if isinstance(value, datetime) else None


def _iso_epoch(epoch: float | None) -> str | None:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds") if epoch else None


def run_seconds(description: Mapping[str, Any]) -> float | None:
    started, stopped = description.get("startDate"), description.get("stopDate")
    if isinstance(started, datetime) and isinstance(stopped, datetime):
        return (stopped - started).total_seconds()
    return None


def outcome_line(description: Mapping[str, Any], views: Sequence[NodeView], separator: str) -> str:
    """``SUCCEEDED in 1.23 s · 3/3 done``: how a followed execution ended."""
    seconds = run_seconds(description)
    took = f" in {seconds:.2f} s" if seconds is not None else ""
    return f"{description['status']}{took}{separator}{summary_line(views, separator)}"


def failure_lines(result: Mapping[str, Any]) -> list[str]:
    """``error: …`` and ``cause: …`` (stderr) of an execution that did not succeed."""
    lines = [f"error: {result.get('error') or result['status']}"]
    if result.get("cause"):
        lines.append(f"cause: {result['cause']}")
    return lines


def status_document(
    result: Mapping[str, Any],
    description: Mapping[str, Any],
    workflow: Mapping[str, Any],
    views: Sequence[NodeView],
    version: int | None = None,
) -> dict[str, Any]:
    """``segflow status --json``; ``result`` is the execution's outcome (``output``, ``error``, ``cause``)."""
    return {
        "execution_arn": result["execution_arn"],
        "workflow_id": workflow.get("workflow_id"),
        "version": version,
        "status": description["status"],
        "started": iso(description.get("startDate")),
        "stopped": iso(description.get("stopDate")),
        "nodes": [asdict(view) for view in views],
        **{key: value for key, value in result.items() if key not in ("execution_arn", "status")},
    }


def status_lines(
    arn: str,
    description: Mapping[str, Any],
    workflow: Mapping[str, Any],
    views: Sequence[NodeView],
    glyphs: Glyphs,
    version: int | None = None,
) -> list[str]:
    """``segflow status``: the execution, its workflow and times, the node table, the error if it failed."""
    status = description["status"]
    pinned = f" (version {version})" if version is not None else ""
    lines = [
        f"execution  {arn}",
        f"workflow   {workflow.get('workflow_id') or '?'}{pinned}",
        f"status     {status}",
        f"started    {iso(description.get('startDate')) or '-'}",
    ]
    seconds = run_seconds(description)
    if seconds is not None:
        lines.append(f"stopped    {iso(description['stopDate'])} ({seconds:.2f} s)")
    lines.append("")
    lines += table_lines(views, width=10_000, max_rows=max(1, len(views)), glyphs=glyphs)
    if status in TERMINAL_EXECUTION_STATUSES and status != "SUCCEEDED":
        lines.append("")
        lines.append(f"error      {description.get('error') or '-'}")
        lines.append(f"cause      {description.get('cause') or '-'}")
    return lines


def event_line(event: ExecutionEvent) -> str:
    """One state change of the execution log: seq, time, subject, transition, progress and detail."""
    when = datetime.fromtimestamp(event.timestamp, UTC).isoformat(timespec="milliseconds")
    subject = event.node_id or "execution"
    detail = " ".join(
        part
        for part in (
            f"({event.reason})" if event.reason else "",
            format_duration(event.duration_ms) if event.duration_ms is not None else "",
            event.error or "",
        )
        if part
    )
    return (
        f"{event.seq:>6} {when} {subject}: {event.previous_state} -> {event.new_state}"
        f" [{event.progress.completed}/{event.progress.total}] {detail}".rstrip()
    )


def checkpoint_rows(checkpoints: Sequence[Checkpoint]) -> list[dict[str, Any]]:
    """``segflow checkpoints --json``: every node outcome, in the order they were reached."""
    return [
        {**asdict(checkpoint), "finished_at": _iso_epoch(checkpoint.finished_at)}
        for checkpoint in checkpoints
    ]


def checkpoint_lines(arn: str, status: str, rows: Sequence[Mapping[str, Any]]) -> list[str]:
    lines = [
        f"execution  {arn} ({status})",
        f"{'seq':>4}  {'node':24} {'status':10} {'try':>3}  {'finished':29} output",
    ]
    for row in rows:
        where = row["output_ref"] or (f"inline, {row['output_bytes']} B" if row["output_bytes"] else "-")
        reused = f"  (reused from {row['reused_from']})" if row["reused_from"] else ""
        lines.append(
            f"{row['sequence']:>4}  {row['node_id'][:24]:24} {row['status']:10} {row['attempt']:>3}  "
            f"{row['finished_at'] or '-':29} {where}{reused}"
        )
    return lines
