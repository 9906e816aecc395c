"""Templates are checked before anything runs: function names and arity, node references (existing,
reachable, indexed or projected), and ids that must be quoted, each problem named by node and field."""

from __future__ import annotations

from typing import Any

import pytest
from segflow.dsl.templates import FUNCTIONS
from segflow.dsl.validation import ValidationIssue, WorkflowValidationError, validate_workflow

from tests.support.workflows import edge, transform, workflow


def issues_of(raw: Any) -> list[str]:
    with pytest.raises(WorkflowValidationError) as caught:
        validate_workflow(raw)
    return [str(issue) for issue in caught.value.issues]


def reading(expression: str, source_id: str = "src") -> dict[str, Any]:
    return workflow(
        "wf",
        [transform(source_id, [{"f": 1}]), transform("use", {"v": expression})],
        [edge(source_id, "use")],
    )


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("{{ lenght(nodes.src) }}", "unknown function lenght(); did you mean length()?"),
        ("{{ sort_bye(nodes.src, &f) }}", "unknown function sort_bye(); did you mean sort_by()?"),
        ("{{ frobnicate(input.x) }}", "unknown function frobnicate(); known: abs, avg"),
        ("{{ length(nodes.src, input.x) }}", "length() takes 1 argument, 2 given"),
        ("{{ starts_with(input.x) }}", "starts_with() takes 2 arguments, 1 given"),
        ("{{ not_null() }}", "not_null() takes 1 or more arguments, 0 given"),
        ("total: {{ sum(nodes.src[*].f) }}, {{ lenght(input.x) }}", "unknown function lenght()"),
        ("{{ nodes.src[?length(f) > `0`] }}", None),
        ("{{ merge(input.a, input.b, input.c) }}", None),
    ],
    ids=[
        "misspelt",
        "near",
        "unknown",
        "arity",
        "too-few",
        "variadic-none",
        "in-text",
        "nested-ok",
        "variadic",
    ],
)
def test_functions_are_checked_by_name_and_arity(expression: str, problem: str | None) -> None:
    if problem is None:
        validate_workflow(reading(expression))
        return
    [issue] = issues_of(reading(expression))
    assert issue.startswith("node 'use': config.output.v: ")
    assert problem in issue


def test_every_builtin_function_is_known_with_its_arity() -> None:
    assert FUNCTIONS["length"] == (1, 1)
    assert FUNCTIONS["join"] == (2, 2)
    assert FUNCTIONS["merge"] == (1, None)
    assert len(FUNCTIONS) >= 26


@pytest.mark.parametrize(
    ("expression", "references"),
    [
        ("{{ nodes.src[0] }}", {"src"}),
        ("{{ nodes.src[0:2] }}", {"src"}),
        ("{{ nodes.src[*].f }}", {"src"}),
        ("{{ nodes.src[?f > `0`].f }}", {"src"}),
        ("{{ nodes.src[0].f }}", {"src"}),
        ('{{ nodes."src"[-1] }}', {"src"}),
    ],
    ids=["index", "slice", "projection", "filter", "index-then-field", "quoted-negative"],
)
def test_indexing_slicing_and_projecting_node_outputs_validate(expression: str, references: set[str]) -> None:
    assert validate_workflow(reading(expression)).references["use"] == references


def test_an_unknown_node_read_through_an_index_is_still_named() -> None:
    wf = workflow("wf", [transform("use", "{{ nodes.ghost[0] }}")])
    assert issues_of(wf) == ["node 'use': reads nodes.ghost, which is not a node"]


def test_an_id_with_a_dash_gets_a_hint_to_quote_it() -> None:
    [issue] = issues_of(reading("{{ nodes.my-node.f }}", "my-node"))
    assert issue.startswith("node 'use': config.output.v: invalid expression 'nodes.my-node.f'")
    assert issue.endswith('(quote ids with "-" or "." in them: nodes."my-node")')
    validate_workflow(reading('{{ nodes."my-node".f }}', "my-node"))


def test_an_id_with_a_dot_gets_a_hint_to_quote_it() -> None:
    [issue] = issues_of(reading("{{ nodes.cfg.prod.f }}", "cfg.prod"))
    assert issue == (
        "node 'use': reads nodes.cfg, which is not a node "
        '(quote ids with "-" or "." in them: nodes."cfg.prod")'
    )
    validate_workflow(reading('{{ nodes."cfg.prod".f }}', "cfg.prod"))
    [issue] = issues_of(reading("{{ nodes.v1.2.f }}", "v1.2"))
    assert issue.endswith('(quote ids with "-" or "." in them: nodes."v1.2")')


def test_a_node_read_before_it_can_have_run_is_refused() -> None:
    wf = workflow(
        "wf",
        [transform("a", 1), transform("b", "{{ nodes.c }}"), transform("c", 2)],
        [edge("a", "b"), edge("a", "c")],
    )
    assert issues_of(wf) == [
        "node 'b': reads nodes.c, but 'c' does not run before it (no path of edges leads from 'c' to 'b')"
    ]


def test_issue_type_is_exported() -> None:
    assert ValidationIssue("node 'a'", "x") == ValidationIssue("node 'a'", "x", "y")
