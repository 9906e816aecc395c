"""The shortcuts validation takes for what is valid give what the thorough checks give, on any input.

Each shortcut answers only when it is sure and leaves the rest to the thorough check, so these compare the two
over random values: a shortcut that disagreed would change what validation reports.
"""

from __future__ import annotations

import gc
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from segflow.dsl.gc_pause import gc_paused
from segflow.dsl.json_values import json_problems, json_size, plain_json_size
from segflow.dsl.templates import (
    TemplateError,
    check_functions,
    expressions_in,
    node_references,
    plain_path_references,
    plain_template_references,
)

SHALLOW = 4  # a depth limit the generated values reach often

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),  # NaN and the infinities included
    st.text(max_size=8),
    st.sampled_from([b"bytes", {1, 2}, (1, "a")]),  # not JSON (a tuple is taken as a list)
)
keys = st.one_of(st.text(max_size=4), st.integers(), st.none(), st.floats(allow_nan=False))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=30,
)


@given(values)
def test_plain_json_size_is_the_size_exactly_when_json_problems_finds_nothing(value: Any) -> None:
    problems = json_problems(value, "", max_depth=SHALLOW)
    size = plain_json_size(value, max_depth=SHALLOW)
    if problems:
        assert size is None
    elif size is not None:
        assert size == json_size(value)


def test_plain_json_size_counts_utf8_bytes_and_refuses_what_is_too_deep() -> None:
    assert plain_json_size({"é": "€"}) == json_size({"é": "€"}) == len('{"é":"€"}'.encode())
    nested: Any = 1
    for _ in range(SHALLOW + 1):
        nested = [nested]
    assert json_problems(nested, "", max_depth=SHALLOW)
    assert plain_json_size(nested, max_depth=SHALLOW) is None
    assert plain_json_size(nested[0], max_depth=SHALLOW) == len("[[[[1]]]]")
    assert plain_json_size({"x": math.nan}) is None
    assert plain_json_size({1: "a"}) is None


identifier = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,5}", fullmatch=True)
paths = st.lists(st.one_of(identifier, st.just("nodes")), min_size=1, max_size=4).map(".".join)
texts = st.one_of(
    paths,
    st.text(alphabet="nodes.ab_1-[]*@|()\"' ", max_size=14),  # near misses: quoting, indexes, functions
)


def _thorough(expression: str) -> tuple[frozenset[str], str | None]:
    references: frozenset[str] = frozenset()
    try:
        references = frozenset(node_references(expression))
        check_functions(expression)
    except TemplateError as error:
        return references, str(error)
    return references, None


@given(texts)
def test_a_plain_path_reads_what_jmespath_finds_it_reads(expression: str) -> None:
    shortcut = plain_path_references(expression)
    if shortcut is not None:
        assert (shortcut, None) == _thorough(expression)


@given(texts, st.sampled_from(["{{%s}}", "{{ %s }}", "{{\t%s\n}}", "x {{ %s }}", "{{ %s }} {{ a }}"]))
def test_a_plain_template_reads_what_its_one_expression_reads(expression: str, template: str) -> None:
    text = template % expression
    shortcut = plain_template_references(text)
    if shortcut is not None:
        assert expressions_in(text) == [expression.strip()]
        assert (shortcut, None) == _thorough(expression.strip())


@pytest.mark.parametrize(
    ("expression", "reads"),
    [("nodes.a.i", {"a"}), ("nodes.a", {"a"}), ("input.blob", set()), ("a.nodes.b", set())],
)
def test_plain_paths_are_read_without_jmespath(expression: str, reads: set[str]) -> None:
    assert plain_path_references(expression) == frozenset(reads)


@pytest.mark.parametrize("expression", ["nodes", 'nodes."a-b"', "nodes.a[0]", "length(nodes.a)", "1abc"])
def test_anything_but_a_plain_path_is_left_to_jmespath(expression: str) -> None:
    assert plain_path_references(expression) is None


def test_the_collector_is_paused_inside_and_resumed_after_even_nested() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError
    assert gc.isenabled()
