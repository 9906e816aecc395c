"""ManagementApi: the management HTTP API (API Gateway HTTP API, payload format 2.0).

Routes are declared once in ``segflow.declaration.MANAGEMENT_HTTP_API`` (the stack and the local gateway
read them there); this resolver implements each. The tenant and the caller come from the request context
(:mod:`segflow.api.identity`), never from a body. Errors are ``{code, message, details}`` JSON.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Header, Query

from segflow.api.errors import error_response, invalid_request_response, segflow_error_response
from segflow.api.identity import Caller, caller_from_request_context
from segflow.api.models import (
    ActivateRequest,
    ActivationResponse,
    ApprovalDecisionRequest,
    ApprovalDecisionResponse,
    CheckpointList,
    DiffResponse,
    EventPageResponse,
    ExecutionDescription,
    ExecutionOutput,
    ExecutionWorkflow,
    NodeDetail,
    NodeState,
    PublishRequest,
    PublishResponse,
    ResumeExecutionRequest,
    RollbackRequest,
    StartExecutionRequest,
    StartExecutionResponse,
    StopExecutionRequest,
    VersionList,
    WorkflowList,
)
from segflow.console import page as console_page
from segflow.domain.errors import SegflowError
from segflow.domain.ids import execution_id_of
from segflow.domain.limits import (
    API_OUTPUT_MAX_BYTES,
    EVENT_PAGE_SIZE,
    EXECUTION_LIST_PAGE_DEFAULT,
    EXECUTION_LIST_PAGE_MAX,
    OUTPUT_LINK_SECONDS,
    REQUEST_KEY_MAX_CHARS,
)
from segflow.domain.statuses import ExecutionStatus
from segflow.handlers.invocation_log import invocation_log_context
from segflow.services.executions import ExecutionPage, ExecutionsService, ExecutionView, StartedExecution
from segflow.services.workflows import Activation, WorkflowsService
from segflow.versioning.models import WorkflowSummary, WorkflowVersion

if TYPE_CHECKING:
    pass

logger = Logger()
app = APIGatewayHttpResolver(enable_validation=True)

OPENAPI_TITLE = "segflow management API"
OPENAPI_VERSION = "1.0.0"


@cache
def _workflows() -> WorkflowsService:
    return WorkflowsService.from_environment()


@cache
def _executions() -> ExecutionsService:
    return ExecutionsService.from_environment()


def caller() -> Caller:
    return caller_from_request_context(app.current_event.raw_event.get("requestContext") or {})


def _json(status: int, model: Any) -> Response[Any]:
    return Response(status_code=status, content_type="application/json", body=model.model_dump(mode="json"))


class OutputTooLarge(SegflowError):
    """An output too large for the API's answer (a Lambda function answers with 6 MB at most)."""

    kind = "unavailable"


def _answer_bytes(output: Any) -> int:
    """What the output takes in the function's answer: its JSON, escaped again as the answer's body string."""
    return len(json.dumps(json.dumps(output, separators=(",", ":"))).encode())


def _bounded(output: Any, what: str) -> Any:
    size = _answer_bytes(output)
    if size > API_OUTPUT_MAX_BYTES:
        raise OutputTooLarge(f"{what} is {size} bytes: the API answers with {API_OUTPUT_MAX_BYTES} at most")
    return output


_ErrorHandler = TypeVar("_ErrorHandler", bound=Callable[..., Response[str]])

# --- errors: segflow's own by their kind (segflow.api.errors), the request's, a route not declared --------


def _invalid_request(error: RequestValidationError) -> Response[str]:
    return invalid_request_response(list(error.errors()))


def _no_route(_missing: NotFoundError) -> Response[str]:
    event = app.current_event
    return error_response(404, "NoSuchRoute", f"no route {event.http_method} {event.path}")


app.exception_handler(SegflowError)(segflow_error_response)
app.exception_handler(RequestValidationError)(_invalid_request)
app.exception_handler(NotFoundError)(_no_route)


# --- workflows ----------------------------------------------------------------------------------------------


