"""End-to-end tier: workflows run through the real ASL on the embedded AWS (fixtures: tests/conftest.py).

Measurements worth reading after a run (the 10,000-node workflow's runtime and sizes) are printed in the
terminal summary, so a slow machine is reported rather than silently tolerated.
"""

from __future__ import annotations

from typing import Any

import pytest

MEASUREMENTS: list[tuple[str, dict[str, Any]]] = []


@pytest.fixture()
def measure(request: pytest.FixtureRequest) -> Any:
    """Record named figures for the terminal summary (and the JUnit report)."""

    def record(**figures: Any) -> None:
        MEASUREMENTS.append((request.node.nodeid, figures))
        for key, value in figures.items():
            request.node.user_properties.append((key, value))

    return record


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not MEASUREMENTS:
        return
    terminalreporter.section("segflow e2e measurements")
    for node_id, figures in MEASUREMENTS:
        shown = ", ".join(f"{key}={value}" for key, value in figures.items())
        terminalreporter.write_line(f"{node_id}: {shown}")
