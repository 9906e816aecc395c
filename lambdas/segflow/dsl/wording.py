"""Problems found by pydantic, said in the workflow language's words: field paths as written
(``config.body.items[0].id``), JSON's names for types (null, a number, a list, an object), no Python wording.

pydantic reports one error per union member tried; those are merged into one problem per field path, and the
member tags it puts in error locations (``str``, ``function-after[...]``) are left out.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from segflow.dsl.json_values import json_kind
from segflow.dsl.models import IDENTIFIER_PATTERN

# pydantic error type -> what the field must be (the value's own kind is added: "must be a number, not null").
_TYPE_WORDS = {
    "string_type": "a string",
    "string_unicode": "a string",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "decimal_type": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "tuple_type": "a list",
    "set_type": "a list",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
    "dataclass_type": "an object",
    "none_required": "null",
    "url_type": "a URL string",
}
_STRIP_PREFIXES = ("Value error, ", "Assertion failed, ")


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _message(detail: Any) -> str:
    kind: str = detail["type"]
    ctx: dict[str, Any] = detail.get("ctx") or {}
    given = detail.get("input")
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a field here"
    if kind in _TYPE_WORDS:
        return f"must be {_TYPE_WORDS[kind]}, not {json_kind(given)}"
    if kind == "greater_than_equal":
        return f"must be at least {_number(ctx.get('ge'))}"
    if kind == "greater_than":
        return f"must be greater than {_number(ctx.get('gt'))}"
    if kind == "less_than_equal":
        return f"must be at most {_number(ctx.get('le'))}"
    if kind == "less_than":
        return f"must be less than {_number(ctx.get('lt'))}"
    if kind == "finite_number":
        return "must be a finite number (NaN and Infinity are not JSON)"
    if kind == "string_too_short":
        least = ctx.get("min_length", 1)
        return "must not be empty" if least == 1 else f"must have at least {least} characters"
    if kind == "string_too_long":
        length = f"{len(given):,}" if isinstance(given, str) else "too many"
        return f"has {length} characters; at most {ctx.get('max_length'):,}"
    if kind == "too_short":
        least = ctx.get("min_length", 1)
        return "must not be empty" if least == 1 else f"must have at least {least} items"
    if kind == "too_long":
        return f"must have at most {ctx.get('max_length')} items"
    if kind == "string_pattern_mismatch" and ctx.get("pattern") == IDENTIFIER_PATTERN:
        return (
            f"{given!r} is not an id: use letters, digits, '_', '-' and '.' (first: a letter, digit or '_')"
        )
    if kind == "string_pattern_mismatch":
        return f"{given!r} does not match the pattern {ctx.get('pattern')}"
    if kind == "union_tag_invalid":
        tag = ctx.get("tag")
        if isinstance(tag, str) and "{{" in tag:
            expected = ctx.get("expected_tags")
            return f"cannot be a template: it says which other fields are allowed; one of: {expected}"
        return f"{tag!r} is not one of: {ctx.get('expected_tags')}"
    if kind == "union_tag_not_found":
        return "is required"
    if kind in ("literal_error", "enum"):
        return f"{given!r} is not one of: {ctx.get('expected', '')}"
    message: str = detail["msg"]
    for prefix in _STRIP_PREFIXES:
        if message.startswith(prefix):
            message = message[len(prefix) :]
    return message


def _path(raw: Any, loc: tuple[int | str, ...], prefix: str, keep_last: bool) -> str:
    """The field path of ``loc`` as written, following ``raw``: union member tags are skipped."""
    path = prefix
    current: Any = raw
    for position, part in enumerate(loc):
        last = position == len(loc) - 1
        if isinstance(part, int) and isinstance(current, list) and 0 <= part < len(current):
            path, current = f"{path}[{part}]", current[part]
        elif isinstance(part, str) and isinstance(current, dict) and part in current:
            path, current = (f"{path}.{part}" if path else part), current[part]
        elif isinstance(part, str) and last and keep_last:
            path, current = (f"{path}.{part}" if path else part), None
        # otherwise a union member's tag (or a dict key pydantic made up): not part of the written path
    return path


def _merged(messages: list[str]) -> str:
    unique = list(dict.fromkeys(messages))
    types = [m for m in unique if m.startswith("must be ") and ", not " in m]
    if len(types) > 1 and len(types) == len(unique):
        given = types[0].split(", not ", 1)[1]
        wanted = " or ".join(dict.fromkeys(m[len("must be ") :].split(", not ", 1)[0] for m in types))
        return f"must be {wanted}, not {given}"
    return "; or ".join(unique)


def plain_problems(raw: Any, error: ValidationError, prefix: str = "") -> list[tuple[str, str, Any]]:
    """``(field path, problem, detail)`` for each field pydantic refused, once per path, in its order.

    ``detail`` is pydantic's first error for that path (callers read its ``input`` and ``ctx``)."""
    by_path: dict[str, list[str]] = {}
    details: dict[str, Any] = {}
    for detail in error.errors():
        loc = tuple(detail["loc"])
        keep_last = detail["type"] in ("missing", "extra_forbidden")
        if detail["type"] in ("union_tag_invalid", "union_tag_not_found"):  # the field that selects
            loc, keep_last = (*loc, str((detail.get("ctx") or {}).get("discriminator", "")).strip("'")), True
        path = _path(raw, loc, prefix, keep_last) or "(the document)"
        by_path.setdefault(path, []).append(_message(detail))
        details.setdefault(path, detail)
    return [(path, _merged(messages), details[path]) for path, messages in by_path.items()]
