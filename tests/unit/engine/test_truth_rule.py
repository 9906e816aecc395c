"""One truth rule for judgments and loops' ``until``: docs/workflow-language.md's table, run by the engine."""

from __future__ import annotations

from typing import Any

import pytest
from segflow.domain.truth import truth

from tests.support.workflows import edge, judgment, loop, subflow, transform, workflow
from tests.unit.engine.harness import Engine

# value -> truth: the table in docs/workflow-language.md, row by row.
TABLE: list[tuple[Any, bool]] = [
    (None, False),
    (False, False),
    (0, False),
    (0.0, False),
    ("", False),
    ("false", False),
    (" False ", False),
    ([], False),
    ({}, False),
    (True, True),
    (1, True),
    (-0.5, True),
    ("true", True),
    ("0", True),
    ("no", True),
    ("approve", True),
    ([0], True),
    ({"a": None}, True),
]
IDS = [repr(value) for value, _ in TABLE]


@pytest.mark.parametrize(("value", "expected"), TABLE, ids=IDS)
def test_the_truth_table(value: Any, expected: bool) -> None:
    assert truth(value) is expected


@pytest.mark.parametrize(("value", "expected"), TABLE, ids=IDS)
def test_a_judgment_takes_its_true_or_false_edge_by_the_rule(
    engine: Engine, value: Any, expected: bool
) -> None:
    wf = workflow(
        "judged",
        [judgment("j", "{{ input.v }}"), transform("yes", 1), transform("no", 0)],
        [edge("j", "yes", "true"), edge("j", "no", "false")],
    )
    outcome = engine.run(wf, {"v": value})
    assert outcome.error is None, outcome.error
    statuses = engine.statuses(outcome.statebag)
    assert (statuses["yes"], statuses["no"]) == (
        ("succeeded", "skipped") if expected else ("skipped", "succeeded")
    )


@pytest.mark.parametrize(("value", "expected"), TABLE, ids=IDS)
def test_a_loop_stops_on_a_true_until_by_the_same_rule(engine: Engine, value: Any, expected: bool) -> None:
    wf = workflow("looped", [loop("lp", subflow([transform("step", 1)]), "{{ input.v }}", 2)])
    outcome = engine.run(wf, {"v": value})
    if expected:
        assert outcome.error is None, outcome.error
        assert engine.output(outcome.statebag, "lp") == {"iterations": 1, "result": 1}
    else:
        assert outcome.error is not None and "did not hold after 2 iterations" in str(outcome.error)


def test_a_label_matching_the_value_wins_over_the_truth_rule(engine: Engine) -> None:
    wf = workflow(
        "labels",
        [judgment("j", "{{ input.v }}"), transform("a", 1), transform("t", 2), transform("d", 3)],
        [edge("j", "a", "approve"), edge("j", "t", "true"), edge("j", "d", "default")],
    )
    for value, taken in (("approve", "a"), ("reject", "t"), ("", "d"), (0, "d")):
        outcome = engine.run(wf, {"v": value})
        statuses = engine.statuses(outcome.statebag)
        assert [n for n in ("a", "t", "d") if statuses[n] == "succeeded"] == [taken], value
