"""Executions: run, status, watch, console, events, checkpoints, resume, approve."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from segflow.contracts import DEFAULT_TENANT
from segflow.domain.ids import execution_id_of
from segflow.domain.statuses import TERMINAL_EXECUTION_STATUSES
from segflow.dsl.validation import WorkflowValidationError
from segflow.engine.resume import ResumeRefused

from segflow_cli.api_client import ApiError, ManagementApi, api_for
from segflow_cli.client import SegflowClient
from segflow_cli.commands.workflows import check_workflow
from segflow_cli.common import EXIT_INVALID, EXIT_OK, CliError, parse_json, read_json_file
from segflow_cli.following import execution_result, follow, run_quietly, socket_url
from segflow_cli.live import CONSOLE_LINK_SECONDS, console_link
from segflow_cli.locate import LocatedStack, LocateError, locate
from segflow_cli.rendering.executions import (
    checkpoint_lines,
    checkpoint_rows,
    event_line,
    status_document,
    status_lines,
)
from segflow_cli.rendering.progress import glyphs_for
from segflow_cli.rendering.text import emit, emit_json
from segflow_cli.rendering.workflows import issue_dicts
from segflow_cli.target import add_target_options, check_tenant, check_version, connect

# --- run ----------------------------------------------------------------------------------------------------


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


def workflow_target(target: str) -> Path | str:
    """A workflow file (it exists, or looks like a path), else the id of a published workflow."""
    path = Path(target)
    if path.exists() or path.suffix.lower() == ".json" or "/" in target or "\\" in target:
        return path
    return target


def cmd_run(args: argparse.Namespace) -> int:
    tenant = check_tenant(args.tenant)
    check_version(args.version, "--version")
    target = workflow_target(args.workflow)
    execution_input = read_input(args)
    if isinstance(target, str):
        return run_published(args, target, tenant, execution_input)
    if args.version is not None:
        raise CliError("--version applies to a published workflow id, not to a file", EXIT_INVALID)
    workflow = read_json_file(target)
    try:
        graph = check_workflow(workflow)
    except WorkflowValidationError as error:
        if not args.json:
            raise
        invalid = {"execution_arn": None, "status": "INVALID", "output": None}
        emit_json({**invalid, "errors": issue_dicts(error.issues)})
        return EXIT_INVALID

    stack = locate(args.endpoint, args.stage)
    client = SegflowClient.of(stack, tenant)
    arn = client.start(workflow, execution_input)
    if args.json:
        return run_quietly(client, arn, args.timeout)
    emit(f"run {graph.workflow_id} on {stack.description}")
    emit(f"execution {arn}")
    return follow(client, arn, workflow, args.timeout, stack if args.watch else None)


def run_published(
    args: argparse.Namespace, workflow_id: str, tenant: str, execution_input: dict[str, Any]
) -> int:
    """Start a published workflow through the API (its active version, or ``--version``), then follow it."""
    stack, api = connect(args)
    try:
        started = api.start_execution(workflow_id, args.version, execution_input)
    except ApiError as error:
        if error.code != "WorkflowNotFound" or args.version is not None:
            raise
        failure = CliError(error.lines(), error.exit_code)
        failure.lines.append(f"(and there is no file {args.workflow!r})")
        raise failure from None
    arn, version = started["execution_arn"], started["version"]
    client = SegflowClient.of(stack, tenant)
    if stack.endpoint is None:  # on AWS the API takes the tenant from the caller's identity
        client.tenant_id = execution_request(client.describe(arn)).get("tenant_id") or DEFAULT_TENANT
    if args.json:
        return run_quietly(client, arn, args.timeout, {"version": version})
    workflow = published_workflow(client, api, workflow_id, version)
    emit(f"run {workflow_id} version {version} on {stack.description}")
    emit(f"execution {arn}")
    return follow(client, arn, workflow, args.timeout, stack if args.watch else None)


def published_workflow(
    client: SegflowClient, api: ManagementApi | None, workflow_id: str, version: int
) -> dict[str, Any]:
    """A published version's definition: from the workflows table, else the API; no nodes if neither."""
    definition = client.published_definition(workflow_id, version)
    if definition is None and api is not None:
        try:
            definition = api.version(workflow_id, version)["definition"]
        except (ApiError, LocateError, KeyError):
            definition = None
    return definition or {"workflow_id": workflow_id, "nodes": []}


# --- an existing execution ----------------------------------------------------------------------------------


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
        return dict(json.loads(client.s3.get_object(Bucket=client.resources.bucket, Key=key)["Body"].read()))
    except (ClientError, ValueError):
        return {"nodes": []}


