"""``approval``: a human decides. The segment stops at the node and the state machine waits on a task
token (``WaitForApproval``); ``segflow approve`` or ``POST /executions/{id}/approvals/{node}`` decides,
and the stage runs again: the decision, the approver and the comment become the node's output, for a judgment
to route on. Past ``timeout_seconds`` the node takes ``default_decision``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from segflow.domain.errors import NodeFailure
from segflow.domain.limits import APPROVAL_DEFAULT_WAIT_SECONDS, APPROVAL_MAX_WAIT_SECONDS
from segflow.nodes.base import NodeContext, NodeResult, NodeType


class ApprovalConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    message: str = Field(
        min_length=1, max_length=2_000, description="What the approver is asked (templated)."
    )
    approvers: list[str] = Field(
        default_factory=list,
        description="Principals allowed to decide (e.g. IAM ARNs, jwt:<sub>); empty: anyone of the tenant.",
    )
    timeout_seconds: int = Field(default=APPROVAL_DEFAULT_WAIT_SECONDS, ge=1, le=APPROVAL_MAX_WAIT_SECONDS)
    default_decision: Literal["approve", "reject"] = Field(
        default="reject", description="What the node decides when nobody has by the timeout."
    )


def run_approval(context: NodeContext) -> NodeResult:
    """The decision is given as the node's progress by the segment runner, read from the approval store."""
    decision = context.progress
    if not decision or decision.get("decision") not in ("approve", "reject"):
        raise NodeFailure(f"node '{context.node_id}' has no decision yet", "ApprovalPending")
    output = {
        "decision": decision["decision"],
        "approved": decision["decision"] == "approve",
        "approver": decision.get("approver"),
        "comment": decision.get("comment"),
        "decided_at": decision.get("decided_at"),
        "timed_out": bool(decision.get("timed_out")),
    }
    who = "timeout (default decision)" if output["timed_out"] else output["approver"]
    reason = f"{output['decision']} by {who}" + (f": {output['comment']}" if output["comment"] else "")
    return NodeResult(output=output, reason=reason)


NODE_TYPE = NodeType(
    type="approval",
    config_model=ApprovalConfig,
    description="Waits for a person to approve or reject (segflow approve); the decision is the output.",
    executor=run_approval,
    placement="approval",
)
