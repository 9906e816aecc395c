"""The ``segflow`` command: validate, publish and run workflows, inspect executions, run the embedded AWS.

Exit codes: 0 success; 1 the execution did not succeed, the deployment could not be reached, or the API
refused the request (unknown workflow or version, a conflict); 2 invalid input (usage, an unreadable or
invalid workflow, an unknown execution).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from botocore.exceptions import BotoCoreError, ClientError
from segflow.contracts import DEFAULT_TENANT
from segflow.domain.ids import execution_id_of
from segflow.domain.statuses import REUSABLE_NODE_STATUSES, TERMINAL_EXECUTION_STATUSES
from segflow.dsl.graph import WorkflowGraph
from segflow.dsl.schema import workflow_json_schema
from segflow.dsl.validation import (
    ValidationIssue,
    WorkflowValidationError,
    executable_issues,
    validate_workflow,
)
from segflow.engine.partitioner import partition
from segflow.engine.resume import ResumeRefused

from segflow_cli import deployments, versions
from segflow_cli.api_client import TOKEN_ENV, ApiError, ManagementApi, api_for
from segflow_cli.client import NodeView, SegflowClient
from segflow_cli.common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_INVALID,
    EXIT_OK,
    CliError,
    emit,
    emit_json,
    parse_json,
    plural,
    read_json_file,
)
from segflow_cli.live import (
    CONSOLE_LINK_SECONDS,
    LiveError,
    LiveEvents,
    LiveView,
    console_link,
    local_url,
    signed_url,
    token_url,
)
from segflow_cli.locate import DEFAULT_STAGE, LocatedStack, LocateError, locate, region_of
from segflow_cli.progress import (
    Progress,
    format_duration,
    glyphs_for,
    progress_for,
    summary_line,
    table_lines,
)
from segflow_cli.versions import api_failure, check_tenant, check_version

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_INVALID", "EXIT_OK", "CliError", "main"]

POLL_SECONDS = 0.25
STAGE_PATTERN = re.compile(r"[a-z][a-z0-9-]{0,19}")


# --- reading workflows and inputs ------------------------------------------------------------------------


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


def _user_resources(pairs: list[str]) -> Any:
    """``-c data_tables=a,b`` (repeatable): your resources, checked as the stack checks its contexts."""
    from segflow import contexts

    values: dict[str, str] = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator or key not in contexts.USER_RESOURCE_CONTEXTS:
            known = ", ".join(contexts.USER_RESOURCE_CONTEXTS)
            raise CliError(f"-c {pair!r}: expected KEY=NAME[,NAME…] with KEY one of {known}", EXIT_INVALID)
        values[key] = ",".join(filter(None, (values.get(key, ""), value)))
    try:
        return contexts.user_resources(values.get)
    except ValueError as error:
        raise CliError(f"-c {error}", EXIT_INVALID) from None


def cmd_local_up(args: argparse.Namespace) -> int:
    if not STAGE_PATTERN.fullmatch(args.stage):
        raise CliError(f"--stage {args.stage!r} must match {STAGE_PATTERN.pattern}", EXIT_INVALID)
    try:
        from segflow_local.server import LocalServerError, serve
    except ImportError as error:
        raise CliError(f"segflow local needs moto: pip install 'segflow[local]' ({error})") from None
    if args.fault_rate:
        if not 0 < args.fault_rate <= 0.5:
            raise CliError(f"--fault-rate {args.fault_rate} must be above 0 and at most 0.5", EXIT_INVALID)
        from segflow_local import fault_rates

        plan = fault_rates.every_fault(args.fault_rate, args.fault_seed, args.fault_log)
        os.environ[fault_rates.FAULT_RATES_ENV] = plan.model_dump_json()  # worker processes inherit it
    try:
        serve(
            args.host,
            args.port,
            args.stage,
            args.verbose,
            announce=emit,
            isolation=args.isolation,
            user_resources=_user_resources(args.context),
        )
    except LocalServerError as error:
        raise CliError(str(error)) from None
    return EXIT_OK


# --- run ---------------------------------------------------------------------------------------------------


def workflow_target(target: str) -> Path | str:
    """A workflow file (it exists, or looks like a path), else the id of a published workflow."""
    path = Path(target)
    if path.exists() or path.suffix.lower() == ".json" or "/" in target or "\\" in target:
        return path
    return target


def execution_result(client: SegflowClient, arn: str, description: dict[str, Any]) -> dict[str, Any]:
    """``{execution_arn, status, output}``, plus ``error`` and ``cause`` when it did not succeed."""
    status = description["status"]
    result: dict[str, Any] = {"execution_arn": arn, "status": status, "output": None}
    if status == "SUCCEEDED":
        final = client.output(arn)
        result["output"] = final.get("output") if isinstance(final, dict) else final
    elif status in TERMINAL_EXECUTION_STATUSES:
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
            finished = description["status"] in TERMINAL_EXECUTION_STATUSES
            views = client.node_views(
                arn, workflow, finished
            )  # after describe: all nodes shown when finished
            progress.update(views)
            if description["status"] in TERMINAL_EXECUTION_STATUSES:
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
    if status not in TERMINAL_EXECUTION_STATUSES:
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


def run_quietly(
    client: SegflowClient, arn: str, timeout_seconds: float | None, extra: dict[str, Any] | None = None
) -> int:
    """``--json``: no progress, one JSON object once the execution ends (or the timeout passes)."""
    try:
        description = client.wait(arn, timeout_seconds=timeout_seconds or float("inf"))
    except TimeoutError:
        description = client.describe(arn)
    emit_json({**execution_result(client, arn, description), **(extra or {})})
    return EXIT_OK if description["status"] == "SUCCEEDED" else EXIT_FAILED


def socket_url(stack: LocatedStack, client: SegflowClient, arn: str, expires: int = 300) -> str:
    """The WebSocket API's URL for this caller: the local gateway's with the tenant, with ``$SEGFLOW_TOKEN``
    (a JWT: ``auth=jwt`` deployments) in its query, or SigV4-presigned."""
    url = client.resources.websocket_url
    if not url:
        raise CliError(f"{stack.description} has no live-events WebSocket API (deployed before it?)")
    if stack.endpoint:
        return local_url(url, client.tenant_id)
    token = os.environ.get(TOKEN_ENV)
    if token:
        return token_url(url, token)
    return signed_url(url, stack.session, region_of(arn), expires)


def live_events(stack: LocatedStack, client: SegflowClient, arn: str, since_seq: int = 0) -> LiveEvents:
    """The execution's events from the deployment's WebSocket API (a fresh signature for every reconnect)."""
    socket_url(stack, client, arn)  # fails now, not on the first connect, if there is no socket
    return LiveEvents(lambda: socket_url(stack, client, arn), execution_id_of(arn), since_seq)


def watch_live(
    client: SegflowClient,
    stack: LocatedStack,
    arn: str,
    workflow: dict[str, Any],
    progress: Progress,
    timeout_seconds: float | None,
) -> tuple[dict[str, Any], list[NodeView]]:
    """Follow the execution's events over the WebSocket until its terminal event (or the timeout)."""
    deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
    view = LiveView(workflow)
    try:
        for event in live_events(stack, client, arn):
            view.apply(event)
            progress.update(view.views())
            if deadline is not None and time.monotonic() >= deadline:
                break
    except LiveError as error:
        raise CliError(str(error)) from None
    finally:
        progress.finish()
    return client.describe(arn), view.views()


