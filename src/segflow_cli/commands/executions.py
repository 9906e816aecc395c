"""Executions: run, status, watch, console, events, checkpoints, resume, approve."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from segflow.declaration import NODE_MODULES_ENV
from segflow.domain.ids import execution_id_of
from segflow.dsl.json_values import InvalidExecutionInput, check_execution_input
from segflow.dsl.validation import WorkflowValidationError, validate_executable

from segflow_cli.api_client import ApiError, ManagementApi
from segflow_cli.client import SegflowClient
from segflow_cli.common import EXIT_INVALID, EXIT_OK, CliError, parse_json, read_json_file
from segflow_cli.following import execution_result, follow, run_quietly, socket_url
from segflow_cli.live import CONSOLE_LINK_SECONDS, console_link
from segflow_cli.locate import ENDPOINT_ENV, LocatedStack, LocateError, fetch_endpoint_outputs
from segflow_cli.reads import ExecutionReader, ExecutionState
from segflow_cli.rendering.executions import (
    checkpoint_lines,
    checkpoint_rows,
    event_line,
    status_document,
    status_lines,
)
from segflow_cli.rendering.progress import glyphs_for
from segflow_cli.rendering.text import emit, emit_json, warn
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
    try:
        check_execution_input(value)
    except InvalidExecutionInput as error:
        raise CliError(f"{source}: {error}", EXIT_INVALID) from None
    return value  # type: ignore[no-any-return]  # an object, checked


def workflow_target(target: str) -> Path | str:
    """A workflow file (it exists, or looks like a path), else the id of a published workflow."""
    path = Path(target)
    if path.exists() or path.suffix.lower() == ".json" or "/" in target or "\\" in target:
        return path
    return target


def check_run_options(args: argparse.Namespace) -> None:
    """What ``run`` and ``resume`` refuse before starting anything."""
    if args.timeout is not None and not args.timeout > 0:
        raise CliError(f"--timeout {args.timeout:g}: give a number of seconds above 0", EXIT_INVALID)
    if args.json and getattr(args, "watch", False):
        raise CliError(
            "--watch shows a live table; --json prints one document at the end: choose one", EXIT_INVALID
        )


def started_quietly(arn: str) -> None:
    """``--json``: stdout holds one document at the end; the execution is named on stderr at once."""
    warn(f"execution {arn}")


ENDPOINT_PLACEHOLDER = "${SEGFLOW_ENDPOINT}"


def with_endpoint(value: Any, stack: LocatedStack) -> Any:
    """The input with ``${SEGFLOW_ENDPOINT}`` in its strings replaced by the local endpoint's URL (the
    examples' inputs reach its echo API so, whatever port it listens on)."""
    if isinstance(value, str) and ENDPOINT_PLACEHOLDER in value:
        if not stack.endpoint:
            raise CliError(
                f"the input names {ENDPOINT_PLACEHOLDER}, which only a local endpoint has", EXIT_INVALID
            )
        return value.replace(ENDPOINT_PLACEHOLDER, stack.endpoint.rstrip("/"))
    if isinstance(value, dict):
        return {key: with_endpoint(item, stack) for key, item in value.items()}
    if isinstance(value, list):
        return [with_endpoint(item, stack) for item in value]
    return value


def endpoint_node_types(args: argparse.Namespace) -> bool:
    """Load the custom node modules the local endpoint loaded (its outputs name them and where they are), so
    a workflow using them is checked here as the endpoint will check it. False: none to load."""
    endpoint = args.endpoint or os.environ.get(ENDPOINT_ENV)
    if not endpoint:
        return False
    try:
        outputs = fetch_endpoint_outputs(endpoint)
    except LocateError:
        return False
    modules = [m for m in str(outputs.get("NodeModules") or "").split(",") if m]
    if not modules:
        return False
    for path in str(outputs.get("NodeModulePaths") or "").split(os.pathsep):
        if path and path not in sys.path:
            sys.path.append(path)
    named = [m for m in os.environ.get(NODE_MODULES_ENV, "").split(",") if m]
    os.environ[NODE_MODULES_ENV] = ",".join(dict.fromkeys([*named, *modules]))
    return True


