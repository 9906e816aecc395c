"""Workflow files, checked on this machine: ``segflow validate`` and ``segflow schema``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from segflow.dsl.schema import workflow_json_schema
from segflow.dsl.validation import WorkflowValidationError, executable_issues, validate_workflow
from segflow.engine.partitioner import partition

from segflow_cli.common import EXIT_INVALID, EXIT_OK, CliError, read_json_file
from segflow_cli.rendering.text import emit, emit_json, warn
from segflow_cli.rendering.workflows import issue_dicts, issue_lines, valid_line


def cmd_validate(args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        workflow = read_json_file(path)
        graph = validate_workflow(workflow)
    except CliError as error:
        if not args.json:
            raise
        errors = [{"location": "file", "message": line} for line in error.lines]
        emit_json({"ok": False, "file": str(path), "errors": errors})
        return error.exit_code
    except WorkflowValidationError as error:
        if not args.json:
            raise
        emit_json({"ok": False, "file": str(path), "errors": issue_dicts(error.issues)})
        return EXIT_INVALID

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
    emit(valid_line(graph.workflow_id, counts))
    for warning in warnings:
        warn(f"warning: {warning}")
    return EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    emit(json.dumps(workflow_json_schema(builtin_only=args.builtin_only), indent=2, sort_keys=True))
    return EXIT_OK


def add_commands(commands: Any) -> None:
    validate = commands.add_parser("validate", help="check a workflow file (exit 2 when invalid)")
    validate.add_argument("file", metavar="FILE")
    validate.add_argument("--json", action="store_true", help="print a machine-readable report")
    validate.set_defaults(handler=cmd_validate)

    schema = commands.add_parser("schema", help="print the JSON Schema of workflow files (for editors)")
    schema.add_argument(
        "--builtin-only",
        action="store_true",
        help="only segflow's own node types (custom ones come from SEGFLOW_NODE_MODULES and entry points)",
    )
    schema.set_defaults(handler=cmd_schema)
