"""What every command shares: exit codes, the error that ends a command, reading JSON files and arguments."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from segflow.domain.limits import MAX_JSON_DEPTH

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2
EXIT_INTERRUPTED = 130


class CliError(Exception):
    """Ends the command: each line is printed as ``error: <line>`` on stderr."""

    def __init__(self, lines: str | Sequence[str], exit_code: int = EXIT_FAILED) -> None:
        self.lines = [lines] if isinstance(lines, str) else list(lines)
        self.exit_code = exit_code
        super().__init__("; ".join(self.lines))


def parse_json(text: str, source: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        where = f"line {error.lineno}, column {error.colno}"
        raise CliError(f"{source}: not valid JSON: {error.msg} at {where}", EXIT_INVALID) from None
    except RecursionError:
        raise CliError(
            f"{source}: nests objects and lists too deep to read (at most {MAX_JSON_DEPTH} levels)",
            EXIT_INVALID,
        ) from None


def read_json_file(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise CliError(f"cannot read {path}: {reason}", EXIT_INVALID) from None
    return parse_json(text, str(path))
