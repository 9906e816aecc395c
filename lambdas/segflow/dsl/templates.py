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


# ``nodes.my-node`` or ``nodes.v1.2``: an id JMESPath reads only when quoted.
_UNQUOTED_ID = re.compile(r"\bnodes\.([A-Za-z0-9_]+(?:-[A-Za-z0-9_]*)+|[A-Za-z0-9_]+\.[0-9][A-Za-z0-9_]*)")


def quoting_hint(node_id: str) -> str:
    return f'quote ids with "-" or "." in them: nodes."{node_id}"'


@lru_cache(maxsize=4096)
def compile_expression(expression: str) -> ParsedResult:
    if not expression.strip():
        raise TemplateError("empty expression '{{ }}'")
    try:
        return jmespath.compile(expression)
    except jmespath.exceptions.JMESPathError as error:
        reason = " ".join(str(error).split())
        unquoted = _UNQUOTED_ID.search(expression)
        hint = f" ({quoting_hint(unquoted.group(1))})" if unquoted else ""
        raise TemplateError(f"invalid expression '{expression}': {reason}{hint}") from error


def _arity(signature: tuple[dict[str, Any], ...]) -> tuple[int, int | None]:
    """(least, most) arguments a JMESPath function signature takes; most is None when variadic."""
    variadic = bool(signature) and bool(signature[-1].get("variadic"))
    return len(signature), None if variadic else len(signature)


def _functions() -> dict[str, tuple[int, int | None]]:
    from jmespath.functions import Functions

    table: dict[str, dict[str, Any]] = Functions.FUNCTION_TABLE
    return {name: _arity(entry["signature"]) for name, entry in table.items()}


# Every function a template may call: JMESPath's built-ins (segflow adds none), with their arity.
FUNCTIONS: dict[str, tuple[int, int | None]] = _functions()


def _closest(name: str, candidates: list[str]) -> str | None:
    from difflib import get_close_matches

    found = get_close_matches(name, candidates, n=1, cutoff=0.6)
    return found[0] if found else None


def check_functions(expression: str) -> None:
    """Refuse calls of functions that do not exist or with the wrong number of arguments."""
    stack = [compile_expression(expression).parsed]
    while stack:
        part = stack.pop()
        children = [c for c in part.get("children", []) if isinstance(c, dict)]
        stack.extend(children)
        if part.get("type") != "function_expression":
            continue
        name = part["value"]
        if name not in FUNCTIONS:
            near = _closest(name, list(FUNCTIONS))
            hint = f"; did you mean {near}()?" if near else f"; known: {', '.join(sorted(FUNCTIONS))}"
            raise TemplateError(f"'{expression}': unknown function {name}(){hint}")
        least, most = FUNCTIONS[name]
        given = len(part.get("children", []))
        if given < least or (most is not None and given > most):
            wanted = f"{least} or more" if most is None else str(least)
            plural = "" if (most == 1 and least == 1) else "s"
            raise TemplateError(f"'{expression}': {name}() takes {wanted} argument{plural}, {given} given")


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
    found: list[str] = TEMPLATE.findall(text)
    opened = text.count("{{")
    if opened != len(found) or text.count("}}") < opened:
        raise TemplateError(f"unbalanced template braces in '{_short(text)}'")
    return found


# AST node types whose children after the first are evaluated against each element, not the context root.
_SCOPING = {
    "subexpression",
    "index_expression",
    "projection",
    "value_projection",
    "filter_projection",
    "pipe",
}


def node_references(expression: str) -> set[str]:
    """Node ids an expression reads through ``nodes.<id>`` at the context root.

    Reading all of ``nodes`` (bare ``nodes``, ``@`` or ``*`` at the root) is refused: which outputs are
    loaded depends on what a node names, so every read must name its node.
    """
    references: set[str] = set()

    def visit(part: dict[str, Any], at_root: bool) -> None:
        kind = part.get("type")
        children = [c for c in part.get("children", []) if isinstance(c, dict)]
        if at_root and kind == "field" and part.get("value") == "nodes":
            raise TemplateError(
                f"'{expression}': read one node's output as nodes.<node_id>, not all of nodes"
            )
        if at_root and kind in ("current", "identity"):
            raise TemplateError(
                f"'{expression}': name what you read (input..., nodes.<node_id>...), not the whole context"
            )
        reads_a_node = children and children[0].get("type") == "field" and children[0].get("value") == "nodes"
        if kind == "subexpression" and at_root and reads_a_node:
            target = children[1] if len(children) > 1 else {}
            # nodes.lst[0], nodes.lst[0:2], nodes.lst[*].f: the node is the first field of the index or
            # projection; what follows it is evaluated against that node's output.
            while target.get("type") in (
                "index_expression",
                "projection",
                "filter_projection",
            ) and target.get("children"):
                target = target["children"][0]
            if target.get("type") != "field":
                raise TemplateError(f"'{expression}': read one node's output as nodes.<node_id>")
            references.add(target["value"])
            for child in children[2:]:
                visit(child, False)
            return
        for index, child in enumerate(children):
            visit(child, at_root and (index == 0 or kind not in _SCOPING))

    visit(compile_expression(expression).parsed, True)
    return references


# A dotted path of unquoted identifiers (``input.blob``, ``nodes.a.i``): JMESPath parses it as fields under
# one subexpression, which calls no function and reads ``nodes.<second field>`` when its first is ``nodes``.
_PLAIN_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")


_PLAIN_TEMPLATE = re.compile(r"\{\{\s*(" + _PLAIN_PATH.pattern + r")\s*\}\}")


def plain_path_references(expression: str) -> frozenset[str] | None:
    """What :func:`node_references` finds in a plain dotted path, which :func:`check_functions` accepts,
    without parsing it; None for any other expression (bare ``nodes`` included, which is refused)."""
    if _PLAIN_PATH.fullmatch(expression) is None:
        return None
    return _path_references(expression)


def plain_template_references(text: str) -> frozenset[str] | None:
    """:func:`plain_path_references` of a text that is exactly one template of a plain dotted path (whose
    :func:`expressions_in` is that path alone); None for any other text."""
    whole = _PLAIN_TEMPLATE.fullmatch(text)
    return None if whole is None else _path_references(whole.group(1))


def _path_references(expression: str) -> frozenset[str] | None:
    first, _, rest = expression.partition(".")
    if first != "nodes":
        return frozenset()
    return frozenset((rest.partition(".")[0],)) if rest else None


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
    whole = single_template(text)
    if whole is not None:
        return evaluate(whole, context)
    return TEMPLATE.sub(lambda match: as_text(evaluate(match.group(1), context)), text)


def single_template(text: str) -> str | None:
    """The expression when ``text`` is exactly one template (its value keeps its JSON type), else None."""
    stripped = text.strip()
    matches = TEMPLATE.findall(stripped)
    if len(matches) != 1 or not (stripped.startswith("{{") and stripped.endswith("}}")):
        return None
    whole = TEMPLATE.fullmatch(stripped)
    return whole.group(1) if whole else None


def as_text(value: Any) -> str:
    """How a value reads inside text: strings as they are, everything else as compact JSON."""
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
