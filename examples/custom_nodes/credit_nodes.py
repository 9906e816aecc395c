"""A custom node type, ``credit_check``: one function and its pydantic config (see docs/custom-nodes.md).

Load it with ``SEGFLOW_NODE_MODULES=credit_nodes`` (this directory on ``PYTHONPATH``); on AWS, copy it into
``lambdas/`` and deploy with ``-c node_modules=credit_nodes``. Used by examples/custom_node.json.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from segflow.nodes.base import NodeContext, NodeFailure
from segflow.nodes.custom import node_type


class CreditDeclined(NodeFailure):
    error_type = "CreditDeclined"


class CreditCheckConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: str = Field(min_length=1)
    amount: float = Field(gt=0, description="What the customer wants to spend.")
    credit_limit: float = Field(ge=0)
    max_utilisation: float = Field(
        default=0.8, gt=0, le=1, description="Share of the limit one order may use."
    )


@node_type(
    "credit_check",
    config=CreditCheckConfig,
    description="Approves an amount against a customer's credit limit; fails with CreditDeclined otherwise.",
    pure=True,
)
def credit_check(config: CreditCheckConfig, context: NodeContext) -> dict:
    utilisation = config.amount / config.credit_limit if config.credit_limit else 1.0
    if utilisation > config.max_utilisation:
        raise CreditDeclined(
            f"{config.customer_id}: {config.amount:g} is {utilisation:.0%} of the limit "
            f"{config.credit_limit:g} (at most {config.max_utilisation:.0%})"
        )
    return {
        "customer_id": config.customer_id,
        "approved": config.amount,
        "utilisation": round(utilisation, 3),
    }