# The Idempotency-Key header of POST /workflows and POST /executions (segflow.adapters.request_keys).
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="idempotency-key",
        min_length=1,
        max_length=REQUEST_KEY_MAX_CHARS,
        description=(
            "Makes the request safe to retry: a request with the same key and the same body answers as the "
            "first one did (the same version, the same execution) and changes nothing; the key with another "
            "body is refused with 409 RequestKeyReused. Keys are per tenant, remembered for 24 hours."
        ),
    ),
]


@app.post("/workflows", responses={201: {"description": "Published"}})
def publish_workflow(
    request: PublishRequest, idempotency_key: IdempotencyKey = None
) -> Response[PublishResponse]:
    who = caller()
    published = _workflows().publish(
        who.tenant_id,
        request.definition,
        created_by=who.principal,
        message=request.message,
        activate=request.activate,
        expected_active_version=request.expected_active_version,
        idempotency_key=idempotency_key,
    )
    info = published.version
    logger.info("published", extra={"workflow_id": info.workflow_id, "version": info.version})
    return _json(201, PublishResponse(workflow=published.workflow, version=info))


@app.get("/workflows")
def list_workflows() -> WorkflowList:
    return WorkflowList(workflows=_workflows().list_workflows(caller().tenant_id))


@app.get("/workflows/<workflow_id>")
def get_workflow(workflow_id: str) -> WorkflowSummary:
    return _workflows().get(caller().tenant_id, workflow_id)


@app.get("/workflows/<workflow_id>/versions")
def list_versions(workflow_id: str) -> VersionList:
    found = _workflows().history(caller().tenant_id, workflow_id)
    return VersionList(workflow=found.workflow, versions=found.versions, history=found.history)


@app.get("/workflows/<workflow_id>/versions/<version>")
def get_version(workflow_id: str, version: int) -> WorkflowVersion:
    return _workflows().version(caller().tenant_id, workflow_id, version)


@app.get("/workflows/<workflow_id>/diff")
def diff_versions(
    workflow_id: str,
    from_version: Annotated[int, Query(alias="from", ge=1)],
    to_version: Annotated[int | None, Query(alias="to", ge=1)] = None,
) -> DiffResponse:
    found = _workflows().diff(caller().tenant_id, workflow_id, from_version, to_version)
    return DiffResponse(
        workflow_id=found.workflow_id,
        from_version=found.from_version,
        to_version=found.to_version,
        diff=found.diff,
    )


def _activation(done: Activation) -> ActivationResponse:
    return ActivationResponse(result=done.result, workflow=done.workflow)


@app.post("/workflows/<workflow_id>/activate")
def activate_version(workflow_id: str, request: ActivateRequest) -> ActivationResponse:
    who = caller()
    done = _workflows().activate(
        who.tenant_id,
        workflow_id,
        request.version,
        by=who.principal,
        reason=request.reason,
        expected_active_version=request.expected_active_version,
    )
    return _activation(done)


@app.post("/workflows/<workflow_id>/rollback")
def rollback_workflow(workflow_id: str, request: RollbackRequest) -> ActivationResponse:
    who = caller()
    done = _workflows().rollback(
        who.tenant_id,
        workflow_id,
        by=who.principal,
        to_version=request.to_version,
        reason=request.reason,
        expected_active_version=request.expected_active_version,
    )
    rolled = done.result
    logger.info(
        "rolled back",
        extra={
            "workflow_id": workflow_id,
            "to": rolled.rolled_back_to_version,
            "from": rolled.previous_version,
        },
    )
    return _activation(done)


# --- executions ---------------------------------------------------------------------------------------------


def _started(started: StartedExecution) -> Response[StartExecutionResponse]:
    response = StartExecutionResponse(
        execution_id=started.execution_id,
        execution_arn=started.execution_arn,
        workflow_id=started.workflow_id,
        version=started.version,
        resumed_from=started.resumed_from,
    )
    return _json(201, response)


