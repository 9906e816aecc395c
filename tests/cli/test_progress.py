"""The progress displays, fed NodeViews directly (no AWS)."""

from __future__ import annotations

import io

import pytest

from segflow_cli.rendering.nodes import NodeView
from segflow_cli.rendering.progress import (
    ASCII,
    LineProgress,
    TableProgress,
    change_line,
    format_duration,
    progress_for,
    summary_line,
    table_lines,
)


def views(*states: tuple[str, str, str | None, str, int | None, str | None]) -> list[NodeView]:
    return [
        NodeView(node_id, node_type, label, status, duration, error)
        for node_id, node_type, label, status, duration, error in states
    ]


STORY = views(
    ("fetch", "transform", "data query", "succeeded", 2000, None),
    ("judge", "judgment", None, "running", 150, None),
    ("act", "action:api_call", "action", "pending", None, None),
)


class FakeStream(io.StringIO):
    def __init__(self, tty: bool = False, encoding: str = "utf-8") -> None:
        super().__init__()
        self._tty = tty
        self._encoding = encoding

    def isatty(self) -> bool:
        return self._tty

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._encoding


def test_durations() -> None:
    assert [format_duration(ms) for ms in (None, 0, 2, 999, 2000, 61_500)] == [
        "",
        "<1 ms",
        "2 ms",
        "999 ms",
        "2.0 s",
        "1m 01s",
    ]


def test_change_lines_for_every_state() -> None:
    failed, skipped, waiting = views(
        ("call", "action:api_call", None, "failed", 12, "HttpError: POST http://x answered 500"),
        ("small", "transform", None, "skipped", None, None),
        ("pause", "wait", None, "waiting", None, None),
    )
    assert change_line(STORY[0]) == "  ✓ fetch (data query) — succeeded (2.0 s)"
    assert change_line(STORY[1]) == "  … judge (judgment) — running"
    assert change_line(failed) == "  ✗ call (action:api_call) — failed: HttpError: POST http://x answered 500"
    assert change_line(skipped) == "  ↷ small (transform) — skipped"
    assert change_line(waiting) == "  ◷ pause (wait) — waiting"
    assert change_line(STORY[0], ASCII) == "  ok fetch (data query) - succeeded (2.0 s)"


def test_summary_counts_finished_nodes_as_done() -> None:
    states = views(
        ("a", "t", None, "succeeded", 1, None),
        ("b", "t", None, "succeeded", 1, None),
        ("c", "t", None, "skipped", None, None),
        ("d", "t", None, "running", 1, None),
        ("e", "t", None, "pending", None, None),
        ("f", "t", None, "pending", None, None),
        ("g", "t", None, "pending", None, None),
        ("h", "t", None, "pending", None, None),
    )
    assert summary_line(states) == "3/8 done · 1 running · 1 skipped"


def test_line_progress_prints_each_change_once() -> None:
    stream = FakeStream()
    progress = LineProgress(stream)
    progress.update(STORY)
    progress.update(STORY)
    progress.update(
        views(
            ("fetch", "transform", "data query", "succeeded", 2000, None),
            ("judge", "judgment", None, "succeeded", 300, None),
            ("act", "action:api_call", "action", "running", 5, None),
        )
    )
    assert stream.getvalue().splitlines() == [
        "  ✓ fetch (data query) — succeeded (2.0 s)",
        "  … judge (judgment) — running",
        "  ✓ judge (judgment) — succeeded (300 ms)",
        "  … act (action) — running",
    ]


def test_line_progress_falls_back_to_ascii() -> None:
    stream = FakeStream(encoding="ascii")
    LineProgress(stream).update(STORY[:1])
    assert stream.getvalue() == "  ok fetch (data query) - succeeded (2.0 s)\n"


def test_table_has_a_row_per_node_and_a_summary() -> None:
    lines = table_lines(STORY, width=120, max_rows=20)
    assert lines[0].split() == ["NODE", "TYPE", "STATE", "DURATION", "ERROR"]
    assert lines[1].split() == ["fetch", "transform", "·", "data", "query", "✓", "succeeded", "2.0", "s"]
    assert lines[2].split() == ["judge", "judgment", "…", "running", "150", "ms"]
    assert lines[3].split() == ["act", "action:api_call", "·", "action", "·", "pending"]
    assert lines[-1] == "1/3 done · 1 running"


def test_table_fits_the_terminal() -> None:
    many = views(*[(f"n{i:03d}", "transform", None, "succeeded", 1, None) for i in range(50)])
    many[30] = NodeView("n030", "transform", None, "failed", 3, "Boom: " + "x" * 300)
    lines = table_lines(many, width=60, max_rows=10)
    assert len(lines) == 1 + 10 + 1 + 1  # header, rows, "and N more", summary
    assert all(len(line) <= 60 for line in lines)
    assert any(line.startswith("n030") for line in lines)  # the failed node is kept
    assert "and 40 more nodes" in lines[-2]


def test_table_redraws_in_place() -> None:
    stream = FakeStream(tty=True)
    progress = TableProgress(stream)
    progress.color = False
    progress.update(STORY)
    progress.update(STORY)
    progress.finish()
    text = stream.getvalue()
    assert text.startswith("\x1b[?25l\x1b[J")  # cursor hidden, screen cleared below
    assert "\x1b[5F\x1b[J" in text  # second draw: back up the 5 lines drawn (header, 3 rows, summary)
    assert text.endswith("\x1b[?25h")


def test_display_depends_on_the_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm")
    assert isinstance(progress_for(FakeStream(tty=True)), TableProgress)
    assert isinstance(progress_for(FakeStream(tty=False)), LineProgress)
