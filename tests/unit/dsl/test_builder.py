"""The Python builder writes the DSL's JSON: three examples written both ways are the same workflow, and what
it builds is checked by the same validation."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pytest
from segflow.dsl.builder import Flow, Retry, Workflow, expr, node_path
from segflow.dsl.validation import WorkflowValidationError

REPO_ROOT = Path(__file__).resolve().parents[3]
BOTH_WAYS = ["order_review", "for_each", "loop"]


@pytest.mark.parametrize("name", BOTH_WAYS)
def test_the_python_example_builds_the_committed_json(name: str) -> None:
    built: Workflow = runpy.run_path(str(REPO_ROOT / "examples" / "python" / f"{name}.py"))["workflow"]()
    committed = json.loads((REPO_ROOT / "examples" / f"{name}.json").read_text())
    assert built.to_dict() == committed
    assert json.loads(built.to_json()) == committed
    assert built.validate().workflow_id == committed["workflow_id"]


def test_ids_that_need_quoting_are_quoted() -> None:
    assert node_path("load") == "nodes.load"
    assert node_path("my-node", "rows[0]") == 'nodes."my-node".rows[0]'
    assert node_path("v1.2", "[0]") == 'nodes."v1.2"[0]'
    assert node_path("2nd") == 'nodes."2nd"'
    wf = Workflow("quoted")
    first = wf.transform("my-node", [1, 2])
    second = wf.transform("use", {"first": expr(f"{first.ref('[0]')}")})
    first >> second
    assert wf.to_dict()["nodes"][1]["config"] == {"output": {"first": '{{ nodes."my-node"[0] }}'}}
    assert wf.validate().references["use"] == {"my-node"}


def test_retry_timeout_and_custom_types_are_written_as_in_json() -> None:
    wf = Workflow("opts")
    node = wf.node("call", "action", action_type="api_call", url="https://x", retry=Retry(max_attempts=2),
                   timeout_seconds=5, config={"timeout_seconds": 3})  # fmt: skip
    assert node.to_dict() == {
        "node_id": "call",
        "type": "action",
        "action_type": "api_call",
        "config": {"timeout_seconds": 3, "url": "https://x"},
        "retry": {"max_attempts": 2},
        "timeout_seconds": 5,
    }
    wf.validate()


def test_a_built_workflow_is_refused_with_every_problem() -> None:
    wf = Workflow("bad")
    a = wf.transform("a", expr("lenght(input.x)"))
    j = wf.judgment("j", expr("input.ok"))
    sub = Flow()
    sub.wait("pause", 1)
    each = wf.for_each("each", expr("input.rows"), sub)
    a >> j
    j >> each  # no condition on an edge leaving a judgment
    with pytest.raises(WorkflowValidationError) as caught:
        wf.validate()
    assert [str(issue) for issue in caught.value.issues] == [
        "node 'a': config.output: 'lenght(input.x)': unknown function lenght(); did you mean length()?",
        "node 'each': config.flow: node 'pause': a wait cannot run inside a sub-flow",
        "edge 'j' -> 'each': edges leaving judgment 'j' need a condition (e.g. 'true', 'false')",
    ]


def test_retry_policies_are_checked_when_built() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        Retry(max_attempts=0)
