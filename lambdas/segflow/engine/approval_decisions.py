"""Deciding an approval: who may, once, and waking the waiting state machine up."""

from __future__ import annotations

from segflow.adapters.approvals import ApprovalNotRequested, ApprovalRecord, ApprovalStore, Decision
from segflow.adapters.task_tokens import TaskTokens
from segflow.domain.errors import SegflowError


class ApproverNotAllowed(SegflowError):
    """The caller is not one of the approvers the node names."""

    code = "Forbidden"
    kind = "forbidden"


def decide_approval(
    approvals: ApprovalStore,
    tokens: TaskTokens,
    tenant_id: str,
    execution_id: str,
    node_id: str,
    decision: Decision,
    approver: str,
    comment: str | None,
    now: float,
) -> ApprovalRecord:
    """Record the decision (once) and complete the waiting task, if its token is stored yet; otherwise the
    RequestApproval function completes it as soon as it stores the token. Raises ApprovalNotPending
    (ApprovalNotRequested), ApproverNotAllowed."""
    pending = approvals.get(tenant_id, execution_id, node_id)
    if pending is None:
        raise ApprovalNotRequested(f"node {node_id!r} of execution {execution_id!r} has no approval request")
    if pending.approvers and approver not in pending.approvers:
        raise ApproverNotAllowed(
            f"{approver} may not decide node {node_id!r}: approvers are listed in its config"
        )
    decided = approvals.decide(tenant_id, execution_id, node_id, decision, approver, comment, now)
    if decided.task_token:
        tokens.resume(decided.task_token, {"node_id": node_id, "decision": decision})
    return decided