def execution_workflow(
    client: SegflowClient, stack: LocatedStack, arn: str, request: dict[str, Any]
) -> tuple[dict[str, Any], int | None]:
    """The workflow an execution runs and its published version: the file it was given, or the version it
    pinned when it started (kept in its execution record)."""
    reference = request.get("workflow") or {}
    if reference.get("s3_key") or not reference.get("workflow_id"):
        return submitted_workflow(client, request), None
    workflow_id = str(reference["workflow_id"])
    record = client.execution_record(arn)
    version = record.workflow_version if record is not None else None
    version = version or reference.get("version")
    if version is None:  # not initialized yet: which version it pins is not known
        return {"workflow_id": workflow_id, "nodes": []}, None
    api = None
    if stack.resources.management_api_url:
        try:
            api = api_for(stack, client.tenant_id)
        except LocateError:
            api = None
    return published_workflow(client, api, workflow_id, int(version)), int(version)


def execution_client(args: argparse.Namespace) -> tuple[SegflowClient, LocatedStack, dict[str, Any]]:
    """A client for an existing execution (node records are kept per tenant: its tenant comes from its
    input), the stack, and the execution's description."""
    arn = args.execution_arn
    if not arn.startswith("arn:") or ":execution:" not in arn:
        raise CliError(f"{arn!r} is not an execution ARN (arn:aws:states:...:execution:...)", EXIT_INVALID)
    stack = locate(args.endpoint, args.stage)
    client = SegflowClient.of(stack)
    try:
        description = client.describe(arn)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
            raise CliError(f"no execution {arn} at {stack.description}", EXIT_INVALID) from None
        raise
    client.tenant_id = execution_request(description).get("tenant_id") or DEFAULT_TENANT
    if args.tenant is not None and check_tenant(args.tenant) != client.tenant_id:
        raise CliError(f"no execution {arn} for tenant {args.tenant}", EXIT_INVALID)
    return client, stack, description


def cmd_status(args: argparse.Namespace) -> int:
    arn = args.execution_arn
    client, stack, description = execution_client(args)
    workflow, version = execution_workflow(client, stack, arn, execution_request(description))
    views = client.node_views(arn, workflow, description["status"] in TERMINAL_EXECUTION_STATUSES)
    if args.json:
        result = execution_result(client, arn, description)
        emit_json(status_document(result, description, workflow, views, version))
        return EXIT_OK
    for line in status_lines(arn, description, workflow, views, glyphs_for(sys.stdout), version):
        emit(line)
    return EXIT_OK


def cmd_resume(args: argparse.Namespace) -> int:
    client, stack, description = execution_client(args)
    old_arn = args.execution_arn
    try:
        arn = client.resume(old_arn, args.from_node)
    except ResumeRefused as error:
        raise CliError(str(error), EXIT_INVALID) from None
    workflow, _version = execution_workflow(client, stack, old_arn, execution_request(description))
    if args.json:
        return run_quietly(client, arn, args.timeout, {"resumed_from": old_arn})
    start = f"from {args.from_node}" if args.from_node else "after its last completed node"
    emit(f"resume {execution_id_of(old_arn)} ({description['status']}) {start}")
    emit(f"execution {arn}")
    return follow(client, arn, workflow, args.timeout)


def cmd_watch(args: argparse.Namespace) -> int:
    """The live node table of an execution, from its events; exits with the execution's status."""
    client, stack, description = execution_client(args)
    arn = args.execution_arn
    workflow, _version = execution_workflow(client, stack, arn, execution_request(description))
    emit(f"watch {execution_id_of(arn)} on {stack.description}")
    return follow(client, arn, workflow or {"nodes": []}, args.timeout, stack)


def cmd_console(args: argparse.Namespace) -> int:
    """The link to the live console page of an execution (local: the gateway's; deployed: a signed socket)."""
    client, stack, _description = execution_client(args)
    arn, api_url = args.execution_arn, stack.resources.management_api_url
    if not api_url:
        raise CliError(f"{stack.description} has no management API (deployed before it?)")
    socket = socket_url(stack, client, arn, CONSOLE_LINK_SECONDS)
    emit(console_link(f"{api_url.rstrip('/')}/console", execution_id_of(arn), socket))
    return EXIT_OK


