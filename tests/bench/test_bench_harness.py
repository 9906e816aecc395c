"""The benchmark harness at its smallest size, for every design, so ``make bench`` cannot rot unnoticed.

It runs on the session's embedded AWS (tests/conftest.py); the benchmark's emulator speed-ups are not applied.
"""

from __future__ import annotations

import pytest
from segflow.domain.limits import STATE_PAYLOAD_BUDGET_BYTES

from bench import report
from bench.harness import DESIGNS, Bench, Case, CaseResult
from bench.imports import handler_entries, parse_importtime
from bench.workflows import KB, SHAPES, build
from segflow_local.embedded import EmbeddedAws

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def results(embedded: EmbeddedAws) -> dict[str, CaseResult]:
    with Bench(embedded) as bench:
        runs = {design: bench.run(Case(design, "wide", 10, KB), timeout_seconds=60) for design in DESIGNS}
        runs["segflow_calls"] = bench.run(Case("segflow", "calls", 10, KB), timeout_seconds=60)
        runs["choice_loop_calls"] = bench.run(Case("choice_loop", "calls", 10, KB), timeout_seconds=60)
        runs["fat_statebag_100kb"] = bench.run(
            Case("fat_statebag", "linear", 10, 100 * KB), timeout_seconds=60
        )
    return runs


def test_segflow_stays_within_its_payload_budget(results: dict[str, CaseResult]) -> None:
    ours = results["segflow"]
    assert ours.ok, ours.verdict
    assert 0 < ours.largest_payload <= STATE_PAYLOAD_BUDGET_BYTES
    # 10 segments of transforms: one Task runs them all, no Map (Init, RunFirstStage, Route, Finalize)
    assert ours.transitions == 4 < ours.segments


def test_a_fan_out_of_calls_runs_as_one_batch_and_beats_the_choice_loop(
    results: dict[str, CaseResult],
) -> None:
    ours, loop = results["segflow_calls"], results["choice_loop_calls"]
    assert ours.ok and loop.ok, (ours.verdict, loop.verdict)
    # 8 API calls in parallel: one batch, which the Task that ran the root runs at once, with the join after
    assert ours.transitions == 4 < ours.segments < loop.transitions
    assert 0 < ours.largest_payload <= STATE_PAYLOAD_BUDGET_BYTES


@pytest.mark.parametrize("design", DESIGNS)
def test_every_design_produces_numbers(results: dict[str, CaseResult], design: str) -> None:
    result = results[design]
    assert result.ok, f"{design}: {result.verdict}"
    assert result.events > 0 and result.transitions > 0 and result.lambda_invocations > 0
    assert result.largest_payload > 0 and result.bytes_between_states > 0
    assert result.seconds is not None and result.cost.total > 0
    if design != "fat_statebag":  # the fat statebag keeps everything in the state, nothing in DynamoDB
        assert result.dynamodb_requests > 0 and result.dynamodb_write_units > 0


def test_the_fat_statebag_carries_more_and_breaks_the_payload_limit(results: dict[str, CaseResult]) -> None:
    assert results["fat_statebag"].largest_payload > 3 * results["segflow"].largest_payload
    failing = results["fat_statebag_100kb"]
    assert not failing.ok and failing.verdict.startswith("payload over 256 KB"), failing.verdict


def test_the_tables_are_written_between_the_markers(results: dict[str, CaseResult]) -> None:
    document = "intro\n<!-- bench:begin payload -->\nold\n<!-- bench:end payload -->\nkept\n"
    bench_report = report.Report("make bench", "now", "here", list(results.values()), [], [], None, 1.0)
    rewritten = report.rewrite(document, report.sections(bench_report))
    assert "old" not in rewritten and "kept" in rewritten and "| wide | 10 | 1 KB |" in rewritten
    assert "segflow" in report.terminal(bench_report)


def test_the_workflow_shapes_have_the_node_count_asked_for() -> None:
    for shape in SHAPES:
        for nodes in (10, 47, 100):
            assert len(build(shape, nodes)["nodes"]) == nodes


def test_importtime_lines_are_attributed_to_the_handler() -> None:
    stderr = "\n".join(
        [
            "import time: self [us] | cumulative | imported package",
            "import time:        50 |         50 |   encodings.utf_8",
            "import time:       100 |        150 | site",
            "import time:        40 |         40 |     pydantic.main",
            "import time:        20 |         60 |   pydantic",
            "import time:        10 |         70 | segflow",
            "import time:         5 |          5 | segflow.handlers",
        ]
    )
    entries = handler_entries(parse_importtime(stderr))
    assert [entry.module for entry in entries] == ["pydantic.main", "pydantic", "segflow", "segflow.handlers"]
    assert [entry.depth for entry in entries] == [2, 1, 0, 0]