def follow(
    client: SegflowClient,
    arn: str,
    workflow: dict[str, Any],
    timeout_seconds: float | None,
    stack: LocatedStack | None = None,
) -> int:
    """Live progress until the execution ends, then its outcome: from the WebSocket when ``deployment`` is
    given (``--watch``, ``segflow watch``), else by polling the records."""
    try:
        if stack is not None:
            description, views = watch_live(
                client, stack, arn, workflow, progress_for(sys.stdout), timeout_seconds
            )
        else:
            description, views = watch(client, arn, workflow, progress_for(sys.stdout), timeout_seconds)
    except KeyboardInterrupt:
        print(f"\ndetached; the execution keeps running: segflow status {arn}", file=sys.stderr)
        return EXIT_INTERRUPTED
    return report_run(client, arn, description, views, timeout_seconds)


def cmd_run(args: argparse.Namespace) -> int:
    tenant = check_tenant(args.tenant)
    check_version(args.version, "--version")
    target = workflow_target(args.workflow)
    execution_input = read_input(args)
    if isinstance(target, str):
        return run_published(args, target, tenant, execution_input)
    if args.version is not None:
        raise CliError("--version applies to a published workflow id, not to a file", EXIT_INVALID)
    path = target
    workflow = read_json_file(path)
    try:
        graph = check_workflow(workflow)
    except WorkflowValidationError as error:
        if args.json:
            invalid = {"execution_arn": None, "status": "INVALID", "output": None}
            emit_json({**invalid, "errors": issue_dicts(error.issues)})
            return EXIT_INVALID
        raise CliError(issue_lines(error.issues), EXIT_INVALID) from None

    stack = locate(args.endpoint, args.stage)
    client = SegflowClient(stack.session, stack.resources, tenant)
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
    stack, api = versions.connect(args)
    try:
        started = api.start_execution(workflow_id, args.version, execution_input)
    except ApiError as error:
        failure = api_failure(error)
        if error.code == "WorkflowNotFound" and args.version is None:
            failure.lines.append(f"(and there is no file {args.workflow!r})")
        raise failure from None
    arn, version = started["execution_arn"], started["version"]
    client = SegflowClient(stack.session, stack.resources, tenant)
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
        return cast(
            dict[str, Any],
            json.loads(client.s3.get_object(Bucket=client.resources.bucket, Key=key)["Body"].read()),
        )
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


