"""The ``segflow`` command: validate and run workflows, inspect executions, run the embedded AWS locally.

Exit codes: 0 success; 1 the execution did not succeed, or the deployment could not be reached;
2 invalid input (usage, an unreadable or invalid workflow, an unknown execution).
"""

from __future__ import annotations

import argparse
import io
import json
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from segflow.contracts import DEFAULT_TENANT, TENANT_PATTERN
from segflow.dsl.graph import WorkflowGraph
from segflow.dsl.schema import workflow_json_schema
from segflow.dsl.validation import (
    ValidationIssue,
    WorkflowValidationError,
    executable_issues,
    validate_workflow,
)
from segflow.engine.partitioner import partition

from segflow_cli.client import TERMINAL_STATUSES, NodeView, SegflowClient
from segflow_cli.locate import DEFAULT_STAGE, LocateError, locate
from segflow_cli.progress import Progress, glyphs_for, progress_for, summary_line, table_lines

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2
EXIT_INTERRUPTED = 130
POLL_SECONDS = 0.25
STAGE_PATTERN = re.compile(r"[a-z][a-z0-9-]{0,19}")
VERSIONS_API_NOTE = (
    "running a stored workflow by id arrives with the versions API; for now pass a workflow file "
    "(segflow run path/to/workflow.json)"
)


class CliError(Exception):
    """Ends the command: each line is printed as ``error: <line>`` on stderr."""

    def __init__(self, lines: str | Sequence[str], exit_code: int = EXIT_FAILED) -> None:
        self.lines = [lines] if isinstance(lines, str) else list(lines)
        self.exit_code = exit_code
        super().__init__("; ".join(self.lines))


def emit(text: str = "") -> None:
    print(text, flush=True)


def emit_json(document: Any) -> None:
    print(json.dumps(document, indent=2, default=str), flush=True)


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


# --- reading workflows and inputs ------------------------------------------------------------------------


