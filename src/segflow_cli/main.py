"""The ``segflow`` command: builds the parser from the command groups, dispatches, maps errors to exit codes.

The exit codes are :data:`EXIT_CODES` (shown by ``segflow --help``, documented in the README). A user's
mistake, a closed pipe (``segflow events … | head -n 1``) or a missing optional extra ends the command with a
message, never a traceback.
"""

from __future__ import annotations

import argparse
import difflib
import io
import os
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from segflow.domain.errors import SegflowError
from segflow.dsl.validation import WorkflowValidationError

from segflow_cli.api_client import ApiError
from segflow_cli.commands import deployments, executions, local, operations, versions, workflows
from segflow_cli.common import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_INVALID, EXIT_OK, CliError
from segflow_cli.locate import LocateError
from segflow_cli.rendering.text import warn
from segflow_cli.rendering.workflows import issue_lines

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_INVALID", "EXIT_OK", "CliError", "build_parser", "main"]

# In the order ``segflow --help`` lists them.
COMMAND_GROUPS = (workflows, local, executions, operations, versions, deployments)

# The one table of exit codes (``segflow --help`` prints it; README.md "Exit codes" repeats it).
EXIT_CODES = (
    (EXIT_OK, "success (run, watch, resume: the execution succeeded)"),
    (
        EXIT_FAILED,
        "the execution did not succeed; the stack could not be reached or lacks what the command needs; the "
        "API refused the request (an unknown workflow or version, a conflict, an execution already ended)",
    ),
    (
        EXIT_INVALID,
        "invalid input: usage, an unreadable or invalid workflow or input, an unknown execution or node, an "
        "execution that cannot resume",
    ),
    (EXIT_INTERRUPTED, "interrupted (Ctrl-C)"),
)


# What the optional ``[local]`` extra installs (live following needs websockets; local up, moto).
OPTIONAL_MODULES = frozenset({"websockets", "moto", "werkzeug", "docker"})


def segflow_version() -> str:
    try:
        return package_version("segflow")
    except PackageNotFoundError:
        return "unknown"


def exit_code_epilog() -> str:
    lines = ["exit codes:"]
    lines += [f"  {code:<4} {meaning}" for code, meaning in EXIT_CODES]
    return "\n".join(lines)


class _SuggestingParser(argparse.ArgumentParser):
    """Says "did you mean …?" for a mistyped command (argparse's own suggest_on_error is Python 3.14+)."""

    def error(self, message: str) -> Any:
        if "invalid choice:" in message:
            choices = next(
                (action.choices for action in self._actions if isinstance(action.choices, dict)), None
            )
            given = message.split("invalid choice:", 1)[1].split("'")[1] if "'" in message else ""
            close = difflib.get_close_matches(given, list(choices or ()), n=3, cutoff=0.6)
            if close:
                message = f"{message.split(' (choose from', 1)[0]}; did you mean {' or '.join(close)}?"
        super().error(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _SuggestingParser(
        prog="segflow",
        description="Serverless workflow orchestrator on AWS Step Functions.",
        epilog=exit_code_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"segflow {segflow_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_SuggestingParser)
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
    if isinstance(error, RecursionError):  # a document nested too deeply to read or render
        return ["the document is nested too deeply to handle"], EXIT_INVALID
    if isinstance(error, ModuleNotFoundError) and (error.name or "").split(".")[0] in OPTIONAL_MODULES:
        return [f"this command needs {error.name!r}: pip install 'segflow[local]'"], EXIT_FAILED
    return None


def _closed_pipe() -> int:
    """stdout's reader went away (``| head -n 1``): stop quietly, as Unix tools do."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the interpreter's last flush must not fail again
    except (OSError, ValueError):
        pass
    return EXIT_OK


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
    except BrokenPipeError:
        return _closed_pipe()
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as error:
        ended = failure(error)
        if ended is None:
            raise
        lines, exit_code = ended
        try:
            for line in lines:
                warn(f"error: {line}")
        except BrokenPipeError:
            pass
        return exit_code


if __name__ == "__main__":
    sys.exit(main())
