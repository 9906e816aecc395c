"""JSON Schema of the workflow DSL for editors: the document shape plus each node type's config.

It accepts what validation accepts: inside a node's config any value may be a ``{{ template }}`` string (its
type is checked once rendered, at run time), so every config field also admits a string with ``{{``.
"""

from __future__ import annotations

from typing import Any

from segflow.dsl.models import WorkflowDefinition
from segflow.nodes import registry

SCHEMA_ID = "https://segflow.dev/schemas/workflow.schema.json"
TEMPLATE_DEF = "Template"
TEMPLATE_SCHEMA = {
    "type": "string",
    "pattern": r"\{\{",
    "description": "A {{ expression }} template: replaced by its value at run time, then checked.",
}
# Keys that only describe a schema: one with nothing else accepts any value, templates included.
_ANNOTATIONS = {"title", "description", "default", "examples"}
# The definitions of the document itself (not of a node's config): their values are never templated.
_DOCUMENT_DEFS = {"NodeSpec", "EdgeSpec", "RetryPolicy", "SubFlow"}


def _templated(schema: Any) -> Any:
    """``schema`` or a {{ template }} string, unless it accepts any value already or is a constant (the field
    that selects a variant, which validation needs as written)."""
    if not isinstance(schema, dict) or not set(schema) - _ANNOTATIONS or "const" in schema:
        return schema
    kept = {key: value for key, value in schema.items() if key in _ANNOTATIONS}
    rest = {key: value for key, value in schema.items() if key not in _ANNOTATIONS}
    return {**kept, "anyOf": [rest, {"$ref": f"#/$defs/{TEMPLATE_DEF}"}]}


def _admit_templates(schema: dict[str, Any], raw_fields: tuple[str, ...] = ()) -> None:
    """Every property, item and map value of a config model's schema (in place) also admits a template, but
    its ``raw_fields`` (a sub-flow is not one template)."""
    stack = [schema]
    while stack:
        part = stack.pop()
        if not isinstance(part, dict):
            continue
        properties = part.get("properties")
        if isinstance(properties, dict):
            for name, value in properties.items():
                if part is schema and name in raw_fields:
                    continue
                properties[name] = _templated(value)
                stack.append(value)
        for key in ("items", "additionalProperties"):
            if isinstance(part.get(key), dict):
                stack.append(part[key])
                part[key] = _templated(part[key])
        for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
            if isinstance(part.get(key), list):
                stack.extend(part[key])


def workflow_json_schema(builtin_only: bool = False) -> dict[str, Any]:
    """The schema of every known node type, the custom ones loaded included (unless ``builtin_only``)."""
    schema = WorkflowDefinition.model_json_schema()
    defs = schema.setdefault("$defs", {})
    node_schema = defs["NodeSpec"]
    node_types = registry.all_node_types(builtin_only=builtin_only)
    node_schema["properties"]["type"]["enum"] = sorted({t.type for t in node_types})
    rules = []
    raw_fields: dict[str, tuple[str, ...]] = {}
    for node_type in sorted(node_types, key=lambda t: t.key):
        config_schema = node_type.config_model.model_json_schema(ref_template="#/$defs/{model}")
        for name, definition in config_schema.pop("$defs", {}).items():
            defs.setdefault(name, definition)
        config_name = f"{node_type.config_model.__name__}"
        raw_fields[config_name] = node_type.raw_fields
        defs[config_name] = config_schema
        condition: dict[str, Any] = {"properties": {"type": {"const": node_type.type}}, "required": ["type"]}
        if node_type.subtype_field:
            condition["properties"][node_type.subtype_field] = {"const": node_type.subtype}
            condition["required"].append(node_type.subtype_field)
        rules.append(
            {
                "if": condition,
                "then": {
                    "properties": {"config": {"$ref": f"#/$defs/{config_name}"}},
                    "description": node_type.description,
                },
            }
        )
    node_schema["allOf"] = rules
    for name, definition in defs.items():
        if name not in _DOCUMENT_DEFS:
            _admit_templates(definition, raw_fields.get(name, ()))
    defs[TEMPLATE_DEF] = TEMPLATE_SCHEMA
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    schema["title"] = "segflow workflow"
    return schema
