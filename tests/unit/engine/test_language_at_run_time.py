"""What validation promises holds when the engine runs: indexing, slicing and projections of node outputs
are loaded and evaluated; an input that cannot run is refused before anything is written."""

from __future__ import annotations

from typing import Any

import pytest
from segflow.contracts import ExecutionRequest, S3Pointer
from segflow.domain.limits import MAX_JSON_DEPTH
from segflow.dsl.json_values import InvalidExecutionInput
from segflow.engine.initializer import Initializer

from tests.support.workflows import edge, transform, workflow
from tests.unit.engine.harness import Engine


def test_indexing_slicing_and_projecting_a_node_output(engine: Engine) -> None:
    rows = [{"f": 1}, {"f": 2}, {"f": 3}]
    wf = workflow(
        "indexing",
        [
            transform("lst", rows),
            transform(
                "picked",
                {
                    "first": "{{ nodes.lst[0] }}",
                    "two": "{{ nodes.lst[0:2] }}",
                    "fs": "{{ nodes.lst[*].f }}",
                    "big": "{{ nodes.lst[?f > `1`].f }}",
                    "count": "{{ length(nodes.lst) }}",
                },
            ),
        ],
        [edge("lst", "picked")],
    )
    outcome = engine.run(wf)
    assert outcome.error is None
    assert engine.output(outcome.statebag, "picked") == {
        "first": {"f": 1},
        "two": [{"f": 1}, {"f": 2}],
        "fs": [1, 2, 3],
        "big": [2, 3],
        "count": 3,
    }


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("value", "fragment"),
    [([], "must be a JSON object"), ({"deep": nested(MAX_JSON_DEPTH + 10)}, "levels deep")],
    ids=["list", "deep"],
)
def test_an_input_that_cannot_run_is_refused_before_anything_is_written(
    engine: Engine, value: Any, fragment: str
) -> None:
    workflow_key = engine.manifests.submit(engine.tenant, "workflows", workflow("wf", [transform("a", 1)]))
    input_key = engine.manifests.submit(engine.tenant, "inputs", value)
    stored_before = dict(engine.manifests.documents)
    request = ExecutionRequest(
        tenant_id=engine.tenant,
        workflow=S3Pointer(s3_key=workflow_key),
        input_ref=S3Pointer(s3_key=input_key),
    )
    initializer = Initializer(
        engine.records, engine.manifests, engine.outputs, engine.versions, engine.journal
    )
    with pytest.raises(InvalidExecutionInput, match=fragment):
        initializer.initialize(request, "e-refused", engine.clock.iso())
    assert engine.manifests.documents == stored_before
    assert engine.records.get_execution(engine.tenant, "e-refused") is None
