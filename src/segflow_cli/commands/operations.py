"""Operating executions day to day: list them (``segflow executions``) and read an output whole
(``segflow output``)."""

from __future__ import annotations

import argparse
import json
import urllib.error
import urllib.request
from typing import Any, get_args

from segflow.domain.ids import execution_id_of
from segflow.domain.limits import EXECUTION_LIST_PAGE_MAX
from segflow.domain.statuses import ExecutionStatus

from segflow_cli.api_client import ApiError
from segflow_cli.common import EXIT_FAILED, EXIT_INVALID, EXIT_OK, CliError
from segflow_cli.rendering.text import emit, emit_json, table
from segflow_cli.target import add_target_options, connect

STATUSES = get_args(ExecutionStatus)
LINK_TIMEOUT_SECONDS = 60.0


def cmd_executions(args: argparse.Namespace) -> int:
    """The caller's executions, newest first, page after page up to ``--limit``."""
    if args.limit < 1:
        raise CliError(f"--limit {args.limit}: at least 1", EXIT_INVALID)
    _, api = connect(args)
    found: list[dict[str, Any]] = []
    token: str | None = None
    while len(found) < args.limit:
        page_size = min(EXECUTION_LIST_PAGE_MAX, args.limit - len(found))
        try:
            page = api.list_executions(args.workflow, args.status, page_size, token)
        except ApiError as error:
            if error.status == 404 and error.from_gateway:
                raise CliError(
                    "this deployment's API cannot list executions; update it", EXIT_FAILED
                ) from None
            raise
        found += page["executions"]
        token = page.get("next_token")
        if not token:
            break
    if args.json:
        emit_json({"executions": found, "next_token": token})
        return EXIT_OK
    if not found:
        emit("no executions")
        return EXIT_OK
    rows = [
        (e["execution_id"], e["workflow_id"], e.get("version"), e["status"], e["started_at"], e.get("error"))
        for e in found
    ]
    for line in table(("EXECUTION", "WORKFLOW", "VERSION", "STATUS", "STARTED", "ERROR"), rows):
        emit(line)
    if token:
        emit(f"(more than {args.limit}: raise --limit, or filter with --workflow, --status)")
    return EXIT_OK


def _fetch_link(url: str) -> Any:
    """The output behind the API's short-lived link (an output too large for an API answer)."""
    try:
        with urllib.request.urlopen(url, timeout=LINK_TIMEOUT_SECONDS) as response:
            return json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise CliError(f"cannot read the output from its link ({error})", EXIT_FAILED) from None


def cmd_output(args: argparse.Namespace) -> int:
    """A node's output (or, without NODE, the execution's), whole: loaded from S3 when it is large."""
    execution_id = execution_id_of(args.execution)
    _, api = connect(args)
    try:
        if args.node_id is None:
            answer = api.execution_output(execution_id)
        else:
            answer = api.node(execution_id, args.node_id)
    except ApiError as error:
        if error.status == 404 and not error.from_gateway:
            raise CliError(error.lines(), EXIT_INVALID) from None
        raise
    output = answer.get("output")
    if output is None and answer.get("output_url"):
        output = _fetch_link(str(answer["output_url"]))
    if args.node_id is None and output is None and answer.get("status") != "SUCCEEDED":
        raise CliError(f"{execution_id} is {answer.get('status')}: it has no output", EXIT_FAILED)
    if args.json or not isinstance(output, str):
        emit_json(output)
    else:
        emit(output)
    return EXIT_OK


def add_commands(commands: Any) -> None:
    executions = commands.add_parser("executions", help="your executions, newest first (filter, --json)")
    executions.add_argument("--workflow", metavar="WORKFLOW_ID", help="only this workflow's")
    executions.add_argument("--status", choices=STATUSES, help="only those with this status")
    executions.add_argument(
        "--limit", type=int, default=50, metavar="N", help="at most N executions (default 50)"
    )
    add_target_options(executions)
    executions.set_defaults(handler=cmd_executions)

    output = commands.add_parser(
        "output", help="a node's output (or the execution's), whole, however large it was stored"
    )
    output.add_argument("execution", metavar="EXECUTION", help="the execution's id or ARN")
    output.add_argument(
        "node_id", metavar="NODE", nargs="?", help="the node (default: the execution's output)"
    )
    add_target_options(output)
    output.set_defaults(handler=cmd_output)
