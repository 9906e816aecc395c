"""Published workflows through the management API: publish, workflows, versions, diff, activate, rollback.

Every command here only talks to the API (``segflow_cli.api_client``); the API validates and decides. Its
errors end the command with its message (``main`` maps them): exit 2 for a request it found invalid (400,
422), 1 otherwise (unknown workflow or version, a conflict, not authorized).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from segflow_cli.api_client import ApiError
from segflow_cli.common import EXIT_OK, read_json_file
from segflow_cli.rendering.text import arrow_for, emit, emit_json
from segflow_cli.rendering.versions import (
    activated_line,
    diff_lines,
    publish_line,
    rolled_back_line,
    version_lines,
    workflow_lines,
)
from segflow_cli.target import add_target_options, check_tenant, check_version, connect


def cmd_publish(args: argparse.Namespace) -> int:
    check_version(args.expect_active, "--expect-active")
    definition = read_json_file(Path(args.file))
    _, api = connect(args)
    try:
        published = api.publish(definition, args.message, not args.no_activate, args.expect_active)
    except ApiError as error:
        if not args.json:
            raise
        emit_json({"ok": False, "status": error.status, "code": error.code, "message": error.message,
                   "details": error.details})  # fmt: skip
        return error.exit_code
    if args.json:
        emit_json(published)
    else:
        emit(publish_line(published))
    return EXIT_OK


def cmd_workflows(args: argparse.Namespace) -> int:
    _, api = connect(args)
    workflows = api.workflows()
    if args.json:
        emit_json({"workflows": workflows})
    elif not workflows:
        emit(f"no workflows published (tenant {check_tenant(args.tenant)})")
    else:
        for line in workflow_lines(workflows):
            emit(line)
    return EXIT_OK


def cmd_versions(args: argparse.Namespace) -> int:
    _, api = connect(args)
    document = api.versions(args.workflow_id)
    if args.json:
        emit_json(document)
        return EXIT_OK
    for line in version_lines(document, arrow_for(sys.stdout)):
        emit(line)
    return EXIT_OK


def cmd_diff(args: argparse.Namespace) -> int:
    check_version(args.from_version, "FROM")
    check_version(args.to_version, "TO")
    _, api = connect(args)
    document = api.diff(args.workflow_id, args.from_version, args.to_version)
    if args.json:
        emit_json(document)
        return EXIT_OK
    for line in diff_lines(document, arrow_for(sys.stdout)):
        emit(line)
    return EXIT_OK


def cmd_rollback(args: argparse.Namespace) -> int:
    check_version(args.to, "--to")
    check_version(args.expect_active, "--expect-active")
    _, api = connect(args)
    answer = api.rollback(args.workflow_id, args.to, args.reason, args.expect_active)
    if args.json:
        emit_json(answer)
    else:
        emit(rolled_back_line(answer["result"]))
    return EXIT_OK


def cmd_activate(args: argparse.Namespace) -> int:
    check_version(args.version, "VERSION")
    check_version(args.expect_active, "--expect-active")
    _, api = connect(args)
    answer = api.activate(args.workflow_id, args.version, args.reason, args.expect_active)
    if args.json:
        emit_json(answer)
    else:
        emit(activated_line(answer["result"]))
    return EXIT_OK


def add_commands(commands: Any) -> None:
    """The version commands, on the ``segflow`` subparsers."""
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
