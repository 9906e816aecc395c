"""The ``segflow`` command: builds the parser from the command groups, dispatches, maps errors to exit codes.

Exit codes: 0 success; 1 the execution did not succeed, the stack could not be reached (or lacks what the
command needs), or the API refused the request (unknown workflow or version, a conflict); 2 invalid input
(usage, an unreadable or invalid workflow, an unknown execution, one that cannot resume); 130 interrupted.
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Callable, Sequence

from botocore.exceptions import BotoCoreError, ClientError
from segflow.domain.errors import SegflowError
from segflow.dsl.validation import WorkflowValidationError

from segflow_cli.api_client import ApiError
from segflow_cli.commands import deployments, executions, local, versions, workflows
from segflow_cli.common import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_INVALID, EXIT_OK, CliError
from segflow_cli.locate import LocateError
from segflow_cli.rendering.text import warn
from segflow_cli.rendering.workflows import issue_lines

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_INVALID", "EXIT_OK", "CliError", "build_parser", "main"]

# In the order ``segflow --help`` lists them.
COMMAND_GROUPS = (workflows, local, executions, versions, deployments)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="segflow", description="Serverless workflow orchestrator on AWS Step Functions."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.add_commands(commands)
    return parser


def failure(error: Exception) -> tuple[list[str], int] | None:
    """The ``error:`` lines and exit code an error ends a command with; None for one that is a bug."""
    if isinstance(error, CliError):
        return error.lines, error.exit_code
    if isinstance(error, ApiError):
        return error.lines(), error.exit_code
    if isinstance(error, WorkflowValidationError):  # e.g. start() refusing what the local check let through
        return issue_lines(error.issues), EXIT_INVALID
    if isinstance(error, SegflowError):  # the services': an unknown execution, a conflict, not deployed
        return [str(error)], EXIT_INVALID if error.kind in ("invalid", "not_found") else EXIT_FAILED
    if isinstance(error, (LocateError, BotoCoreError, ClientError)):
        return [str(error)], EXIT_FAILED
    return None


def main(argv: Sequence[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):  # a label or error text must not crash an ASCII-only terminal
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_INVALID
    try:
        return handler(args)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as error:
        ended = failure(error)
        if ended is None:
            raise
        lines, exit_code = ended
        for line in lines:
            warn(f"error: {line}")
        return exit_code


if __name__ == "__main__":
    sys.exit(main())