def parse_json(text: str, source: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        where = f"line {error.lineno}, column {error.colno}"
        raise CliError(f"{source}: not valid JSON: {error.msg} at {where}", EXIT_INVALID) from None


def read_json_file(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise CliError(f"cannot read {path}: {reason}", EXIT_INVALID) from None
    return parse_json(text, str(path))


def issue_lines(issues: Sequence[ValidationIssue]) -> list[str]:
    return [str(issue) for issue in issues]


def issue_dicts(issues: Sequence[ValidationIssue]) -> list[dict[str, str]]:
    return [{"location": issue.location, "message": issue.message} for issue in issues]


def check_workflow(workflow: Any) -> WorkflowGraph:
    """Validate, and refuse node types that cannot run yet. Raises :class:`WorkflowValidationError`."""
    graph = validate_workflow(workflow)
    not_runnable = executable_issues(graph)
    if not_runnable:
        raise WorkflowValidationError(not_runnable)
    return graph


def read_input(args: argparse.Namespace) -> dict[str, Any]:
    if args.input is not None:
        value, source = parse_json(args.input, "--input"), "--input"
    elif args.input_file is not None:
        value, source = read_json_file(Path(args.input_file)), str(args.input_file)
    else:
        return {}
    if not isinstance(value, dict):
        raise CliError(f"{source}: the execution input must be a JSON object", EXIT_INVALID)
    return value


# --- validate ----------------------------------------------------------------------------------------------


def cmd_validate(args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        workflow = read_json_file(path)
        graph = validate_workflow(workflow)
    except CliError as error:
        if args.json:
            errors = [{"location": "file", "message": line} for line in error.lines]
            emit_json({"ok": False, "file": str(path), "errors": errors})
            return error.exit_code
        raise
    except WorkflowValidationError as error:
        if args.json:
            emit_json({"ok": False, "file": str(path), "errors": issue_dicts(error.issues)})
            return EXIT_INVALID
        raise CliError(issue_lines(error.issues), EXIT_INVALID) from None

    plan = partition(graph, body_key_for=lambda segment_id: f"bodies/{segment_id}.json")
    warnings = issue_lines(executable_issues(graph))
    counts = {
        "nodes": len(graph.nodes),
        "edges": len(graph.definition.edges),
        "segments": len(plan.segments),
        "stages": len(plan.stages),
    }
    if args.json:
        report = {"ok": True, "file": str(path), "workflow_id": graph.workflow_id, **counts}
        emit_json({**report, "warnings": warnings})
        return EXIT_OK
    nodes, edges, segments, stages = (
        plural(counts[key], key[:-1]) for key in ("nodes", "edges", "segments", "stages")
    )
    emit(f"ok: {graph.workflow_id} ({nodes}, {edges}, {segments} in {stages})")
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return EXIT_OK


# --- local up ----------------------------------------------------------------------------------------------


def cmd_local_up(args: argparse.Namespace) -> int:
    if not STAGE_PATTERN.fullmatch(args.stage):
        raise CliError(f"--stage {args.stage!r} must match {STAGE_PATTERN.pattern}", EXIT_INVALID)
    try:
        from segflow_local.server import LocalServerError, serve
    except ImportError as error:
        raise CliError(f"segflow local needs moto: pip install 'segflow[local]' ({error})") from None
    try:
        serve(args.host, args.port, args.stage, args.verbose, announce=emit)
    except LocalServerError as error:
        raise CliError(str(error)) from None
    return EXIT_OK


# --- run ---------------------------------------------------------------------------------------------------


def workflow_path(target: str) -> Path:
    """A path to a workflow file; anything that looks like a bare workflow id is refused for now."""
    path = Path(target)
    if path.exists() or path.suffix.lower() == ".json" or "/" in target or "\\" in target:
        return path
    raise CliError([f"{target!r} is not a file", VERSIONS_API_NOTE], EXIT_INVALID)


def execution_result(client: SegflowClient, arn: str, description: dict[str, Any]) -> dict[str, Any]:
    """``{execution_arn, status, output}``, plus ``error`` and ``cause`` when it did not succeed."""
    status = description["status"]
    result: dict[str, Any] = {"execution_arn": arn, "status": status, "output": None}
    if status == "SUCCEEDED":
        final = client.output(arn)
        result["output"] = final.get("output") if isinstance(final, dict) else final
    elif status in TERMINAL_STATUSES:
        result["error"] = description.get("error")
        result["cause"] = description.get("cause")
    return result


def watch(
    client: SegflowClient,
    arn: str,
    workflow: dict[str, Any],
    progress: Progress,
    timeout_seconds: float | None,
) -> tuple[dict[str, Any], list[NodeView]]:
    """Poll the execution and its nodes until it ends (or the timeout passes); returns the last of each."""
    deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
    try:
        while True:
            polled_at = time.monotonic()
            description = client.describe(arn)
            finished = description["status"] in TERMINAL_STATUSES
            views = client.node_views(
                arn, workflow, finished
            )  # after describe: all nodes shown when finished
            progress.update(views)
            if description["status"] in TERMINAL_STATUSES:
                return description, views
            if deadline is not None and time.monotonic() >= deadline:
                return description, views
            time.sleep(max(0.0, POLL_SECONDS - (time.monotonic() - polled_at)))
    finally:
        progress.finish()


def run_seconds(description: dict[str, Any]) -> float | None:
    started, stopped = description.get("startDate"), description.get("stopDate")
    if isinstance(started, datetime) and isinstance(stopped, datetime):
        return (stopped - started).total_seconds()
    return None


def report_run(
    client: SegflowClient,
    arn: str,
    description: dict[str, Any],
    views: list[NodeView],
    timeout_seconds: float | None = None,
) -> int:
    status = description["status"]
    separator = glyphs_for(sys.stdout).separator
    if status not in TERMINAL_STATUSES:
        waited = f" after {timeout_seconds:g} s" if timeout_seconds else ""
        emit(f"still {status}{waited}; it keeps running: segflow status {arn}")
        return EXIT_FAILED
    seconds = run_seconds(description)
    took = f" in {seconds:.2f} s" if seconds is not None else ""
    emit(f"{status}{took}{separator}{summary_line(views, separator)}")
    result = execution_result(client, arn, description)
    if status == "SUCCEEDED":
        emit_json(result["output"])
        return EXIT_OK
    print(f"error: {result.get('error') or status}", file=sys.stderr)
    if result.get("cause"):
        print(f"cause: {result['cause']}", file=sys.stderr)
    return EXIT_FAILED


def run_quietly(client: SegflowClient, arn: str, timeout_seconds: float | None) -> int:
    """``--json``: no progress, one JSON object once the execution ends (or the timeout passes)."""
    try:
        description = client.wait(arn, timeout_seconds=timeout_seconds or float("inf"))
    except TimeoutError:
        description = client.describe(arn)
    emit_json(execution_result(client, arn, description))
    return EXIT_OK if description["status"] == "SUCCEEDED" else EXIT_FAILED


def cmd_run(args: argparse.Namespace) -> int:
    if not TENANT_PATTERN.match(args.tenant):
        raise CliError(f"--tenant {args.tenant!r}: 1-63 lowercase letters, digits or hyphens", EXIT_INVALID)
    path = workflow_path(args.workflow)
    execution_input = read_input(args)
    workflow = read_json_file(path)
    try:
        graph = check_workflow(workflow)
    except WorkflowValidationError as error:
        if args.json:
            invalid = {"execution_arn": None, "status": "INVALID", "output": None}
            emit_json({**invalid, "errors": issue_dicts(error.issues)})
            return EXIT_INVALID
        raise CliError(issue_lines(error.issues), EXIT_INVALID) from None

    deployment = locate(args.endpoint, args.stage)
    client = SegflowClient(deployment.session, deployment.resources, args.tenant)
    arn = client.start(workflow, execution_input)
    if args.json:
        return run_quietly(client, arn, args.timeout)

    emit(f"run {graph.workflow_id} on {deployment.description}")
    emit(f"execution {arn}")
    try:
        description, views = watch(client, arn, workflow, progress_for(sys.stdout), args.timeout)
    except KeyboardInterrupt:
        print(f"\ndetached; the execution keeps running: segflow status {arn}", file=sys.stderr)
        return EXIT_INTERRUPTED
    return report_run(client, arn, description, views, args.timeout)


# --- status ------------------------------------------------------------------------------------------------


def _iso(value: Any) -> str | None:
    return value.isoformat(timespec="milliseconds") if isinstance(value, datetime) else None


def execution_request(description: dict[str, Any]) -> dict[str, Any]:
    """The StartExecution input (segflow's ExecutionRequest); empty when it is not one."""
    try:
        request = json.loads(description.get("input") or "{}")
    except ValueError:
        return {}
    return request if isinstance(request, dict) else {}


def submitted_workflow(client: SegflowClient, request: dict[str, Any]) -> dict[str, Any]:
    """The workflow as submitted (its S3 key is in the execution input); empty if it cannot be read."""
    key = (request.get("workflow") or {}).get("s3_key")
    if not key:
        return {"nodes": []}
    try:
        return json.loads(client.s3.get_object(Bucket=client.resources.bucket, Key=key)["Body"].read())
    except (ClientError, ValueError):
        return {"nodes": []}


def status_document(
    client: SegflowClient,
    arn: str,
    description: dict[str, Any],
    workflow: dict[str, Any],
    views: list[NodeView],
) -> dict[str, Any]:
    result = execution_result(client, arn, description)
    return {
        "execution_arn": arn,
        "workflow_id": workflow.get("workflow_id"),
        "status": description["status"],
        "started": _iso(description.get("startDate")),
        "stopped": _iso(description.get("stopDate")),
        "nodes": [asdict(view) for view in views],
        **{key: value for key, value in result.items() if key not in ("execution_arn", "status")},
    }


def print_status(
    arn: str, description: dict[str, Any], workflow: dict[str, Any], views: list[NodeView]
) -> None:
    status = description["status"]
    emit(f"execution  {arn}")
    emit(f"workflow   {workflow.get('workflow_id') or '?'}")
    emit(f"status     {status}")
    emit(f"started    {_iso(description.get('startDate')) or '-'}")
    seconds = run_seconds(description)
    if seconds is not None:
        emit(f"stopped    {_iso(description['stopDate'])} ({seconds:.2f} s)")
    emit()
    for line in table_lines(views, width=10_000, max_rows=max(1, len(views)), glyphs=glyphs_for(sys.stdout)):
        emit(line)
    if status in TERMINAL_STATUSES and status != "SUCCEEDED":
        emit()
        emit(f"error      {description.get('error') or '-'}")
        emit(f"cause      {description.get('cause') or '-'}")


def cmd_status(args: argparse.Namespace) -> int:
    arn = args.execution_arn
    if not arn.startswith("arn:") or ":execution:" not in arn:
        raise CliError(f"{arn!r} is not an execution ARN (arn:aws:states:...:execution:...)", EXIT_INVALID)
    deployment = locate(args.endpoint, args.stage)
    client = SegflowClient(deployment.session, deployment.resources)
    try:
        description = client.describe(arn)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
            raise CliError(f"no execution {arn} at {deployment.description}", EXIT_INVALID) from None
        raise
    request = execution_request(description)
    client.tenant_id = request.get("tenant_id") or DEFAULT_TENANT  # node records are kept per tenant
    workflow = submitted_workflow(client, request)
    views = client.node_views(arn, workflow, description["status"] in TERMINAL_STATUSES)
    if args.json:
        emit_json(status_document(client, arn, description, workflow, views))
    else:
        print_status(arn, description, workflow, views)
    return EXIT_OK


# --- schema ------------------------------------------------------------------------------------------------


def cmd_schema(_args: argparse.Namespace) -> int:
    emit(json.dumps(workflow_json_schema(), indent=2, sort_keys=True))
    return EXIT_OK


# --- the parser --------------------------------------------------------------------------------------------


def _add_target_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--endpoint",
        help="a local endpoint URL (segflow local up); default $SEGFLOW_ENDPOINT, else AWS",
    )
    parser.add_argument(
        "--stage",
        help=f"the deployed stage on AWS (stack segflow-<stage>); default $SEGFLOW_STAGE or {DEFAULT_STAGE}",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="segflow", description="Serverless workflow orchestrator on AWS Step Functions."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    validate = commands.add_parser("validate", help="check a workflow file (exit 2 when invalid)")
    validate.add_argument("file", metavar="FILE")
    validate.add_argument("--json", action="store_true", help="print a machine-readable report")
    validate.set_defaults(handler=cmd_validate)

    local = commands.add_parser("local", help="the embedded local AWS")
    local_commands = local.add_subparsers(dest="local_command", metavar="COMMAND", required=True)
    up = local_commands.add_parser("up", help="run the embedded AWS as a local endpoint until Ctrl-C")
    up.add_argument("--port", type=int, default=4566)
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--stage", default="local", help="resource name prefix (default: local)")
    up.add_argument("--verbose", action="store_true", help="log every request and handler")
    up.set_defaults(handler=cmd_local_up)

    run = commands.add_parser("run", help="run a workflow, showing live per-node progress")
    run.add_argument("workflow", metavar="FILE_OR_WORKFLOW_ID")
    given = run.add_mutually_exclusive_group()
    given.add_argument("--input", help="the execution input, a JSON object")
    given.add_argument("--input-file", metavar="FILE", help="read the execution input from a JSON file")
    run.add_argument("--tenant", default=DEFAULT_TENANT, help=f"tenant id (default: {DEFAULT_TENANT})")
    run.add_argument("--timeout", type=float, metavar="SECONDS", help="stop waiting after this long")
    _add_target_options(run)
    run.set_defaults(handler=cmd_run)

    status = commands.add_parser("status", help="an execution's status and its node table")
    status.add_argument("execution_arn", metavar="EXECUTION_ARN")
    _add_target_options(status)
    status.set_defaults(handler=cmd_status)

    schema = commands.add_parser("schema", help="print the JSON Schema of workflow files (for editors)")
    schema.set_defaults(handler=cmd_schema)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):  # a label or error text must not crash an ASCII-only terminal
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return EXIT_INVALID
    try:
        return args.handler(args)
    except CliError as error:
        for line in error.lines:
            print(f"error: {line}", file=sys.stderr)
        return error.exit_code
    except LocateError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
    except WorkflowValidationError as error:  # e.g. start() refusing what the local check let through
        for line in issue_lines(error.issues):
            print(f"error: {line}", file=sys.stderr)
        return EXIT_INVALID
    except (BotoCoreError, ClientError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
