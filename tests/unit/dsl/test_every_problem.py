"""Validation names every problem of a workflow at once, in the workflow language's words; documents and
inputs too deep, too large or not JSON are refused with a message, never a RecursionError or a store error."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from segflow.domain.limits import MAX_JSON_DEPTH, MAX_LABEL_CHARS, MAX_NAME_CHARS
from segflow.dsl.json_values import InvalidExecutionInput, check_execution_input
from segflow.dsl.validation import ValidationIssue, WorkflowValidationError, validate_workflow

from tests.support.workflows import edge, for_each, judgment, loop, transform, workflow

# Python's and pydantic's words, never shown to a workflow's author.
PYTHON_WORDING = re.compile(
    r"Value error|Assertion failed|NoneType|Input should|valid integer|valid dictionary|"
    r"\bNone is not\b|\bgot (NoneType|str|int|dict|list)\b|Extra inputs|type=|pydantic",
)


def issues_of(raw: Any) -> list[ValidationIssue]:
    with pytest.raises(WorkflowValidationError) as caught:
        validate_workflow(raw)
    return caught.value.issues


def texts(issues: list[ValidationIssue]) -> list[str]:
    return [str(issue) for issue in issues]


def eight_mistakes() -> dict[str, Any]:
    return {
        "workflow_id": "shop",
        "nodes": [
            {**transform("a", {"n": "{{ lenght(input.items) }}"}), "retry": {"max_attempts": 0}},
            {"node_id": "b", "type": "action", "config": {}},
            {"node_id": "j", "type": "judgment", "config": {}},
            {"node_id": "w", "type": "wait", "config": {"seconds": "soon"}},
            {**transform("c", "{{ nodes.zz.x }}"), "timeout_seconds": -1},
            {"node_id": "d", "type": "nosuch"},
            {**transform("e", 1), "label": None, "colour": "red"},
        ],
        "edges": [edge("a", "j"), edge("j", "q", "true")],
    }


def test_one_validation_names_every_mistake_in_the_workflows_words() -> None:
    issues = issues_of(eight_mistakes())
    expected = [
        ("node 'a'", "retry.max_attempts: must be at least 1"),
        ("node 'a'", "config.output.n", "unknown function lenght()", "did you mean length()"),
        ("node 'b'", "action_type", "api_call"),
        ("node 'j'", "config.condition: is required"),
        ("node 'w'", "config.seconds: must be a number, not a string"),
        ("node 'c'", "timeout_seconds: must be greater than 0"),
        ("node 'c'", "nodes.zz", "not a node"),
        ("node 'd'", "unknown type 'nosuch'"),
        ("node 'e'", "colour: is not a field here"),
        ("edge 'j' -> 'q' [true]", "target 'q' is not a node"),
    ]
    for location, *fragments in expected:
        assert any(
            issue.location == location and all(f in issue.message for f in fragments) for issue in issues
        ), f"missing {location}: {fragments} in {texts(issues)}"
    assert len(issues) == len(expected), texts(issues)
    for text in texts(issues):
        assert not PYTHON_WORDING.search(text), text


def test_problems_come_in_the_order_the_nodes_are_written() -> None:
    locations = [issue.location for issue in issues_of(eight_mistakes())]
    firsts = list(dict.fromkeys(locations))
    assert firsts == ["node 'a'", "node 'b'", "node 'j'", "node 'w'", "node 'c'", "node 'd'", "node 'e'",
                      "edge 'j' -> 'q' [true]"]  # fmt: skip


def test_a_judgment_without_its_condition_is_reported_once() -> None:
    wf = workflow("wf", [{"node_id": "j", "type": "judgment", "config": {}}, transform("x", 1)])
    wf["edges"] = [edge("j", "x", "true")]
    issues = issues_of(wf)
    assert [issue.message for issue in issues if "condition" in issue.message] == [
        "config.condition: is required"
    ]


def test_a_judgment_condition_that_is_not_a_template_says_what_it_got() -> None:
    wf = workflow("wf", [judgment("j", "yes"), transform("x", 1)], [edge("j", "x", "true")])
    assert texts(issues_of(wf)) == [
        "node 'j': config.condition must be a {{ expression }} template, not 'yes'"
    ]


def test_a_type_error_names_the_json_kind_given() -> None:
    wf = workflow("wf", [{"node_id": "w", "type": "wait", "config": {"seconds": None}}])
    assert texts(issues_of(wf)) == ["node 'w': config.seconds: must be a number, not null"]


def test_an_action_without_its_action_type_says_which_it_may_be() -> None:
    [issue] = issues_of(workflow("wf", [{"node_id": "b", "type": "action", "config": {}}]))
    assert issue.message.startswith("'action' nodes need action_type, one of: api_call")
    assert "None" not in issue.message


def test_a_bad_node_id_is_reported_without_cascading_into_its_edges() -> None:
    wf = workflow("wf", [transform("a", 1), transform("b c", 2)], [edge("a", "b c")])
    [issue] = issues_of(wf)
    assert issue.location == "node 'b c'"
    assert issue.message.startswith("node_id: 'b c' is not an id: use letters, digits")


def test_every_problem_of_a_sub_flow_is_named_by_its_node() -> None:
    flow = {
        "nodes": [
            {**transform("x", "{{ item }}"), "retry": {"max_attempts": 99}},
            {"node_id": "y", "type": "wait", "config": {"seconds": 1}},
            transform("z", "{{ nodes.nobody }}"),
        ],
        "edges": [edge("x", "y"), edge("y", "z")],
    }
    issues = issues_of(workflow("wf", [for_each("fe", "{{ input.rows }}", flow)]))
    assert texts(issues) == [
        "node 'fe': config.flow: node 'x': retry.max_attempts: must be at most 10",
        "node 'fe': config.flow: node 'y': a wait cannot run inside a sub-flow",
        "node 'fe': config.flow: node 'z': reads nodes.nobody, which is not a node",
    ]


def test_a_sub_flow_reading_an_outer_node_is_told_why_it_cannot() -> None:
    flow = {"nodes": [transform("step", "{{ nodes.cfg.rate }}")]}
    wf = workflow(
        "wf",
        [transform("cfg", {"rate": 2}), loop("lp", flow, "{{ `true` }}", 3)],
        [edge("cfg", "lp")],
    )
    [issue] = issues_of(wf)
    assert issue.location == "node 'lp'"
    assert (
        "config.flow: node 'step': reads nodes.cfg, but 'cfg' is a node of the outer workflow"
        in issue.message
    )
    assert "which is not a node" not in issue.message
    assert "initial" in issue.message


MEGABYTE = 1_000_000
JUDGED = [judgment("j", "{{ input.x }}"), transform("b", 1)]


@pytest.mark.parametrize(
    ("raw", "location", "fragment"),
    [
        (
            {**workflow("wf", [transform("a", 1)]), "name": "n" * MEGABYTE},
            "workflow",
            f"at most {MAX_NAME_CHARS}",
        ),
        (workflow("wf", [transform("a", 1, label="l" * MEGABYTE)]), "node 'a'", f"at most {MAX_LABEL_CHARS}"),
        (
            workflow("wf", JUDGED, [edge("j", "b", "c" * 500_000)]),
            "edge 'j' -> 'b'",
            "has 500,000 characters",
        ),
    ],
    ids=["name", "label", "edge-condition"],
)
def test_texts_copied_into_database_items_are_bounded(
    raw: dict[str, Any], location: str, fragment: str
) -> None:
    issue = next(issue for issue in issues_of(raw) if fragment in issue.message)
    assert issue.location == location
    assert len(str(issue)) < 300, "the message does not repeat the text"


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 500, 100_000])
def test_deep_nesting_is_refused_by_name_not_by_recursion_error(depth: int) -> None:
    [issue] = issues_of(workflow("wf", [transform("a", {"deep": nested(depth)})]))
    assert issue.location == "node 'a'"
    assert issue.message.startswith("config.output.deep[0][0]")
    assert issue.message.endswith(f"nests objects and lists more than {MAX_JSON_DEPTH} levels deep")


def test_nesting_up_to_the_limit_is_accepted() -> None:
    # workflow -> nodes -> [0] -> config -> output: the output starts 5 levels down
    validate_workflow(workflow("wf", [transform("a", nested(MAX_JSON_DEPTH - 5))]))


@pytest.mark.parametrize("number", [float("inf"), float("-inf"), float("nan")])
def test_infinity_and_nan_are_not_json(number: float) -> None:
    [issue] = issues_of(workflow("wf", [transform("a", {"x": [number]})]))
    assert issue.location == "node 'a'"
    assert issue.message.startswith("config.output.x[0]: is ")
    assert "NaN and Infinity are not JSON numbers" in issue.message


def test_infinity_parsed_from_a_document_is_refused() -> None:
    raw = json.loads(
        '{"workflow_id": "wf", "nodes": [{"node_id": "w", "type": "wait", "config": {"seconds": 1},'
        ' "timeout_seconds": Infinity}]}'
    )
    assert texts(issues_of(raw)) == [
        "node 'w': timeout_seconds: is inf: NaN and Infinity are not JSON numbers"
    ]


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (None, "must be a JSON object ({...}), not null"),
        ([], "must be a JSON object ({...}), not a list"),
        ("text", "not a string"),
        ({"a": nested(500)}, f"input.a{'[0]' * (MAX_JSON_DEPTH - 1)} nests objects and lists more than"),
        ({"a": nested(100_000)}, "levels deep"),
        ({"x": float("nan")}, "input.x is nan: NaN and Infinity are not JSON numbers"),
    ],
    ids=["null", "list", "string", "deep", "very-deep", "nan"],
)
def test_an_execution_input_that_cannot_run_is_named(value: Any, fragment: str) -> None:
    with pytest.raises(InvalidExecutionInput) as caught:
        check_execution_input(value)
    assert fragment in str(caught.value)
    assert caught.value.kind == "invalid"


def test_a_plain_object_input_is_accepted() -> None:
    check_execution_input({"order": {"items": [1, 2.5, "x", None, True]}})


def test_the_field_that_selects_a_variant_is_named() -> None:
    wf = workflow(
        "wf",
        [
            {"node_id": "q", "type": "data_query", "config": {"source": "ftp"}},
            {"node_id": "r", "type": "data_query", "config": {}},
            {"node_id": "s", "type": "data_query", "config": {"source": "{{ input.where }}"}},
        ],
    )
    assert texts(issues_of(wf)) == [
        "node 'q': config.source: 'ftp' is not one of: 'dynamodb', 's3', 'http'",
        "node 'r': config.source: is required",
        "node 's': config.source: cannot be a template: it says which other fields are allowed; "
        "one of: 'dynamodb', 's3', 'http'",
    ]


def test_a_sub_flow_cannot_be_a_template() -> None:
    wf = workflow("wf", [for_each("fe", "{{ input.rows }}", "{{ input.flow }}")])  # type: ignore[arg-type]
    assert texts(issues_of(wf)) == ["node 'fe': config.flow: must be an object, not a string"]
