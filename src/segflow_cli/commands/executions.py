"""Executions: run, status, watch, console, events, checkpoints, resume, approve."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from segflow.contracts import DEFAULT_TENANT
from segflow.domain.ids import execution_id_of
from segflow.dsl.validation import WorkflowValidationError, validate_executable
from segflow.engine.resume import ResumeRefused
from segflow.services.executions import ExecutionView

from segflow_cli.api_client import ApiError, ManagementApi, api_for
from segflow_cli.client import SegflowClient, description_of
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
        graph = validate_executable(workflow)
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
        client.tenant_id = client.tenant_of(arn) or DEFAULT_TENANT
    if args.json:
        return run_quietly(client, arn, args.timeout, {"version": version})
    workflow = published_workflow(client, api, workflow_id, version)
    emit(f"run {workflow_id} version {version} on {stack.description}")
    emit(f"execution {arn}")
    return follow(client, arn, workflow, args.timeout, stack if args.watch else None)


def published_workflow(
    client: SegflowClient, api: ManagementApi | None, workflow_id: str, version: int
) -> dict[str, Any]:
    """A published version's definition: from the executions service, else the API; no nodes if neither."""
    definition = client.published_definition(workflow_id, version)
    if definition is None and api is not None:
        try:
            definition = api.version(workflow_id, version)["definition"]
        except (ApiError, LocateError, KeyError):
            definition = None
    return definition or {"workflow_id": workflow_id, "nodes": []}


# --- an existing execution ------------------------------------------------------------------------------


def execution_workflow(
    client: SegflowClient, stack: LocatedStack, view: ExecutionView
) -> tuple[dict[str, Any], int | None]:
    """The workflow an execution runs and its published version: the file it was given (known once it
    initialized), or the version it pinned when it started."""
    if view.workflow_id is None or view.version is None:
        return client.workflow_of(view.first_arn) or {"nodes": []}, None
    api = None
    if stack.resources.management_api_url:
        try:
            api = api_for(stack, client.tenant_id)
        except LocateError:
            api = None
    return published_workflow(client, api, view.workflow_id, view.version), view.version


def execution_client(args: argparse.Namespace) -> tuple[SegflowClient, LocatedStack, ExecutionView]:
    """A client for an existing execution (node records are kept per tenant: its tenant comes from its
    input), the stack, and the execution as it is now."""
    arn = args.execution_arn
    if not arn.startswith("arn:") or ":execution:" not in arn:
        raise CliError(f"{arn!r} is not an execution ARN (arn:aws:states:...:execution:...)", EXIT_INVALID)
    stack = locate(args.endpoint, args.stage)
    client = SegflowClient.of(stack)
    tenant = client.tenant_of(arn)
    if tenant is None:
        raise CliError(f"no execution {arn} at {stack.description}", EXIT_INVALID)
    if args.tenant is not None and check_tenant(args.tenant) != tenant:
        raise CliError(f"no execution {arn} for tenant {args.tenant}", EXIT_INVALID)
    client.tenant_id = tenant
    return client, stack, client.view(arn)


def cmd_status(args: argparse.Namespace) -> int:
    arn = args.execution_arn
    client, stack, view = execution_client(args)
    workflow, version = execution_workflow(client, stack, view)
    views = client.node_views(arn, workflow, view.finished)
    description = description_of(view)
    if args.json:
        result = execution_result(client, arn, description)
        emit_json(status_document(result, description, workflow, views, version))
        return EXIT_OK
    for line in status_lines(arn, description, workflow, views, glyphs_for(sys.stdout), version):
        emit(line)
    return EXIT_OK


def cmd_resume(args: argparse.Namespace) -> int:
    client, stack, view = execution_client(args)
    old_arn = args.execution_arn
    try:
        arn = client.resume(old_arn, args.from_node)
    except ResumeRefused as error:  # running, succeeded, never initialized, or an unknown node
        raise CliError(str(error), EXIT_INVALID) from None
    workflow, _version = execution_workflow(client, stack, view)
    if args.json:
        return run_quietly(client, arn, args.timeout, {"resumed_from": old_arn})
    start = f"from {args.from_node}" if args.from_node else "after its last completed node"
    emit(f"resume {view.execution_id} ({view.status}) {start}")
    emit(f"execution {arn}")
    return follow(client, arn, workflow, args.timeout)


def cmd_watch(args: argparse.Namespace) -> int:
    """The live node table of an execution, from its events; exits with the execution's status."""
    client, stack, view = execution_client(args)
    workflow, _version = execution_workflow(client, stack, view)
    emit(f"watch {view.execution_id} on {stack.description}")
    return follow(client, args.execution_arn, workflow, args.timeout, stack)


def cmd_console(args: argparse.Namespace) -> int:
    """The link to the live console page of an execution (local: the gateway's; deployed: a signed socket)."""
    client, stack, view = execution_client(args)
    api_url = stack.resources.management_api_url
    if not api_url:
        raise CliError(f"{stack.description} has no management API (deployed before it?)")
    socket = socket_url(stack, client, args.execution_arn, CONSOLE_LINK_SECONDS)
    emit(console_link(f"{api_url.rstrip('/')}/console", view.execution_id, socket))
    return EXIT_OK


def cmd_events(args: argparse.Namespace) -> int:
    """The execution log: every state change, numbered, in order."""
    client, _stack, _view = execution_client(args)
    events = client.events(args.execution_arn, args.since)
    if args.json:
        emit_json([event.model_dump(exclude_none=True) for event in events])
        return EXIT_OK
    for event in events:
        emit(event_line(event))
    return EXIT_OK


def cmd_checkpoints(args: argparse.Namespace) -> int:
    """Every node outcome the execution recorded, in the order they were reached: what a resume reuses."""
    client, _stack, view = execution_client(args)
    rows = checkpoint_rows(client.checkpoints(args.execution_arn))
    if args.json:
        emit_json({"execution_arn": args.execution_arn, "status": view.status, "checkpoints": rows})
        return EXIT_OK
    for line in checkpoint_lines(args.execution_arn, view.status, rows):
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
