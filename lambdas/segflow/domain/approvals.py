"""An approval as segflow records it: what was asked, of whom, until when, and what was decided."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from segflow.domain.errors import ErrorKind, SegflowError

Decision = Literal["approve", "reject"]


class ApprovalRecord(BaseModel):
    model_config = ConfigDict(extra="ignore")

    node_id: str
    message: str
    approvers: list[str] = []
    requested_at: float
    deadline: float
    default_decision: Decision
    task_token: str | None = None
    decision: Decision | None = None
    approver: str | None = None
    comment: str | None = None
    decided_at: float | None = None
    timed_out: bool = False

    @property
    def decided(self) -> bool:
        return self.decision is not None


class ApprovalNotPending(SegflowError):
    """No approval of that node is waiting: it was decided already (``record`` holds the decision)."""

    code = "AlreadyDecided"
    kind: ErrorKind = "conflict"

    def __init__(self, message: str, record: ApprovalRecord | None = None) -> None:
        super().__init__(message)
        self.record = record


class ApprovalNotRequested(ApprovalNotPending):
    """No approval of that node was ever requested."""

    code = "NotFound"
    kind: ErrorKind = "not_found"
