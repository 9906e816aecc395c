"""Text and JSON output: one line or one JSON document on stdout, tables, plurals, arrows."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO


def emit(text: str = "") -> None:
    print(text, flush=True)


def emit_json(document: Any) -> None:
    print(json.dumps(document, indent=2, default=str), flush=True)


def warn(text: str) -> None:
    """A line on stderr (warnings, the error's cause): never mixed into what stdout shows."""
    print(text, file=sys.stderr, flush=True)


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


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
