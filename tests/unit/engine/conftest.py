"""Fixtures of the engine's unit tests: an engine over in-memory stores, a clock the test moves."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.unit.engine import harness
from tests.unit.engine.harness import Engine, FakeClock, Work


@pytest.fixture()
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture()
def work(clock: FakeClock) -> Iterator[Work]:
    """What the test node types did in this test; their work moves this test's clock."""
    harness.WORK = Work(clock=clock)
    yield harness.WORK
    harness.WORK = Work()


@pytest.fixture()
def engine(clock: FakeClock, work: Work) -> Engine:
    return Engine(clock)
