"""Whether a value is JSON segflow can store and pass on: nesting depth, size, no NaN or Infinity.

Checked without recursion, so a value nested deeper than Python's recursion limit is named, not a
RecursionError. Used for workflow documents (:mod:`segflow.dsl.validation`) and execution inputs.
"""

from __future__ import annotations

import json
import math
from itertools import compress, repeat
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
    return _encoded_length(json.dumps(value, separators=(",", ":"), ensure_ascii=False))


def _encoded_length(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode())


_CONTAINERS = (dict, list, tuple)


def _plain_shape(value: Any, max_depth: int) -> bool:
    """Whether every key is a string and no object or list nests ``max_depth`` deep: the checks of
    :func:`json_problems` that ``json.dumps`` does not make. Level by level, the per-item work in C."""
    level = [value] if isinstance(value, _CONTAINERS) else []
    depth = 0
    while level:
        if depth >= max_depth:
            return False
        keys: list[Any] = []
        values: list[Any] = []
        for item in level:
            if isinstance(item, dict):
                keys.extend(item)
                values.extend(item.values())
            else:
                values.extend(item)
        if not all(map(isinstance, keys, repeat(str))):
            return False
        level = list(compress(values, map(isinstance, values, repeat(_CONTAINERS))))
        depth += 1
    return True


def plain_json_size(value: Any, max_depth: int = MAX_JSON_DEPTH) -> int | None:
    """Bytes of ``value`` as compact JSON when :func:`json_problems` would find nothing in it, else None
    (ask :func:`json_problems` what). One pass of ``json.dumps`` (which refuses NaN, Infinity and what is not
    JSON) after a walk of the containers only, instead of a walk of every value."""
    if not _plain_shape(value, max_depth):
        return None
    try:  # no cycle can pass _plain_shape: no need for json's own circular check
        text = json.dumps(
            value, separators=(",", ":"), ensure_ascii=False, allow_nan=False, check_circular=False
        )
    except (TypeError, ValueError, RecursionError):
        return None
    return _encoded_length(text)


def check_execution_input(value: Any) -> None:
    """Refuse an execution input segflow cannot run, naming why (raises :class:`InvalidExecutionInput`)."""
    if not isinstance(value, dict):
        raise InvalidExecutionInput(
            f"execution input must be a JSON object ({{...}}), not {json_kind(value)}; "
            'pass {} for no input, or wrap a value: {"value": ...}'
        )
    size = plain_json_size(value)
    if size is None:
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
