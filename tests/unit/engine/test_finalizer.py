"""The execution's end: recorded once, its output the sinks' outputs (small inline, else by reference)."""

from __future__ import annotations

import json

from segflow.contracts import FinalizeEvent
from segflow.domain import s3_layout
from segflow.domain.limits import FINAL_OUTPUT_INLINE_MAX_BYTES

from tests.support.workflows import edge, linear_workflow, transform, workflow
from tests.unit.engine.harness import Engine, Work, effect_node


def test_a_succeeded_execution_outputs_what_its_sinks_output_and_says_so_once(
    engine: Engine, work: Work
) -> None:
    raw = workflow(
        "sinks",
        [transform("start", {"n": 1}), transform("left", "L"), effect_node("right", "R")],
        [edge("start", "left"), edge("start", "right")],
    )

    outcome = engine.run(raw)

    result = outcome.result
    assert result is not None and result.status == "SUCCEEDED"
    assert result.output == {"left": "L", "right": {"value": "R", "attempt": 1, "call": 1}}
    assert result.nodes == {"succeeded": 3}
    record = engine.records.get_execution(outcome.statebag.tenant_id, outcome.statebag.execution_id)
    assert record is not None and record.status == "SUCCEEDED" and record.finished_at is not None
    assert json.loads(record.output_json or "null") == result.output
    last = engine.events(outcome.statebag)[-1]
    assert (last.kind, last.previous_state, last.new_state) == ("execution", "running", "succeeded")
    assert (last.progress.completed, last.progress.total) == (3, 3)


def test_an_output_too_large_to_return_is_stored_and_referenced(engine: Engine) -> None:
    big = "x" * FINAL_OUTPUT_INLINE_MAX_BYTES

    outcome = engine.run(workflow("big", [transform("only", big)]))

    result = outcome.result
    assert result is not None and result.status == "SUCCEEDED" and result.output is None
    tenant, execution_id = outcome.statebag.tenant_id, outcome.statebag.execution_id
    assert result.output_ref == s3_layout.execution_data_key(tenant, execution_id, "output")
    assert engine.outputs.load(None, result.output_ref) == {"only": big}


def test_finalizing_again_changes_nothing(engine: Engine) -> None:
    outcome = engine.run(linear_workflow("twice", 3), {"start": 1})
    statebag = outcome.statebag
    record = engine.records.get_execution(statebag.tenant_id, statebag.execution_id)
    events = engine.events(statebag)

    again = engine.finalize(FinalizeEvent(statebag=statebag, outcome="FAILED", error={"Error": "Late"}))

    assert again.status == "FAILED", "the retried call answers for itself"
    assert engine.records.get_execution(statebag.tenant_id, statebag.execution_id) == record
    assert engine.events(statebag) == events, "no second end"


def test_a_failed_execution_records_the_error_and_its_readable_cause(engine: Engine, work: Work) -> None:
    raw = workflow(
        "fails", [transform("start", 1), effect_node("boom", fail_times=1)], [edge("start", "boom")]
    )

    outcome = engine.run(raw)

    result = outcome.result
    assert result is not None and result.status == "FAILED"
    assert result.error == "NodeFailed"
    assert result.cause == "node 'boom' failed with Flaky: attempt 1 failed"
    assert result.nodes == {"succeeded": 1, "failed": 1}
    statebag = outcome.statebag
    record = engine.records.get_execution(statebag.tenant_id, statebag.execution_id)
    assert record is not None and (record.status, record.error, record.cause) == (
        "FAILED",
        result.error,
        result.cause,
    )
    last = engine.events(statebag)[-1]
    assert (last.kind, last.new_state) == ("execution", "failed")
    assert last.error == f"NodeFailed: {result.cause}"


def test_an_execution_that_never_initialized_fails_without_a_record(engine: Engine) -> None:
    error = {
        "Error": "WorkflowValidationError",
        "Cause": json.dumps({"errorMessage": "node 'x': unknown type"}),
    }

    result = engine.finalize(FinalizeEvent(statebag=None, outcome="FAILED", error=error))

    assert (result.status, result.execution_id, result.error) == ("FAILED", "", "WorkflowValidationError")
    assert result.cause == "node 'x': unknown type"
