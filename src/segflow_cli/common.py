"""What every command shares: exit codes, the error that ends a command, output and JSON file reading."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

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


def emit(text: str = "") -> None:
    print(text, flush=True)


def emit_json(document: Any) -> None:
    print(json.dumps(document, indent=2, default=str), flush=True)


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def parse_json(text: str, source: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        where = f"line {error.lineno}, column {error.colno}"
        raise CliError(f"{source}: not valid JSON: {error.msg} at {where}", EXIT_INVALID) from None


def read_json_file(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise CliError(f"cannot read {path}: {reason}", EXIT_INVALID) from None
    return parse_json(text, str(path))


def arrow_for(stream: TextIO = sys.stdout) -> str:
    """``→`` when the stream can encode it, ``->`` otherwise."""
    try:
        "→".encode(getattr(stream, "encoding", None) or "ascii")
    except (UnicodeEncodeError, LookupError):
        return "->"
    return "→"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """Left-aligned columns two spaces apart; ``None`` cells are shown as ``-``."""
    cells = [[str(header) for header in headers]]
    cells += [["-" if cell is None else str(cell) for cell in row] for row in rows]
    widths = [max(len(row[index]) for row in cells) for index in range(len(headers))]
    return ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in cells]