def _description(view: ExecutionView) -> ExecutionDescription:
    record = view.record
    started_at = record.started_at if record is not None else None
    if started_at is None and view.started_at is not None:
        started_at = view.started_at.isoformat()
    return ExecutionDescription(
        execution_id=view.execution_id,
        execution_arn=view.execution_arn,
        workflow_id=view.workflow_id,
        version=view.version,
        status=view.status,
        started_at=started_at,
        stopped_at=view.stopped_at.isoformat() if view.stopped_at is not None else None,
        node_count=record.node_count if record is not None else 0,
        nodes=[
            NodeState(
                node_id=node.node_id,
                type=node.type,
                label=node.label,
                status=node.status,
                started_at=node.started_at,
                duration_ms=node.duration_ms,
                error_type=node.error_type,
                error_message=node.error_message,
            )
            for node in view.nodes
        ],
        output=json.loads(record.output_json) if record is not None and record.output_json else None,
        output_ref=record.output_key if record is not None else None,
        error=view.error,
        cause=view.cause,
    )


@app.post("/executions", responses={201: {"description": "Started"}})
def start_execution(
    request: StartExecutionRequest, idempotency_key: IdempotencyKey = None
) -> Response[StartExecutionResponse]:
    """Start a published workflow; ``GET /executions/{id}`` reads it as soon as this answered."""
    who = caller()
    started = _executions().start(
        who.tenant_id,
        request.workflow_id,
        request.version,
        request.input,
        name=request.name,
        started_by=who.principal,
        idempotency_key=idempotency_key,
    )
    logger.info("started", extra={"execution_id": started.execution_id, "workflow_id": request.workflow_id})
    return _started(started)


@app.get("/executions")
def list_executions(
    workflow_id: Annotated[str | None, Query(min_length=1)] = None,
    status: Annotated[ExecutionStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=EXECUTION_LIST_PAGE_MAX)] = EXECUTION_LIST_PAGE_DEFAULT,
    next_token: Annotated[str | None, Query(min_length=1)] = None,
) -> ExecutionPage:
    """The caller's executions, newest first; ``next_token`` of a page asks for the next one."""
    return _executions().list_executions(caller().tenant_id, workflow_id, status, limit, next_token)


@app.get("/executions/<execution_id>")
def describe_execution(execution_id: str) -> ExecutionDescription:
    return _description(_executions().describe(caller().tenant_id, execution_id))


@app.get("/executions/<execution_id>/events")
def execution_events(
    execution_id: str,
    after: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=EVENT_PAGE_SIZE)] = EVENT_PAGE_SIZE,
) -> EventPageResponse:
    """The execution log: every state change after ``after``, in order, a page at a time."""
    page = _executions().events_page(caller().tenant_id, execution_id, after, limit)
    return EventPageResponse(
        execution_id=execution_id_of(execution_id), events=page.events, next_after=page.next_after
    )


@app.get("/executions/<execution_id>/checkpoints")
def execution_checkpoints(execution_id: str) -> CheckpointList:
    """Every node outcome the execution recorded, in the order they were reached: what a resume reuses."""
    tenant = caller().tenant_id
    view = _executions().describe(tenant, execution_id, with_nodes=False)
    return CheckpointList(
        execution_id=view.execution_id,
        execution_arn=view.execution_arn,
        status=view.status,
        checkpoints=_executions().checkpoints(tenant, view.execution_id),
    )


@app.get("/executions/<execution_id>/nodes/<node_id>")
def execution_node(execution_id: str, node_id: str) -> NodeDetail:
    """One node's record and its output; one kept in S3 also by a short-lived link (``output_url``), and only
    by it when it is too large for an answer."""
    service = _executions()
    record = service.node(caller().tenant_id, execution_id, node_id)
    link = service.node_output_link(record, OUTPUT_LINK_SECONDS)
    if link is None:
        output = _bounded(service.node_output(record), f"the output of node {node_id!r}")
    elif (record.output_bytes or 0) > API_OUTPUT_MAX_BYTES:
        output = None  # not even loaded: the link is the way to it
    else:
        output = service.node_output(record)
        output = output if _answer_bytes(output) <= API_OUTPUT_MAX_BYTES else None
    return NodeDetail(
        execution_id=execution_id_of(execution_id),
        **record.model_dump(include=_NODE_DETAIL_FIELDS),
        output_ref=record.output_key,
        output=output,
        output_url=link,
        output_url_expires_in=OUTPUT_LINK_SECONDS if link else None,
    )