def cmd_events(args: argparse.Namespace) -> int:
    """The execution log: every state change, numbered, in order."""
    client, _stack, _description = execution_client(args)
    events = client.events(args.execution_arn, args.since)
    if args.json:
        emit_json([event.model_dump(exclude_none=True) for event in events])
        return EXIT_OK
    for event in events:
        emit(event_line(event))
    return EXIT_OK


def cmd_checkpoints(args: argparse.Namespace) -> int:
    """Every node outcome the execution recorded, in the order they were reached: what a resume reuses."""
    client, _stack, description = execution_client(args)
    rows = checkpoint_rows(client.node_records(args.execution_arn))
    if args.json:
        emit_json({"execution_arn": args.execution_arn, "status": description["status"], "checkpoints": rows})
        return EXIT_OK
    for line in checkpoint_lines(args.execution_arn, description["status"], rows):
        emit(line)
    return EXIT_OK


def cmd_approve(args: argparse.Namespace) -> int:
    """Approve (or --reject) an approval node that waits; you are recorded as the approver."""
    execution_id = execution_id_of(args.execution)
    _, api = connect(args)
    answer = api.decide(execution_id, args.node_id, "reject" if args.reject else "approve", args.comment)
    if args.json:
        emit_json(answer)
        return EXIT_OK
    comment = f": {answer['comment']}" if answer.get("comment") else ""
    done = {"approve": "approved", "reject": "rejected"}[answer["decision"]]
    emit(f"{done} {args.node_id} of {execution_id} as {answer['approver']}{comment}")
    return EXIT_OK


# --- the parsers --------------------------------------------------------------------------------------------


def _execution_parser(commands: Any, name: str, help_text: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(name, help=help_text)
    parser.add_argument("execution_arn", metavar="EXECUTION_ARN")
    return parser


def add_commands(commands: Any) -> None:
    run = commands.add_parser(
        "run", help="run a workflow file, or a published workflow by id, showing live per-node progress"
    )
    run.add_argument("workflow", metavar="FILE_OR_WORKFLOW_ID")
    given = run.add_mutually_exclusive_group()
    given.add_argument("--input", help="the execution input, a JSON object")
    given.add_argument("--input-file", metavar="FILE", help="read the execution input from a JSON file")
    run.add_argument(
        "--version",
        type=int,
        metavar="N",
        help="of a published workflow: run version N (default: the active)",
    )
    run.add_argument("--timeout", type=float, metavar="SECONDS", help="stop waiting after this long")
    run.add_argument(
        "--watch", action="store_true", help="follow the execution's live events over the WebSocket API"
    )
    add_target_options(run)
    run.set_defaults(handler=cmd_run)

    watch = _execution_parser(
        commands,
        "watch",
        "the live node table of an execution, over the WebSocket API; exits with its status",
    )
    watch.add_argument("--timeout", type=float, metavar="SECONDS", help="stop watching after this long")
    add_target_options(watch)
    watch.set_defaults(handler=cmd_watch)

    console = _execution_parser(
        commands,
        "console",
        "a link to the live web view of an execution (reconnects and catches up by itself)",
    )
    add_target_options(console)
    console.set_defaults(handler=cmd_console)

    events = _execution_parser(commands, "events", "an execution's log: every state change, in order")
    events.add_argument("--since", type=int, default=0, metavar="SEQ", help="only events after SEQ")
    add_target_options(events)
    events.set_defaults(handler=cmd_events)

    status = _execution_parser(commands, "status", "an execution's status and its node table")
    add_target_options(status)
    status.set_defaults(handler=cmd_status)

    resume = _execution_parser(
        commands,
        "resume",
        "continue a failed, timed-out or aborted execution in a new one, reusing its completed nodes",
    )
    resume.add_argument(
        "--from", dest="from_node", metavar="NODE", help="run NODE and every node after it again"
    )
    resume.add_argument("--timeout", type=float, metavar="SECONDS", help="stop waiting after this long")
    add_target_options(resume)
    resume.set_defaults(handler=cmd_resume)

    checkpoints = _execution_parser(commands, "checkpoints", "the node outcomes an execution recorded")
    add_target_options(checkpoints)
    checkpoints.set_defaults(handler=cmd_checkpoints)

    approve = commands.add_parser("approve", help="approve (or --reject) an approval node that waits")
    approve.add_argument("execution", metavar="EXECUTION", help="the execution's ARN or id")
    approve.add_argument("node_id", metavar="NODE")
    approve.add_argument("--reject", action="store_true", help="reject instead of approving")
    approve.add_argument("--comment", help="why (kept with the decision, shown in the node's output)")
    add_target_options(approve)
    approve.set_defaults(handler=cmd_approve)
