"""``segflow deployments``: the deployment log of deploy/model nodes, newest first."""

from __future__ import annotations

import argparse
from typing import Any

from segflow_cli.client import SegflowClient
from segflow_cli.common import EXIT_INVALID, EXIT_OK, CliError
from segflow_cli.locate import locate
from segflow_cli.rendering.deployments import deployment_lines
from segflow_cli.rendering.text import emit, emit_json
from segflow_cli.target import add_target_options, check_tenant


def cmd_deployments(args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise CliError(f"--limit {args.limit}: give at least 1", EXIT_INVALID)
    client = SegflowClient.of(locate(args.endpoint, args.stage), check_tenant(args.tenant))
    records = client.deployments(args.model, args.limit)
    if args.json:
        emit_json([record.model_dump(mode="json", exclude_none=True) for record in records])
    elif not records:
        emit("no deployments" + (f" of model {args.model}" if args.model else ""))
    else:
        for line in deployment_lines(records, args.verbose):
            emit(line)
    return EXIT_OK


def add_commands(commands: Any) -> None:
    deployments = commands.add_parser("deployments", help="the model deployments, newest first")
    deployments.add_argument("--model", metavar="MODEL_ID", help="only this model's deployments")
    deployments.add_argument("--limit", type=int, default=50, metavar="N", help="at most N (default 50)")
    deployments.add_argument(
        "-v", "--verbose", action="store_true", help="every status transition of each deployment"
    )
    add_target_options(deployments)
    deployments.set_defaults(handler=cmd_deployments)
