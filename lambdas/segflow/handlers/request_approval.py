"""RequestApproval: called by the WaitForApproval state with its task token, which it stores with the
approval (never in an event or a response). A decision that came first completes the token at once."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from segflow.adapters import factory
from segflow.contracts import RequestApprovalEvent
from segflow.handlers.errors import concise_errors
from segflow.handlers.invocation_log import invocation_log_context

logger = Logger()


@invocation_log_context(logger)
@concise_errors(logger)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    parsed = RequestApprovalEvent.model_validate(event)
    statebag = parsed.statebag
    record = factory.approvals().attach_token(
        statebag.tenant_id, statebag.execution_id, parsed.node_id, parsed.task_token
    )
    if record.decided:
        factory.task_tokens().resume(
            parsed.task_token, {"node_id": parsed.node_id, "decision": record.decision}
        )
    logger.info(
        "approval waiting",
        extra={"execution_id": statebag.execution_id, "node_id": parsed.node_id, "decided": record.decided},
    )
    return {"node_id": parsed.node_id, "decided": record.decided}