def cmd_run(args: argparse.Namespace) -> int:
    check_run_options(args)
    tenant = check_tenant(args.tenant)
    check_version(args.version, "--version")
    target = workflow_target(args.workflow)
    execution_input = read_input(args)
    if isinstance(target, str):
        return run_published(args, target, execution_input)
    if args.version is not None:
        raise CliError("--version applies to a published workflow id, not to a file", EXIT_INVALID)
    workflow = read_json_file(target)
    try:
        try:
            graph = validate_executable(workflow)
        except WorkflowValidationError:
            if not endpoint_node_types(args):
                raise
            graph = validate_executable(workflow)
    except WorkflowValidationError as error:
        if not args.json:
            raise
        invalid = {"execution_arn": None, "status": "INVALID", "output": None}
        emit_json({**invalid, "errors": issue_dicts(error.issues)})
        return EXIT_INVALID

    stack, reader = reading(args)  # before starting: without the API the run could not be followed
    execution_input = with_endpoint(execution_input, stack)
    arn = SegflowClient.of(stack, tenant).start(workflow, execution_input)
    if args.json:
        started_quietly(arn)
        return run_quietly(reader, arn, args.timeout)
    emit(f"run {graph.workflow_id} on {stack.description}")
    emit(f"execution {arn}")
    return follow(reader, arn, workflow, args.timeout, stack if args.watch else None)


def run_published(args: argparse.Namespace, workflow_id: str, execution_input: dict[str, Any]) -> int:
    """Start a published workflow through the API (its active version, or ``--version``), then follow it."""
    stack, reader = reading(args)
    execution_input = with_endpoint(execution_input, stack)
    try:
        started = reader.api.start_execution(workflow_id, args.version, execution_input)
    except ApiError as error:
        if error.code != "WorkflowNotFound" or args.version is not None:
            raise
        failure = CliError(error.lines(), error.exit_code)
        failure.lines.append(f"(and there is no file {args.workflow!r})")
        raise failure from None
    arn, version = started["execution_arn"], started["version"]
    if args.json:
        started_quietly(arn)
        return run_quietly(reader, arn, args.timeout, {"version": version})
    workflow = published_workflow(reader.api, workflow_id, version)
    emit(f"run {workflow_id} version {version} on {stack.description}")
    emit(f"execution {arn}")
    return follow(reader, arn, workflow, args.timeout, stack if args.watch else None)


def published_workflow(api: ManagementApi, workflow_id: str, version: int) -> dict[str, Any]:
    """A published version's definition, from the API; no nodes if it cannot be read."""
    try:
        definition = api.version(workflow_id, version)["definition"]
    except (ApiError, LocateError, KeyError):
        definition = None
    return definition if isinstance(definition, dict) else {"workflow_id": workflow_id, "nodes": []}


# --- an existing execution ------------------------------------------------------------------------------


def reading(args: argparse.Namespace) -> tuple[LocatedStack, ExecutionReader]:
    """The stack, and its executions as the management API shows them to this caller: on AWS its identity
    names the tenant, on a local endpoint ``--tenant`` does (the gateway's X-Segflow-Tenant)."""
    stack, api = connect(args)
    return stack, ExecutionReader(api, check_tenant(args.tenant), stack.description)


def existing_execution(args: argparse.Namespace) -> tuple[LocatedStack, ExecutionReader, ExecutionState]:
    """The stack, the reader, and the execution as it is now; one the API does not show this caller (a
    missing one, another tenant's) ends the command."""
    arn = args.execution_arn
    if arn.startswith("arn:") and ":execution:" not in arn:
        raise CliError(f"{arn!r} is neither an execution id nor an execution ARN", EXIT_INVALID)
    stack, reader = reading(args)
    state = reader.state(arn)
    args.execution_arn = state.description["executionArn"] or arn  # an id given: the ARN from here on
    return stack, reader, state


def cmd_status(args: argparse.Namespace) -> int:
    _stack, reader, state = existing_execution(args)
    arn = args.execution_arn
    workflow, version = reader.workflow(arn)
    views = reader.node_views(state, workflow)
    description = state.description
    if args.json:
        result = execution_result(reader, arn, description)
        emit_json(status_document(result, description, workflow, views, version))
        return EXIT_OK
    for line in status_lines(arn, description, workflow, views, glyphs_for(sys.stdout), version):
        emit(line)
    return EXIT_OK