def status_document(
    client: SegflowClient,
    arn: str,
    description: dict[str, Any],
    workflow: dict[str, Any],
    views: list[NodeView],
    version: int | None = None,
) -> dict[str, Any]:
    result = execution_result(client, arn, description)
    return {
        "execution_arn": arn,
        "workflow_id": workflow.get("workflow_id"),
        "version": version,
        "status": description["status"],
        "started": _iso(description.get("startDate")),
        "stopped": _iso(description.get("stopDate")),
        "nodes": [asdict(view) for view in views],
        **{key: value for key, value in result.items() if key not in ("execution_arn", "status")},
    }


def print_status(
    arn: str,
    description: dict[str, Any],
    workflow: dict[str, Any],
    views: list[NodeView],
    version: int | None = None,
) -> None:
    status = description["status"]
    emit(f"execution  {arn}")
    pinned = f" (version {version})" if version is not None else ""
    emit(f"workflow   {workflow.get('workflow_id') or '?'}{pinned}")
    emit(f"status     {status}")
    emit(f"started    {_iso(description.get('startDate')) or '-'}")
    seconds = run_seconds(description)
    if seconds is not None:
        emit(f"stopped    {_iso(description['stopDate'])} ({seconds:.2f} s)")
    emit()
    for line in table_lines(views, width=10_000, max_rows=max(1, len(views)), glyphs=glyphs_for(sys.stdout)):
        emit(line)
    if status in TERMINAL_EXECUTION_STATUSES and status != "SUCCEEDED":
        emit()
        emit(f"error      {description.get('error') or '-'}")
        emit(f"cause      {description.get('cause') or '-'}")


