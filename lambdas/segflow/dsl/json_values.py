"""Whether a value is JSON segflow can store and pass on: nesting depth, size, no NaN or Infinity.

Checked without recursion, so a value nested deeper than Python's recursion limit is named, not a
RecursionError. Used for workflow documents (:mod:`segflow.dsl.validation`) and execution inputs.
"""

from __future__ import annotations

import json
import math
from typing import Any

from segflow.domain.errors import SegflowError
from segflow.domain.limits import MAX_EXECUTION_INPUT_BYTES, MAX_JSON_DEPTH


class InvalidExecutionInput(SegflowError, ValueError):
    """An execution input that cannot be run: not an object, too deep, too large, or not JSON."""

    code = "InvalidInput"
    kind = "invalid"


def json_kind(value: Any) -> str:
    """How a value is called in JSON: null, a boolean, a number, a string, a list, an object."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"not JSON ({type(value).__name__})"


def json_problems(value: Any, path: str, max_depth: int = MAX_JSON_DEPTH) -> list[tuple[str, str]]:
    """``(path, problem)`` for every place where ``value`` is not plain JSON, and the first place nested
    deeper than ``max_depth`` (nothing below it is looked at)."""
    problems: list[tuple[str, str]] = []
    stack: list[tuple[Any, str, int]] = [(value, path, 0)]
    too_deep = False
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, dict | list | tuple):
            if depth >= max_depth:
                if not too_deep:
                    problems.append((where, f"nests objects and lists more than {max_depth} levels deep"))
                    too_deep = True
                continue
            if isinstance(item, dict):
                for key, child in reversed(list(item.items())):
                    if not isinstance(key, str):
                        problems.append((where, f"has a key {key!r} that is not a string"))
                        continue
                    stack.append((child, f"{where}.{key}" if where else key, depth + 1))
            else:
                for index in range(len(item) - 1, -1, -1):
                    stack.append((item[index], f"{where}[{index}]", depth + 1))
        elif isinstance(item, float) and not math.isfinite(item):
            problems.append((where, f"is {item!r}: NaN and Infinity are not JSON numbers"))
        elif item is not None and not isinstance(item, str | int | float | bool):
            problems.append((where, f"is {json_kind(item)}, not a JSON value"))
    return problems


def json_size(value: Any) -> int:
    """Bytes of ``value`` as compact JSON (call only once :func:`json_problems` found none)."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def check_execution_input(value: Any) -> None:
    """Refuse an execution input segflow cannot run, naming why (raises :class:`InvalidExecutionInput`)."""
    if not isinstance(value, dict):
        raise InvalidExecutionInput(
            f"execution input must be a JSON object ({{...}}), not {json_kind(value)}; "
            'pass {} for no input, or wrap a value: {"value": ...}'
        )
    problems = json_problems(value, "input")
    if problems:
        where, problem = problems[0]
        more = f" ({len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise InvalidExecutionInput(f"execution input: {where} {problem}{more}")
    size = json_size(value)
    if size > MAX_EXECUTION_INPUT_BYTES:
        raise InvalidExecutionInput(
            f"execution input is {size:,} bytes of JSON; at most {MAX_EXECUTION_INPUT_BYTES:,}"
        )