def cmd_resume(args: argparse.Namespace) -> int:
    """Resume through the API: it decides whose execution this is, and starts the new one for them."""
    check_run_options(args)
    _stack, reader, state = existing_execution(args)
    old_arn = args.execution_arn
    try:
        arn = str(reader.api.resume(state.execution_id, args.from_node)["execution_arn"])
    except ApiError as error:  # running, succeeded, never initialized or resumed already (an unknown node:
        # 400, invalid too)
        if error.code not in ("NotResumable", "AlreadyResumed"):
            raise
        raise CliError(error.lines(), EXIT_INVALID) from None
    workflow, _version = reader.workflow(old_arn)
    if args.json:
        started_quietly(arn)
        return run_quietly(reader, arn, args.timeout, {"resumed_from": old_arn})
    start = f"from {args.from_node}" if args.from_node else "after its last completed node"
    emit(f"resume {state.execution_id} ({state.status}) {start}")
    emit(f"execution {arn}")
    return follow(reader, arn, workflow, args.timeout)


def cmd_watch(args: argparse.Namespace) -> int:
    """The live node table of an execution, from its events; exits with the execution's status."""
    if args.json:
        raise CliError(
            "watch shows a live table; for JSON use `segflow status --json` or `events --json`", EXIT_INVALID
        )
    stack, reader, state = existing_execution(args)
    workflow, _version = reader.workflow(args.execution_arn)
    emit(f"watch {state.execution_id} on {stack.description}")
    return follow(reader, args.execution_arn, workflow, args.timeout, stack)


def cmd_console(args: argparse.Namespace) -> int:
    """The link to the live console page of an execution (local: the gateway's; deployed: a signed socket)."""
    stack, reader, state = existing_execution(args)
    api_url = stack.resources.management_api_url
    if not api_url:
        raise CliError(f"{stack.description} has no management API (deployed before it?)")
    socket = socket_url(stack, reader.tenant_id, args.execution_arn, CONSOLE_LINK_SECONDS)
    link = console_link(f"{api_url.rstrip('/')}/console", state.execution_id, socket)
    if args.json:
        emit_json(
            {"execution_id": state.execution_id, "console_url": link, "expires_in": CONSOLE_LINK_SECONDS}
        )
        return EXIT_OK
    emit(link)
    return EXIT_OK


def cmd_events(args: argparse.Namespace) -> int:
    """The execution log: every state change, numbered, in order."""
    _stack, reader, _state = existing_execution(args)
    events = reader.events(args.execution_arn, args.since)
    if args.json:
        emit_json([event.model_dump(exclude_none=True) for event in events])
        return EXIT_OK
    for event in events:
        emit(event_line(event))
    return EXIT_OK


def cmd_checkpoints(args: argparse.Namespace) -> int:
    """Every node outcome the execution recorded, in the order they were reached: what a resume reuses."""
    _stack, reader, _state = existing_execution(args)
    status, checkpoints = reader.checkpoints(args.execution_arn)
    rows = checkpoint_rows(checkpoints)
    if args.json:
        emit_json({"execution_arn": args.execution_arn, "status": status, "checkpoints": rows})
        return EXIT_OK
    for line in checkpoint_lines(args.execution_arn, status, rows):
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


def cmd_stop(args: argparse.Namespace) -> int:
    """Stop a running execution, whatever it waits for: it ends ABORTED. A finished one is refused."""
    execution_id = execution_id_of(args.execution)
    _, api = connect(args)
    answer = api.stop(execution_id, args.cause)
    if args.json:
        emit_json(answer)
        return EXIT_OK
    emit(f"stopped {execution_id}: {answer.get('status')}")
    return EXIT_OK


# --- the parsers --------------------------------------------------------------------------------------------


def _execution_parser(commands: Any, name: str, help_text: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(name, help=help_text)
    parser.add_argument("execution_arn", metavar="EXECUTION", help="the execution's id or ARN")
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

    stop = commands.add_parser("stop", help="stop a running execution (it ends ABORTED)")
    stop.add_argument("execution", metavar="EXECUTION", help="the execution's ARN or id")
    stop.add_argument("--cause", help="why (kept with the execution)")
    add_target_options(stop)
    stop.set_defaults(handler=cmd_stop)

    approve = commands.add_parser("approve", help="approve (or --reject) an approval node that waits")
    approve.add_argument("execution", metavar="EXECUTION", help="the execution's ARN or id")
    approve.add_argument("node_id", metavar="NODE")
    approve.add_argument("--reject", action="store_true", help="reject instead of approving")
    approve.add_argument("--comment", help="why (kept with the decision, shown in the node's output)")
    add_target_options(approve)
    approve.set_defaults(handler=cmd_approve)
