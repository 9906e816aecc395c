"""{{ JMESPath }} templates: how a config string becomes a value, and which node outputs it reads."""

from __future__ import annotations

from typing import Any

import pytest
from segflow.dsl.templates import (
    TemplateError,
    build_context,
    compile_expression,
    expressions_in,
    node_references,
    references_in,
    render,
)


def context(execution_input: Any = None, nodes: dict[str, Any] | None = None) -> dict[str, Any]:
    return build_context(
        execution_input if execution_input is not None else {},
        nodes or {},
        {"workflow_id": "wf-1", "name": "Demo"},
        {"execution_id": "exec-1", "started_at": "2026-01-22T10:35:00Z"},
    )


# --- rendering ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ input.amount }}", 150),
        ("{{ input.flags }}", [True, False]),
        ("{{ input.customer }}", {"name": "Ada", "tier": "gold"}),
        ("{{ input.missing }}", None),
        ("  {{ input.amount }}  ", 150),
        ("{{ input.amount > `100` }}", True),
    ],
)
def test_a_whole_string_template_yields_the_raw_json_value(template: str, expected: Any) -> None:
    ctx = context({"amount": 150, "flags": [True, False], "customer": {"name": "Ada", "tier": "gold"}})
    assert render(template, ctx) == expected


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("amount={{ input.amount }}", "amount=150"),
        ("{{ input.customer.name }} is {{ input.customer.tier }}!", "Ada is gold!"),
        ("flags: {{ input.flags }}", "flags: [true,false]"),
        ("customer: {{ input.customer }}", 'customer: {"name":"Ada","tier":"gold"}'),
        ("missing: [{{ input.missing }}]", "missing: []"),
        ("no template at all", "no template at all"),
    ],
)
def test_templates_inside_text_are_interpolated_as_text(template: str, expected: str) -> None:
    ctx = context({"amount": 150, "flags": [True, False], "customer": {"name": "Ada", "tier": "gold"}})
    assert render(template, ctx) == expected


def test_a_string_made_only_of_two_templates_is_interpolated() -> None:
    ctx = context({"first": "Ada", "last": "Lovelace"})
    assert render("{{ first }} {{ last }}", ctx) == "Ada Lovelace"


def test_render_walks_nested_objects_and_lists() -> None:
    config = {
        "body": {"ids": ["{{ input.id }}", "fixed"], "total": "{{ input.n }}"},
        "count": 3,
        "flag": None,
    }
    assert render(config, context({"id": "x-1", "n": 7})) == {
        "body": {"ids": ["x-1", "fixed"], "total": 7},
        "count": 3,
        "flag": None,
    }


def test_input_fields_are_readable_at_the_root_as_in_the_seed_dsl() -> None:
    ctx = context({"model_id": "m-42", "version": 3})
    assert render("{{model_id}}", ctx) == "m-42"
    assert render("{{ version }}", ctx) == 3
    assert render({"model_id": "{{model_id}}", "version": "{{version}}"}, ctx) == {
        "model_id": "m-42",
        "version": 3,
    }


def test_reserved_names_win_over_input_fields_of_the_same_name() -> None:
    ctx = context(
        {
            "nodes": "from-input",
            "workflow": "from-input",
            "execution": "x",
            "current_workflow_id": "x",
            "other": 1,
        },
        nodes={"a": {"v": 1}},
    )
    assert render("{{ nodes.a.v }}", ctx) == 1
    assert render("{{ workflow.workflow_id }}", ctx) == "wf-1"
    assert render("{{ execution.execution_id }}", ctx) == "exec-1"
    assert render("{{ current_workflow_id }}", ctx) == "wf-1"
    assert render("{{ other }}", ctx) == 1
    # the shadowed input field is still reachable through `input`
    assert render("{{ input.workflow }}", ctx) == "from-input"


def test_an_input_field_named_input_does_not_replace_the_whole_input() -> None:
    ctx = context({"input": "shadowed", "a": 1})
    assert render("{{ input }}", ctx) == {"input": "shadowed", "a": 1}


def test_a_non_object_input_is_still_reachable_as_input() -> None:
    ctx = context([1, 2, 3])
    assert render("{{ input[1] }}", ctx) == 2
    assert render("{{ length(input) }}", ctx) == 3


def test_node_outputs_are_read_through_nodes() -> None:
    ctx = context({}, nodes={"fetch": {"amount": 150, "items": [1, 2, 3]}})
    assert render("{{ nodes.fetch.amount }}", ctx) == 150
    assert render("{{ length(nodes.fetch.items) }}", ctx) == 3
    assert render("total {{ sum(nodes.fetch.items) }}", ctx) == "total 6"


# --- expressions and references -----------------------------------------------------------------------------


@pytest.mark.parametrize("expression", ["a ||", "nodes.", "foo[", "`unterminated", "a b"])
def test_invalid_expressions_raise_template_error_naming_the_expression(expression: str) -> None:
    with pytest.raises(TemplateError, match="invalid expression"):
        compile_expression(expression)


def test_an_empty_expression_is_refused() -> None:
    with pytest.raises(TemplateError, match="empty"):
        compile_expression("   ")
    with pytest.raises(TemplateError, match="empty"):
        render("{{ }}", context())


@pytest.mark.parametrize("text", ["{{ a", "x {{ a }} {{ b", "{{ {{ a }}", "a }} {{ b"])
def test_unbalanced_braces_are_refused(text: str) -> None:
    with pytest.raises(TemplateError, match="unbalanced"):
        expressions_in(text)


def test_expressions_in_lists_every_template_of_a_string() -> None:
    assert expressions_in("{{ a }} and {{ b.c }}") == ["a", "b.c"]
    assert expressions_in("plain text") == []


@pytest.mark.parametrize(
    ("expression", "references"),
    [
        ("nodes.fetch", {"fetch"}),
        ("nodes.fetch.amount > `100`", {"fetch"}),
        ("nodes.a.x || nodes.b.y", {"a", "b"}),
        ("length(nodes.fetch.items)", {"fetch"}),
        ('nodes."fetch-data".v', {"fetch-data"}),
        ("{x: nodes.a, y: nodes.b.z}", {"a", "b"}),
        ("input.amount", set()),
        ("model_id", set()),
        ("current_workflow_id", set()),
    ],
)
def test_node_references_are_the_node_ids_read(expression: str, references: set[str]) -> None:
    assert node_references(expression) == references


@pytest.mark.parametrize(
    "expression", ["nodes", "nodes.*", "nodes[0]", "length(nodes)", "keys(nodes)", "nodes | a"]
)
def test_reading_all_of_nodes_is_refused(expression: str) -> None:
    with pytest.raises(TemplateError, match=r"nodes\.<node_id>"):
        node_references(expression)


def test_an_input_field_called_nodes_is_readable_through_input() -> None:
    assert node_references("input.nodes") == set()


def test_references_in_walks_a_whole_config() -> None:
    config = {"url": "https://x/{{ nodes.a.id }}", "body": [{"v": "{{ nodes.b }}"}, "{{ input.c }}"], "n": 1}
    assert references_in(config) == {"a", "b"}
