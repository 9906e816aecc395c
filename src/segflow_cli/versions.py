"""Published workflows through the management API: publish, list, versions, diff, activate, rollback.

Every command here only talks to the API (``segflow_cli.api_client``); the API validates and decides. Its
errors end the command with its message: exit 2 for a request it found invalid (400, 422), 1 otherwise
(unknown workflow or version, a conflict, not authorized).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from segflow.contracts import DEFAULT_TENANT, TENANT_PATTERN
from segflow.domain.ids import execution_id_of

from segflow_cli.api_client import ApiError, ManagementApi, api_for
from segflow_cli.common import (
    EXIT_FAILED,
    EXIT_INVALID,
    EXIT_OK,
    CliError,
    arrow_for,
    emit,
    emit_json,
    read_json_file,
    table,
)
from segflow_cli.locate import LocatedStack, locate


def check_tenant(tenant: str | None) -> str:
    tenant = tenant or DEFAULT_TENANT
    if not TENANT_PATTERN.match(tenant):
        raise CliError(f"--tenant {tenant!r}: 1-63 lowercase letters, digits or hyphens", EXIT_INVALID)
    return tenant


def check_version(value: int | None, option: str) -> None:
    if value is not None and value < 1:
        raise CliError(f"{option} {value}: versions start at 1", EXIT_INVALID)


def connect(args: argparse.Namespace) -> tuple[LocatedStack, ManagementApi]:
    """The deployment and its management API, for the tenant the arguments name."""
    tenant = check_tenant(getattr(args, "tenant", None))
    stack = locate(args.endpoint, args.stage)
    if stack.endpoint is None and getattr(args, "tenant", None) not in (None, DEFAULT_TENANT):
        print(
            "warning: --tenant applies to local endpoints; on AWS the tenant comes from your identity",
            file=sys.stderr,
        )
    return stack, api_for(stack, tenant)


def api_failure(error: ApiError) -> CliError:
    exit_code = EXIT_INVALID if error.status in (400, 422) else EXIT_FAILED
    return CliError(error.lines(), exit_code)


def _v(version: Any) -> str:
    return f"v{version}" if version is not None else "-"


# --- publish -----------------------------------------------------------------------------------------------


def cmd_publish(args: argparse.Namespace) -> int:
    check_version(args.expect_active, "--expect-active")
    definition = read_json_file(Path(args.file))
    _, api = connect(args)
    try:
        published = api.publish(definition, args.message, not args.no_activate, args.expect_active)
    except ApiError as error:
        if args.json:
            emit_json({"ok": False, "status": error.status, "code": error.code, "message": error.message,
                       "details": error.details})  # fmt: skip
            return api_failure(error).exit_code
        raise api_failure(error) from None
    if args.json:
        emit_json(published)
        return EXIT_OK
    emit(publish_line(published))
    return EXIT_OK


def publish_line(published: dict[str, Any]) -> str:
    version, workflow = published["version"], published["workflow"]
    number, active = version["version"], workflow.get("active_version")
    if active == number:
        state = "active"
    elif active is None:
        state = "not active; no version is active"
    else:
        state = f"not active; version {active} stays active"
    return f"published {version['workflow_id']} version {number} ({state})"


# --- workflows ---------------------------------------------------------------------------------------------


def cmd_workflows(args: argparse.Namespace) -> int:
    _, api = connect(args)
    try:
        workflows = api.workflows()
    except ApiError as error:
        raise api_failure(error) from None
    if args.json:
        emit_json({"workflows": workflows})
        return EXIT_OK
    if not workflows:
        emit(f"no workflows published (tenant {check_tenant(args.tenant)})")
        return EXIT_OK
    for line in workflow_lines(workflows):
        emit(line)
    return EXIT_OK


def workflow_lines(workflows: Sequence[dict[str, Any]]) -> list[str]:
    rows = [
        (
            workflow["workflow_id"],
            workflow.get("name"),
            _v(workflow.get("active_version")),
            _v(workflow.get("latest_version")),
            workflow.get("updated_at"),
            workflow.get("updated_by"),
        )
        for workflow in sorted(workflows, key=lambda workflow: workflow["workflow_id"])
    ]
    return table(("WORKFLOW", "NAME", "ACTIVE", "LATEST", "UPDATED", "BY"), rows)


# --- versions ----------------------------------------------------------------------------------------------


def cmd_versions(args: argparse.Namespace) -> int:
    _, api = connect(args)
    try:
        document = api.versions(args.workflow_id)
    except ApiError as error:
        raise api_failure(error) from None
    if args.json:
        emit_json(document)
        return EXIT_OK
    for line in version_lines(document, arrow_for(sys.stdout)):
        emit(line)
    return EXIT_OK


def version_lines(document: dict[str, Any], arrow: str = "→") -> list[str]:
    workflow = document["workflow"]
    active = workflow.get("active_version")
    lines = [
        f"workflow {workflow['workflow_id']} ({workflow.get('name') or workflow['workflow_id']}): "
        f"active {_v(active)}, latest {_v(workflow.get('latest_version'))}",
        "",
    ]
    rows = [
        (
            version["version"],
            "active" if version["version"] == active else "",
            version.get("created_at"),
            version.get("created_by"),
            version.get("node_count"),
            version.get("message") or "",
        )
        for version in document.get("versions", [])
    ]
    lines += table(("VERSION", "ACTIVE", "CREATED", "BY", "NODES", "MESSAGE"), rows)
    history = document.get("history", [])
    lines += ["", "HISTORY"]
    if not history:
        return [*lines, "no version has been active yet"]
    rows = [
        (
            entry["seq"],
            entry["kind"],
            f"{_v(entry.get('from_version'))} {arrow} {_v(entry.get('to_version'))}",
            entry.get("by"),
            entry.get("at"),
            entry.get("reason") or "",
        )
        for entry in history
    ]
    return lines + table(("SEQ", "KIND", "CHANGE", "BY", "AT", "REASON"), rows)


# --- diff --------------------------------------------------------------------------------------------------


def cmd_diff(args: argparse.Namespace) -> int:
    check_version(args.from_version, "FROM")
    check_version(args.to_version, "TO")
    _, api = connect(args)
    try:
        document = api.diff(args.workflow_id, args.from_version, args.to_version)
    except ApiError as error:
        raise api_failure(error) from None
    if args.json:
        emit_json(document)
        return EXIT_OK
    for line in diff_lines(document, arrow_for(sys.stdout)):
        emit(line)
    return EXIT_OK


def _edge(edge: dict[str, Any], arrow: str) -> str:
    condition = edge.get("condition")
    return f"{edge['source']} {arrow} {edge['target']}" + (f" (if {condition})" if condition else "")


def _condition(condition: Any) -> str:
    return "(none)" if condition is None else repr(condition)


def diff_lines(document: dict[str, Any], arrow: str = "→") -> list[str]:
    diff = document["diff"]
    lines = [f"diff {document['workflow_id']} v{document['from_version']} {arrow} v{document['to_version']}"]
    sections: list[tuple[str, list[str]]] = [
        ("nodes added", [f"+ {node}" for node in diff.get("nodes_added", [])]),
        ("nodes removed", [f"- {node}" for node in diff.get("nodes_removed", [])]),
        (
            "nodes changed",
            [
                f"~ {change['node_id']}: {', '.join(change['fields'])}"
                for change in diff.get("nodes_changed", [])
            ],
        ),
        ("edges added", [f"+ {_edge(edge, arrow)}" for edge in diff.get("edges_added", [])]),
        ("edges removed", [f"- {_edge(edge, arrow)}" for edge in diff.get("edges_removed", [])]),
        (
            "edges changed",
            [
                f"~ {change['source']} {arrow} {change['target']}: condition "
                f"{_condition(change.get('from_condition'))} {arrow} {_condition(change.get('to_condition'))}"
                for change in diff.get("edges_changed", [])
            ],
        ),
        ("metadata changed", [f"~ {field}" for field in diff.get("metadata_changed", [])]),
    ]
    shown = [(title, items) for title, items in sections if items]
    if not shown:
        return [*lines, "no differences"]
    for title, items in shown:
        lines.append(f"{title}:")
        lines += [f"  {item}" for item in items]
    return lines


# --- activate and rollback ---------------------------------------------------------------------------------


def cmd_rollback(args: argparse.Namespace) -> int:
    check_version(args.to, "--to")
    check_version(args.expect_active, "--expect-active")
    _, api = connect(args)
    try:
        answer = api.rollback(args.workflow_id, args.to, args.reason, args.expect_active)
    except ApiError as error:
        raise api_failure(error) from None
    if args.json:
        emit_json(answer)
        return EXIT_OK
    result = answer["result"]
    emit(
        f"rolled back {result['workflow_id']} from {_v(result.get('previous_version'))} "
        f"to {_v(result['rolled_back_to_version'])}"
    )
    return EXIT_OK


def cmd_activate(args: argparse.Namespace) -> int:
    check_version(args.version, "VERSION")
    check_version(args.expect_active, "--expect-active")
    _, api = connect(args)
    try:
        answer = api.activate(args.workflow_id, args.version, args.reason, args.expect_active)
    except ApiError as error:
        raise api_failure(error) from None
    if args.json:
        emit_json(answer)
        return EXIT_OK
    result = answer["result"]
    emit(
        f"activated {result['workflow_id']} version {result['rolled_back_to_version']} "
        f"(was {_v(result.get('previous_version'))})"
    )
    return EXIT_OK


# --- the parsers -------------------------------------------------------------------------------------------


def cmd_approve(args: argparse.Namespace) -> int:
    """Approve (or --reject) an approval node that waits; you are recorded as the approver."""
    execution_id = execution_id_of(args.execution)
    _, api = connect(args)
    decision = "reject" if args.reject else "approve"
    try:
        answer = api.decide(execution_id, args.node_id, decision, args.comment)
    except ApiError as error:
        raise api_failure(error) from None
    if args.json:
        emit_json(answer)
        return EXIT_OK
    comment = f": {answer['comment']}" if answer.get("comment") else ""
    done = {"approve": "approved", "reject": "rejected"}[answer["decision"]]
    emit(f"{done} {args.node_id} of {execution_id} as {answer['approver']}{comment}")
    return EXIT_OK


def add_commands(commands: Any, add_target_options: Any) -> None:
    """The version commands, on the ``segflow`` subparsers (``add_target_options`` adds --endpoint & co)."""
    publish = commands.add_parser("publish", help="publish a workflow file as its next version")
    publish.add_argument("file", metavar="FILE")
    publish.add_argument("-m", "--message", default="", help="why this version exists")
    publish.add_argument("--no-activate", action="store_true", help="publish without making it active")
    publish.add_argument(
        "--expect-active",
        type=int,
        metavar="N",
        help="fail (409) unless version N is active (optimistic lock)",
    )
    add_target_options(publish)
    publish.set_defaults(handler=cmd_publish)

    workflows = commands.add_parser("workflows", help="list the published workflows")
    add_target_options(workflows)
    workflows.set_defaults(handler=cmd_workflows)

    versions = commands.add_parser("versions", help="a workflow's versions and its activation history")
    versions.add_argument("workflow_id", metavar="WORKFLOW_ID")
    add_target_options(versions)
    versions.set_defaults(handler=cmd_versions)

    approve = commands.add_parser("approve", help="approve (or --reject) an approval node that waits")
    approve.add_argument("execution", metavar="EXECUTION", help="the execution's ARN or id")
    approve.add_argument("node_id", metavar="NODE")
    approve.add_argument("--reject", action="store_true", help="reject instead of approving")
    approve.add_argument("--comment", help="why (kept with the decision, shown in the node's output)")
    add_target_options(approve)
    approve.set_defaults(handler=cmd_approve)

    diff = commands.add_parser("diff", help="what changed between two versions of a workflow")
    diff.add_argument("workflow_id", metavar="WORKFLOW_ID")
    diff.add_argument("from_version", type=int, metavar="FROM")
    diff.add_argument("to_version", type=int, metavar="TO", nargs="?", help="default: the active version")
    add_target_options(diff)
    diff.set_defaults(handler=cmd_diff)

    rollback = commands.add_parser("rollback", help="make the previously active (or another) version active")
    rollback.add_argument("workflow_id", metavar="WORKFLOW_ID")
    rollback.add_argument(
        "--to", type=int, metavar="N", help="the version to restore (default: the previous)"
    )
    rollback.add_argument("--reason", default="", help="why (kept in the activation history)")
    rollback.add_argument(
        "--expect-active", type=int, metavar="N", help="fail (409) unless version N is active"
    )
    add_target_options(rollback)
    rollback.set_defaults(handler=cmd_rollback)

    activate = commands.add_parser("activate", help="make a published version the active one")
    activate.add_argument("workflow_id", metavar="WORKFLOW_ID")
    activate.add_argument("version", type=int, metavar="VERSION")
    activate.add_argument("--reason", default="", help="why (kept in the activation history)")
    activate.add_argument(
        "--expect-active", type=int, metavar="N", help="fail (409) unless version N is active"
    )
    add_target_options(activate)
    activate.set_defaults(handler=cmd_activate)
