"""Live per-node progress: a table redrawn in place on a terminal, one line per state change elsewhere.

Both displays take the ``NodeView`` list on every poll; neither talks to AWS.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TextIO

from segflow_cli.rendering.nodes import NodeView

FINISHED = ("succeeded", "skipped", "failed")
# ANSI colours per state: yellow, cyan, green, red, dim.
_COLORS = {
    "running": "33",
    "waiting": "36",
    "succeeded": "32",
    "failed": "31",
    "skipped": "2",
    "pending": "2",
    "not_run": "2",
}


@dataclass(frozen=True)
class Glyphs:
    symbols: dict[str, str]  # per node state
    dash: str
    separator: str
    ellipsis: str

    def text(self) -> str:
        return "".join(self.symbols.values()) + self.dash + self.separator + self.ellipsis


UNICODE = Glyphs(
    symbols={
        "pending": "·",
        "running": "…",
        "waiting": "◷",
        "succeeded": "✓",
        "skipped": "↷",
        "failed": "✗",
        "not_run": "-",
    },
    dash="—",
    separator=" · ",
    ellipsis="…",
)
ASCII = Glyphs(
    symbols={
        "pending": ".",
        "running": "..",
        "waiting": "zz",
        "succeeded": "ok",
        "skipped": "->",
        "failed": "!!",
        "not_run": "--",
    },
    dash="-",
    separator=" | ",
    ellipsis="~",
)


class Progress(Protocol):
    def update(self, views: Sequence[NodeView]) -> None: ...

    def finish(self) -> None: ...


def glyphs_for(stream: TextIO) -> Glyphs:
    """Unicode symbols when the stream can encode them (a C-locale CI log may not)."""
    try:
        UNICODE.text().encode(getattr(stream, "encoding", None) or "ascii")
    except (UnicodeEncodeError, LookupError):
        return ASCII
    return UNICODE


def format_duration(ms: int | None) -> str:
    if ms is None:
        return ""
    if ms < 1:
        return "<1 ms"
    if ms < 1000:
        return f"{ms} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    minutes, seconds = divmod(ms // 1000, 60)
    return f"{minutes}m {seconds:02d}s"


def describe_node(view: NodeView) -> str:
    """``fetch (data query)``: the node and its label, or its type when it has none."""
    return f"{view.node_id} ({view.label or view.type})"


def summary_line(views: Sequence[NodeView], separator: str = UNICODE.separator) -> str:
    """``3/8 done · 1 running · 1 skipped``; done counts every finished node (succeeded, skipped, failed)."""
    counts = Counter(view.status for view in views)
    parts = [f"{sum(counts[state] for state in FINISHED)}/{len(views)} done"]
    others = ("running", "waiting", "skipped", "failed")
    parts += [f"{counts[state]} {state}" for state in others if counts[state]]
    return separator.join(parts)


def change_line(view: NodeView, glyphs: Glyphs = UNICODE) -> str:
    """One line for a node that just changed state."""
    line = f"  {glyphs.symbols[view.status]} {describe_node(view)} {glyphs.dash} {view.status}"
    if view.status == "failed" and view.error:
        return f"{line}: {view.error}"
    if view.status == "succeeded" and view.duration_ms is not None:
        return f"{line} ({format_duration(view.duration_ms)})"
    return line


class LineProgress:
    """For CI logs and pipes: a line whenever a node's state changes (pending is not printed)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.glyphs = glyphs_for(stream)
        self._last: dict[str, str] = {}

    def update(self, views: Sequence[NodeView]) -> None:
        for view in views:
            if view.status == "pending" or self._last.get(view.node_id) == view.status:
                continue
            self._last[view.node_id] = view.status
            print(change_line(view, self.glyphs), file=self.stream, flush=True)

    def finish(self) -> None:
        pass


def _fit(text: str, width: int, ellipsis: str) -> str:
    if len(text) <= width:
        return text
    return text[: max(0, width - len(ellipsis))] + ellipsis if width > 0 else ""


def _visible(views: Sequence[NodeView], max_rows: int) -> tuple[list[NodeView], int]:
    """At most ``max_rows`` rows in workflow order; failed, running, waiting and pending nodes first."""
    if len(views) <= max_rows:
        return list(views), 0
    priority = {"failed": 0, "running": 1, "waiting": 2, "pending": 3}
    ranked = sorted(range(len(views)), key=lambda index: (priority.get(views[index].status, 4), index))
    keep = sorted(ranked[:max_rows])
    return [views[index] for index in keep], len(views) - len(keep)


def table_lines(
    views: Sequence[NodeView], width: int, max_rows: int, glyphs: Glyphs = UNICODE, color: bool = False
) -> list[str]:
    """The node table (node, type and label, state, duration, error), then the summary line."""
    shown, hidden = _visible(views, max(1, max_rows))
    headers = ("NODE", "TYPE", "STATE", "DURATION", "ERROR")
    rows = [
        (
            view.node_id,
            f"{view.type}{glyphs.separator}{view.label}" if view.label else view.type,
            f"{glyphs.symbols[view.status]} {view.status}",
            format_duration(view.duration_ms),
            view.error or "",
        )
        for view in shown
    ]
    limits = (32, 36, 14, 10)
    widths = [min(limit, max(len(cell[i]) for cell in [headers, *rows])) for i, limit in enumerate(limits)]

    def render(cells: Sequence[str]) -> str:
        fixed = "  ".join(
            _fit(cell, widths[i], glyphs.ellipsis).ljust(widths[i]) for i, cell in enumerate(cells[:4])
        )
        return _fit(f"{fixed}  {cells[4]}".rstrip(), width, glyphs.ellipsis)

    lines = [render(headers)]
    for view, row in zip(shown, rows, strict=True):
        line = render(row)
        lines.append(f"\x1b[{_COLORS[view.status]}m{line}\x1b[0m" if color else line)
    if hidden:
        lines.append(_fit(f"  and {hidden} more nodes (finished or pending)", width, glyphs.ellipsis))
    lines.append(_fit(summary_line(views, glyphs.separator), width, glyphs.ellipsis))
    return lines


class TableProgress:
    """For terminals: the node table, redrawn in place (ANSI cursor movement)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.glyphs = glyphs_for(stream)
        self.color = "NO_COLOR" not in os.environ
        self._drawn = 0

    def update(self, views: Sequence[NodeView]) -> None:
        size = shutil.get_terminal_size()
        lines = table_lines(views, size.columns - 1, size.lines - 4, self.glyphs, self.color)
        # First draw: hide the cursor; later: back to the table's first line. Then clear down and draw.
        prefix = f"\x1b[{self._drawn}F" if self._drawn else "\x1b[?25l"
        self.stream.write(prefix + "\x1b[J" + "\n".join(lines) + "\n")
        self.stream.flush()
        self._drawn = len(lines)

    def finish(self) -> None:
        self.stream.write("\x1b[?25h")
        self.stream.flush()


def progress_for(stream: TextIO) -> Progress:
    """The table on an interactive terminal, lines everywhere else (CI, pipes, files)."""
    if getattr(stream, "isatty", lambda: False)() and os.environ.get("TERM") != "dumb":
        return TableProgress(stream)
    return LineProgress(stream)
