"""``{{ expr }}`` templates over a safe expression language (JMESPath), never ``eval``.

A string that is exactly one template yields the expression's value with its JSON type; a string with text
around templates yields text. The template context is::

    {<execution input fields>..., "input": <execution input>, "nodes": {<node_id>: <output>},
     "workflow": {"workflow_id", "name", "version"}, "execution": {"execution_id", "started_at"},
     "current_workflow_id": <workflow id>}

Reserved names win over input fields of the same name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import jmespath
import jmespath.exceptions
from jmespath.parser import ParsedResult

TEMPLATE = re.compile(r"\{\{\s*(.*?)\s*\}\}", re.DOTALL)
RESERVED_NAMES = ("input", "nodes", "workflow", "execution", "current_workflow_id")


class TemplateError(ValueError):
    """A template that does not parse, or that refers to something it may not."""


@lru_cache(maxsize=4096)
def compile_expression(expression: str) -> ParsedResult:
    if not expression.strip():
        raise TemplateError("empty expression '{{ }}'")
    try:
        return jmespath.compile(expression)
    except jmespath.exceptions.JMESPathError as error:
        raise TemplateError(f"invalid expression '{expression}': {error}") from error


def iter_strings(value: Any, path: str = "config") -> Iterator[tuple[str, str]]:
    """Every string inside a JSON value, with its dotted path."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from iter_strings(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from iter_strings(item, f"{path}[{index}]")


def expressions_in(text: str) -> list[str]:
    if "{{" not in text:
        return []
    if text.count("{{") != len(TEMPLATE.findall(text)) or text.count("}}") < text.count("{{"):
        raise TemplateError(f"unbalanced template braces in '{_short(text)}'")
    return TEMPLATE.findall(text)


def _walk(ast: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield ast
    for child in ast.get("children", []):
        if isinstance(child, dict):
            yield from _walk(child)


def node_references(expression: str) -> set[str]:
    """Node ids an expression reads through ``nodes.<id>``; a bare ``nodes`` is refused."""
    ast = compile_expression(expression).parsed
    references: set[str] = set()
    bare_nodes = 0
    for part in _walk(ast):
        children = part.get("children", [])
        if part.get("type") == "subexpression" and len(children) >= 2:
            first, second = children[0], children[1]
            if first.get("type") == "field" and first.get("value") == "nodes":
                if second.get("type") != "field":
                    raise TemplateError(f"'{expression}': read one node's output as nodes.<node_id>")
                references.add(second["value"])
                bare_nodes -= 1
        if part.get("type") == "field" and part.get("value") == "nodes":
            bare_nodes += 1
    if bare_nodes > 0:
        raise TemplateError(f"'{expression}': read one node's output as nodes.<node_id>, not all of nodes")
    return references


def references_in(value: Any) -> set[str]:
    found: set[str] = set()
    for _, text in iter_strings(value):
        for expression in expressions_in(text):
            found |= node_references(expression)
    return found


def evaluate(expression: str, context: dict[str, Any]) -> Any:
    return compile_expression(expression).search(context)


def render(value: Any, context: dict[str, Any]) -> Any:
    """Render every template inside a JSON value."""
    if isinstance(value, str):
        return _render_string(value, context)
    if isinstance(value, dict):
        return {key: render(item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [render(item, context) for item in value]
    return value


def _render_string(text: str, context: dict[str, Any]) -> Any:
    if "{{" not in text:
        return text
    whole = TEMPLATE.fullmatch(text.strip())
    if whole:
        return evaluate(whole.group(1), context)
    return TEMPLATE.sub(lambda match: _as_text(evaluate(match.group(1), context)), text)


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value, separators=(",", ":"), default=str)


def build_context(
    execution_input: Any,
    node_outputs: dict[str, Any],
    workflow: dict[str, Any],
    execution: dict[str, Any],
) -> dict[str, Any]:
    context: dict[str, Any] = dict(execution_input) if isinstance(execution_input, dict) else {}
    context.update(
        {
            "input": execution_input,
            "nodes": node_outputs,
            "workflow": workflow,
            "execution": execution,
            "current_workflow_id": workflow.get("workflow_id"),
        }
    )
    return context


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
