"""JSON Schema of the workflow DSL for editors: the document shape plus each node type's config."""

from __future__ import annotations

from typing import Any

from segflow.dsl.models import WorkflowDefinition
from segflow.nodes import registry

SCHEMA_ID = "https://segflow.dev/schemas/workflow.schema.json"


def workflow_json_schema(builtin_only: bool = False) -> dict[str, Any]:
    """The schema of every known node type, the custom ones loaded included (unless ``builtin_only``)."""
    schema = WorkflowDefinition.model_json_schema()
    defs = schema.setdefault("$defs", {})
    node_schema = defs["NodeSpec"]
    node_types = registry.all_node_types(builtin_only=builtin_only)
    node_schema["properties"]["type"]["enum"] = sorted({t.type for t in node_types})
    rules = []
    for node_type in sorted(node_types, key=lambda t: t.key):
        config_schema = node_type.config_model.model_json_schema(ref_template="#/$defs/{model}")
        for name, definition in config_schema.pop("$defs", {}).items():
            defs.setdefault(name, definition)
        config_name = f"{node_type.config_model.__name__}"
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
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    schema["title"] = "segflow workflow"
    return schema
