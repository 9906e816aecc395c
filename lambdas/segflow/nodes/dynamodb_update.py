"""``action`` with ``action_type: dynamodb_update``: an UpdateItem on a table of the user's, applied once.

The update and the node's effect marker commit in one transaction (``NodeServices.data_tables``), so a
segment retried after a crash, even one that struck between the write and the node's checkpoint, never
applies the update a second time. Values are plain JSON (numbers, strings, lists, maps) and may be templates.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from segflow.domain.errors import EffectConditionFailed, NodeFailure
from segflow.domain.limits import DYNAMODB_UPDATE_MAX_CONCURRENCY
from segflow.nodes.base import NodeContext, NodeResult, NodeType

# DynamoDB's own rule for table names.
TABLE_NAME = re.compile(r"[a-zA-Z0-9_.-]{3,255}")


def check_table_name(table: str) -> str:
    """A pydantic field check (a ``{{ template }}`` is checked once rendered)."""
    if "{{" not in table and not TABLE_NAME.fullmatch(table):
        raise ValueError(f"{table!r} is not a DynamoDB table name")
    return table


class DynamoDbUpdateConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    table: str = Field(min_length=1, description="The table's name (the stack must grant access to it).")
    key: dict[str, Any] = Field(min_length=1, description="The item's primary key, as plain values.")
    update_expression: str = Field(min_length=1)
    expression_attribute_names: dict[str, str] = Field(default_factory=dict)
    expression_attribute_values: dict[str, Any] = Field(default_factory=dict)
    condition_expression: str | None = None

    @field_validator("table")
    @classmethod
    def _table_name(cls, table: str) -> str:
        return check_table_name(table)


def execute(context: NodeContext) -> NodeResult:
    config: DynamoDbUpdateConfig = context.config
    info = context.execution
    try:
        applied = context.services.data_tables.update_once(
            info.tenant_id,
            info.origin,  # a resume finds its original's marker: the update is not applied twice
            context.node_id,
            config.table,
            config.key,
            config.update_expression,
            expression_attribute_names=config.expression_attribute_names,
            expression_attribute_values=config.expression_attribute_values,
            condition_expression=config.condition_expression,
        )
    except EffectConditionFailed as failed:
        raise NodeFailure(f"condition {failed} did not hold on {config.table}", "ConditionFailed") from failed
    return NodeResult(output={"table": config.table, "key": config.key, "applied_now": applied})


NODE_TYPE = NodeType(
    type="action",
    subtype="dynamodb_update",
    subtype_field="action_type",
    config_model=DynamoDbUpdateConfig,
    description="Updates one item of a DynamoDB table (UpdateItem), at most once per execution.",
    executor=execute,
    max_concurrency=DYNAMODB_UPDATE_MAX_CONCURRENCY,
)