_NODE_DETAIL_FIELDS = set(NodeDetail.model_fields) - {
    "execution_id",
    "output_ref",
    "output",
    "output_url",
    "output_url_expires_in",
}


@app.get("/executions/<execution_id>/output")
def execution_output(execution_id: str) -> ExecutionOutput:
    """What a succeeded execution ended with; None while it runs or if it did not succeed."""
    tenant = caller().tenant_id
    view = _executions().describe(tenant, execution_id, with_nodes=False)
    output = _executions().output(tenant, view.execution_id) if view.status == "SUCCEEDED" else None
    return ExecutionOutput(
        execution_id=view.execution_id,
        status=view.status,
        output=_bounded(output, f"the output of {view.execution_id!r}"),
    )


@app.get("/executions/<execution_id>/workflow")
def execution_workflow(execution_id: str) -> ExecutionWorkflow:
    """The workflow the execution runs: its submitted document, or the published version it pinned."""
    tenant = caller().tenant_id
    service = _executions()
    view = service.describe(tenant, execution_id, with_nodes=False)
    definition = service.workflow_of(tenant, view.execution_id)
    if definition is None and view.workflow_id is not None and view.version is not None:
        definition = service.published_definition(tenant, view.workflow_id, view.version)
    return ExecutionWorkflow(
        execution_id=view.execution_id,
        workflow_id=view.workflow_id,
        version=view.version,
        definition=definition,
    )


@app.post("/executions/<execution_id>/resume", responses={201: {"description": "Started"}})
def resume_execution(execution_id: str, request: ResumeExecutionRequest) -> Response[StartExecutionResponse]:
    """Continue an execution that failed, timed out or was aborted, in a new execution: completed nodes are
    reused, the failed ones (or ``from_node`` and all after it) run again."""
    started = _executions().resume(caller().tenant_id, execution_id, request.from_node, request.name)
    logger.info("resumed", extra={"execution_id": started.execution_id, "resumed_from": execution_id})
    return _started(started)


@app.post("/executions/<execution_id>/stop")
def stop_execution(execution_id: str, request: StopExecutionRequest) -> ExecutionDescription:
    """Stop a running execution; it ends ABORTED (its completed nodes stay, for a resume)."""
    view = _executions().stop(caller().tenant_id, execution_id, request.error, request.cause)
    logger.info("stopped", extra={"execution_id": execution_id})
    return _description(view)


@app.post("/executions/<execution_id>/approvals/<node_id>")
def decide(execution_id: str, node_id: str, request: ApprovalDecisionRequest) -> ApprovalDecisionResponse:
    """Approve or reject a waiting approval node; the caller is recorded as the approver."""
    who = caller()
    decided = _executions().decide(
        who.tenant_id, execution_id, node_id, request.decision, who.principal, request.comment
    )
    logger.info("approval decided", extra={"execution_id": execution_id, "node_id": node_id})
    return ApprovalDecisionResponse(
        execution_id=execution_id,
        node_id=node_id,
        decision=request.decision,
        approver=who.principal,
        comment=decided.comment,
        decided_at=decided.decided_at or time.time(),
    )


# --- the API's own description ------------------------------------------------------------------------------


def openapi_document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(
        app.get_openapi_json_schema(title=OPENAPI_TITLE, version=OPENAPI_VERSION)
    )
    return document


@app.get("/openapi.json", include_in_schema=False)
def openapi() -> Response[dict[str, Any]]:
    return Response(status_code=200, content_type="application/json", body=openapi_document())


@app.get("/console", include_in_schema=False)
def console() -> Response[str]:
    """The live console page (public: it holds no data; its link's fragment names execution and socket)."""
    html, headers = console_page()
    return Response(status_code=200, content_type="text/html; charset=utf-8", body=html, headers=headers)


@invocation_log_context(logger)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