def execution_client(args: argparse.Namespace) -> tuple[SegflowClient, LocatedStack, dict[str, Any]]:
    """A client for an existing execution (node records are kept per tenant: its tenant comes from its
    input), the stack, and the execution's description."""
    arn = args.execution_arn
    if not arn.startswith("arn:") or ":execution:" not in arn:
        raise CliError(f"{arn!r} is not an execution ARN (arn:aws:states:...:execution:...)", EXIT_INVALID)
    stack = locate(args.endpoint, args.stage)
    client = SegflowClient(stack.session, stack.resources)
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
    request = execution_request(description)
    workflow, version = execution_workflow(client, stack, arn, request)
    views = client.node_views(arn, workflow, description["status"] in TERMINAL_EXECUTION_STATUSES)
    if args.json:
        emit_json(status_document(client, arn, description, workflow, views, version))
    else:
        print_status(arn, description, workflow, views, version)
    return EXIT_OK


# --- resume and checkpoints ---------------------------------------------------------------------------------


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
    arn, api_url = args.execution_arn, client.resources.management_api_url
    if not api_url:
        raise CliError(f"{stack.description} has no management API (deployed before it?)")
    socket = socket_url(stack, client, arn, CONSOLE_LINK_SECONDS)
    emit(console_link(f"{api_url.rstrip('/')}/console", execution_id_of(arn), socket))
    return EXIT_OK


def cmd_events(args: argparse.Namespace) -> int:
    """The execution log: every state change, numbered, in order."""
    client, _deployment, _description = execution_client(args)
    events = client.events(args.execution_arn, args.since)
    if args.json:
        emit_json([event.model_dump(exclude_none=True) for event in events])
        return EXIT_OK
    for event in events:
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
        emit(
            f"{event.seq:>6} {when} {subject}: {event.previous_state} -> {event.new_state}"
            f" [{event.progress.completed}/{event.progress.total}] {detail}".rstrip()
        )
    return EXIT_OK


def cmd_checkpoints(args: argparse.Namespace) -> int:
    """Every node outcome the execution recorded, in the order they were reached: what a resume reuses."""
    client, _deployment, description = execution_client(args)
    records = sorted(
        client.node_records(args.execution_arn).values(),
        key=lambda r: (r.finished_at or r.started_at or float("inf"), r.stage, r.node_id),
    )
    rows: list[dict[str, Any]] = [
        {
            "sequence": index,
            "node_id": record.node_id,
            "status": record.status,
            "attempt": record.attempt,
            "finished_at": (
                datetime.fromtimestamp(record.finished_at, UTC).isoformat(timespec="milliseconds")
                if record.finished_at
                else None
            ),
            "output_ref": record.output_key,
            "output_bytes": record.output_bytes,
            "reused_from": record.reused_from,
            "resumable": record.status in REUSABLE_NODE_STATUSES,
        }
        for index, record in enumerate(records, start=1)
    ]
    if args.json:
        emit_json({"execution_arn": args.execution_arn, "status": description["status"], "checkpoints": rows})
        return EXIT_OK
    emit(f"execution  {args.execution_arn} ({description['status']})")
    emit(f"{'seq':>4}  {'node':24} {'status':10} {'try':>3}  {'finished':29} output")
    for row in rows:
        where = row["output_ref"] or (f"inline, {row['output_bytes']} B" if row["output_bytes"] else "-")
        reused = f"  (reused from {row['reused_from']})" if row["reused_from"] else ""
        emit(
            f"{row['sequence']:>4}  {row['node_id'][:24]:24} {row['status']:10} {row['attempt']:>3}  "
            f"{row['finished_at'] or '-':29} {where}{reused}"
        )
    return EXIT_OK


# --- schema ------------------------------------------------------------------------------------------------


