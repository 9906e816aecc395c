"""How model deployments are shown: a table newest first, and each one's status transitions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from segflow.deployments.models import DeploymentRecord

from segflow_cli.rendering.text import table

HEADERS = ("started (UTC)", "model", "version", "env", "strategy", "status", "previous", "endpoint", "by")


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")


def deployment_lines(records: Sequence[DeploymentRecord], verbose: bool = False) -> list[str]:
    """The table; with ``verbose`` (or a single deployment) each one's transitions under it."""
    rows = [
        [
            _when(r.started_at),
            r.model_id,
            r.version,
            r.environment,
            r.strategy,
            r.status,
            r.previous_version or "-",
            r.endpoint,
            r.started_by,
        ]
        for r in records
    ]
    lines = table(HEADERS, rows)
    if verbose or len(records) == 1:
        for record in records:
            lines.append("")
            lines.append(f"{record.deployment_id}  (execution {record.execution_id}, node {record.node_id})")
            for transition in record.transitions:
                when, status = _when(transition.at), transition.status
                lines.append(f"  {when}  {status:20} {transition.detail or ''}".rstrip())
            if record.failure_reason:
                lines.append(f"  reason: {record.failure_reason}")
    return lines
