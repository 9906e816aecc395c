"""The JSON answer an ``llm_chat`` node asks for, checked with pydantic against a JSON Schema subset.

Supported: ``type`` (object, array, string, number, integer, boolean, null), ``properties``, ``required``,
``enum``, ``items``, and ``additionalProperties: false``. The schema becomes a pydantic model once; an answer
that does not parse or does not fit gives the validation error, which the node sends back to the model once.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from types import GenericAlias
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, create_model

_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)
_SCALARS: dict[str, Any] = {
    "string": str,
    "number": float,
    "integer": int,
    "boolean": bool,
    "null": type(None),
}


class SchemaError(ValueError):
    pass


def _annotation(schema: dict[str, Any], name: str) -> Any:
    if "enum" in schema:
        return Literal[tuple(schema["enum"])]
    kind = schema.get("type", "object" if "properties" in schema else None)
    if kind is None:
        return Any
    if isinstance(kind, list):
        raise SchemaError(f"{name}: a list of types is not supported; use one type")
    if kind in _SCALARS:
        return _SCALARS[kind]
    if kind == "array":
        # list[item] with the item type known only at run time
        return GenericAlias(list, (_annotation(schema.get("items", {}), f"{name}[]"),))
    if kind == "object":
        if "properties" not in schema:
            return dict[str, Any]
        return _model(json.dumps(schema, sort_keys=True), name)
    raise SchemaError(f"{name}: type {kind!r} is not supported")


@lru_cache(maxsize=256)
def _model(schema_json: str, name: str) -> type[BaseModel]:
    schema = json.loads(schema_json)
    required = set(schema.get("required", []))
    fields: dict[str, Any] = {}
    for field, sub in schema["properties"].items():
        if not isinstance(sub, dict):
            raise SchemaError(f"{name}.{field}: must be a schema object")
        annotation = _annotation(sub, f"{name}.{field}")
        fields[field] = (annotation, ...) if field in required else (annotation | None, Field(default=None))
    extra: Literal["forbid", "allow"] = "forbid" if schema.get("additionalProperties") is False else "allow"
    return create_model(name.replace(".", "_") or "Answer", __config__=ConfigDict(extra=extra), **fields)


def check_schema(schema: dict[str, Any]) -> None:
    """Raise SchemaError for what the subset cannot express (at validation time)."""
    _annotation(schema, "output_schema")


def parse_answer(text: str, schema: dict[str, Any]) -> tuple[Any, str | None]:
    """(the JSON value, None) when ``text`` meets ``schema``; (None, what is wrong) otherwise."""
    stripped = text.strip()
    fenced = _FENCE.match(stripped)
    if fenced:
        stripped = fenced.group(1)
    try:
        value = json.loads(stripped)
    except json.JSONDecodeError as error:
        return None, f"the answer is not JSON ({error.msg} at position {error.pos})"
    except ValueError as error:  # valid JSON that Python cannot hold, e.g. an integer of 5000 digits
        return None, f"the answer is not JSON ({error})"
    try:
        TypeAdapter(_annotation(schema, "answer")).validate_python(value)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in d['loc']) or 'answer'}: {d['msg']}" for d in error.errors()[:5]
        )
        return None, f"the answer does not fit the schema: {problems}"
    return value, None