def cmd_schema(args: argparse.Namespace) -> int:
    emit(json.dumps(workflow_json_schema(builtin_only=args.builtin_only), indent=2, sort_keys=True))
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
    parser.add_argument(
        "--tenant",
        help=f"tenant id on a local endpoint (default: {DEFAULT_TENANT}); on AWS your identity decides",
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
    up.add_argument(
        "-c",
        "--context",
        action="append",
        default=[],
        metavar="KEY=NAMES",
        help="name your resources nodes may use, as `cdk deploy -c` does: data_tables, data_buckets, "
        "notification_topics, invoke_functions (comma-separated names; repeatable). Nodes are refused "
        "anything else, as on AWS",
    )
    up.add_argument(
        "--isolation",
        choices=("thread", "process"),
        default="thread",
        help="run handlers in the server's threads (default, fastest) or one worker process per invocation "
        "(a killed or timed-out process fails the invoke as on Lambda: Runtime.ExitError, Sandbox.Timedout)",
    )
    up.add_argument(
        "--fault-rate",
        type=float,
        default=0.0,
        metavar="RATE",
        help="fail this fraction of calls as AWS does under load: the state machine's Lambda invokes "
        "throttled, the handlers' DynamoDB calls throttled and transactions in conflict, their S3 calls "
        "answered 500/503 (default 0: none)",
    )
    up.add_argument("--fault-seed", type=int, default=0, metavar="N", help="which calls fail (default 0)")
    up.add_argument(
        "--fault-log",
        metavar="FILE",
        help="append each injected fault to FILE, one JSON line, from every process",
    )
    up.set_defaults(handler=cmd_local_up)

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
    _add_target_options(run)
    run.set_defaults(handler=cmd_run)

    watch_command = commands.add_parser(
        "watch", help="the live node table of an execution, over the WebSocket API; exits with its status"
    )
    watch_command.add_argument("execution_arn", metavar="EXECUTION_ARN")
    watch_command.add_argument(
        "--timeout", type=float, metavar="SECONDS", help="stop watching after this long"
    )
    _add_target_options(watch_command)
    watch_command.set_defaults(handler=cmd_watch)

    console_command = commands.add_parser(
        "console", help="a link to the live web view of an execution (reconnects and catches up by itself)"
    )
    console_command.add_argument("execution_arn", metavar="EXECUTION_ARN")
    _add_target_options(console_command)
    console_command.set_defaults(handler=cmd_console)

    events_command = commands.add_parser("events", help="an execution's log: every state change, in order")
    events_command.add_argument("execution_arn", metavar="EXECUTION_ARN")
    events_command.add_argument("--since", type=int, default=0, metavar="SEQ", help="only events after SEQ")
    _add_target_options(events_command)
    events_command.set_defaults(handler=cmd_events)

    status = commands.add_parser("status", help="an execution's status and its node table")
    status.add_argument("execution_arn", metavar="EXECUTION_ARN")
    _add_target_options(status)
    status.set_defaults(handler=cmd_status)

    resume = commands.add_parser(
        "resume",
        help="continue a failed, timed-out or aborted execution in a new one, reusing its completed nodes",
    )
    resume.add_argument("execution_arn", metavar="EXECUTION_ARN")
    resume.add_argument(
        "--from", dest="from_node", metavar="NODE", help="run NODE and every node after it again"
    )
    resume.add_argument("--timeout", type=float, metavar="SECONDS", help="stop waiting after this long")
    _add_target_options(resume)
    resume.set_defaults(handler=cmd_resume)

    checkpoints = commands.add_parser("checkpoints", help="the node outcomes an execution recorded")
    checkpoints.add_argument("execution_arn", metavar="EXECUTION_ARN")
    _add_target_options(checkpoints)
    checkpoints.set_defaults(handler=cmd_checkpoints)

    versions.add_commands(commands, _add_target_options)
    deployments.add_commands(commands, _add_target_options)

    schema = commands.add_parser("schema", help="print the JSON Schema of workflow files (for editors)")
    schema.add_argument(
        "--builtin-only",
        action="store_true",
        help="only segflow's own node types (custom ones come from SEGFLOW_NODE_MODULES and entry points)",
    )
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
        return cast(int, args.handler(args))
    except CliError as error:
        for line in error.lines:
            print(f"error: {line}", file=sys.stderr)
        return error.exit_code
    except LocateError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
    except ApiError as error:
        failure = api_failure(error)
        for line in failure.lines:
            print(f"error: {line}", file=sys.stderr)
        return failure.exit_code
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
