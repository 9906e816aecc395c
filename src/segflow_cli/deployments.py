"""``segflow deployments``: the deployment log of deploy/model nodes, newest first."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from segflow_cli.client import SegflowClient
from segflow_cli.common import EXIT_INVALID, EXIT_OK, CliError, emit, emit_json, table
from segflow_cli.locate import locate
from segflow_cli.versions import check_tenant


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")


def cmd_deployments(args: argparse.Namespace) -> int:
    stack = locate(args.endpoint, args.stage)
    client = SegflowClient(stack.session, stack.resources, check_tenant(args.tenant))
    if not stack.resources.deployments_table:
        raise CliError(f"{stack.description} has no deployment log (deployed before model deployments)")
    if args.limit < 1:
        raise CliError(f"--limit {args.limit}: give at least 1", EXIT_INVALID)
    records = client.deployments(args.model, args.limit)
    if args.json:
        emit_json([record.model_dump(mode="json", exclude_none=True) for record in records])
        return EXIT_OK
    if not records:
        emit("no deployments" + (f" of model {args.model}" if args.model else ""))
        return EXIT_OK
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
    headers = ["started (UTC)", "model", "version", "env", "strategy", "status", "previous", "endpoint", "by"]
    for line in table(headers, rows):
        emit(line)
    if args.verbose or len(records) == 1:
        for record in records:
            emit()
            emit(f"{record.deployment_id}  (execution {record.execution_id}, node {record.node_id})")
            for transition in record.transitions:
                emit(f"  {_when(transition.at)}  {transition.status:20} {transition.detail or ''}".rstrip())
            if record.failure_reason:
                emit(f"  reason: {record.failure_reason}")
    return EXIT_OK


def add_commands(commands: Any, add_target_options: Any) -> None:
    deployments = commands.add_parser("deployments", help="the model deployments, newest first")
    deployments.add_argument("--model", metavar="MODEL_ID", help="only this model's deployments")
    deployments.add_argument("--limit", type=int, default=50, metavar="N", help="at most N (default 50)")
    deployments.add_argument(
        "-v", "--verbose", action="store_true", help="every status transition of each deployment"
    )
    add_target_options(deployments)
    deployments.set_defaults(handler=cmd_deployments)
