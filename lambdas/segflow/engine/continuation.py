"""Continuing an execution in a new Step Functions execution before its history reaches the event limit.

Without nested ``states:startExecution`` (moto lacks it, and a nested child would still count its parent's
events), the ContinueExecution handler starts the next part itself: same state machine, an input holding only
the execution id and the stage to go on with. The new part's InitializeStateBag rebuilds the statebag from the
execution record; node records, outputs and the manifest stay where they are, keyed by the first part's
execution id. The finished part succeeds with ``{"status": "CONTINUED", "continued_as": <next ARN>}``, which
clients follow.
"""

from __future__ import annotations

import hashlib
from typing import Any

from segflow.contracts import Continuation, StateBag
from segflow.domain.ids import fitted_execution_id
from segflow.domain.records import ExecutionRecord


class ContinuationRefused(ValueError):
    """The continuation does not match its execution (unknown, finished, or a part out of order)."""


def part_name(tenant_id: str, execution_id: str, part: int) -> str:
    """``<execution id>-<hash>-p<part>``: unique per execution and part, the id cut so that the tenant's
    Step Functions name fits."""
    digest = hashlib.sha256(execution_id.encode()).hexdigest()[:8]
    return fitted_execution_id(tenant_id, execution_id, f"-{digest}-p{part}")


def continuation_request(statebag: StateBag, stage: int, wait_seconds: int) -> dict[str, Any]:
    continuation = Continuation(
        execution_id=statebag.execution_id, stage=stage, part=statebag.part + 1, wait_seconds=wait_seconds
    )
    return {"tenant_id": statebag.tenant_id, "continuation": continuation.model_dump()}


def continued_statebag(record: ExecutionRecord | None, continuation: Continuation) -> StateBag:
    """The statebag of the execution, as its first part had it, for part ``continuation.part``."""
    if record is None:
        raise ContinuationRefused(f"no execution {continuation.execution_id!r} to continue")
    if record.status != "RUNNING" or record.parts != continuation.part:
        raise ContinuationRefused(
            f"execution {continuation.execution_id!r} is {record.status} at part {record.parts}: "
            f"part {continuation.part} cannot start"
        )
    if continuation.stage >= record.stage_count:
        raise ContinuationRefused(
            f"stage {continuation.stage} is past the last stage of {continuation.execution_id!r}"
        )
    return StateBag(
        tenant_id=record.tenant_id,
        workflow_id=record.workflow_id,
        workflow_version=record.workflow_version,
        execution_id=record.execution_id,
        started_at=record.started_at,
        manifest_prefix=record.manifest_prefix,
        stage_count=record.stage_count,
        segment_count=record.segment_count,
        node_count=record.node_count,
        part=continuation.part,
    )
