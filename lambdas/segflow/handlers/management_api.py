"""ManagementApi: the management HTTP API (API Gateway HTTP API, payload format 2.0).

Routes are declared once in ``segflow.declaration.MANAGEMENT_HTTP_API`` (the stack and the local gateway
read them there); this resolver implements each. The tenant and the caller come from the request context
(:mod:`segflow.api.identity`), never from a body. Errors are ``{code, message, details}`` JSON.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, cast

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Query

from segflow.adapters import factory
from segflow.adapters.execution_launcher import ExecutionAlreadyExists, execution_name
from segflow.api.identity import Caller, Forbidden, Unauthenticated, caller_from_request_context
from segflow.api.models import (
    ActivateRequest,
    ActivationResponse,
    ApprovalDecisionRequest,
    ApprovalDecisionResponse,
    DiffResponse,
    ErrorBody,
    ExecutionDescription,
    NodeState,
    PublishRequest,
    PublishResponse,
    ResumeExecutionRequest,
    RollbackRequest,
    StartExecutionRequest,
    StartExecutionResponse,
    VersionList,
    WorkflowList,
)
from segflow.console import page as console_page
from segflow.domain.approvals import ApprovalNotPending
from segflow.domain.records import ExecutionRecord
from segflow.dsl.validation import WorkflowValidationError, executable_issues, validate_workflow
from segflow.engine.approval_decisions import ApproverNotAllowed, decide_approval
from segflow.engine.resume import (
    ResumeRefused,
    check_from_node,
    check_resumable,
    resume_request,
    resumed_execution_name,
)
from segflow.handlers.invocation_log import invocation_log_context
from segflow.versioning.diff import diff_workflows
from segflow.versioning.errors import (
    ActiveVersionConflict,
    NoActiveVersion,
    NoPreviousVersion,
    TooMuchContention,
    VersionAlreadyActive,
    VersioningError,
    VersionNotFound,
    WorkflowNotFound,
)
from segflow.versioning.models import WorkflowSummary, WorkflowVersion

if TYPE_CHECKING:
    from segflow.adapters.execution_launcher import ExecutionLauncher
    from segflow.adapters.execution_records import ExecutionRecordStore
    from segflow.adapters.outputs import NodeOutputStore
    from segflow.adapters.workflow_versions import WorkflowVersionStore

logger = Logger()
app = APIGatewayHttpResolver(enable_validation=True)

OPENAPI_TITLE = "segflow management API"
OPENAPI_VERSION = "1.0.0"
_STATUS_OF_ERROR: dict[type[VersioningError], int] = {
    WorkflowNotFound: 404,
    VersionNotFound: 404,
    ActiveVersionConflict: 409,
    VersionAlreadyActive: 409,
    NoPreviousVersion: 409,
    NoActiveVersion: 409,
    TooMuchContention: 503,
}


class BadRequest(Exception):
    def __init__(self, code: str, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.details = details or []


class NotFound(Exception):
    code = "NotFound"


class Conflict(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _error(
    status: int, code: str, message: str, details: list[dict[str, Any]] | None = None
) -> Response[str]:
    body = ErrorBody(code=code, message=message, details=details or [])
    return Response(status_code=status, content_type="application/json", body=body.model_dump_json())


def _json(status: int, model: Any) -> Response[Any]:
    return Response(status_code=status, content_type="application/json", body=model.model_dump(mode="json"))


@cache
def _versions() -> WorkflowVersionStore:
    return factory.workflow_versions()


@cache
def _launcher() -> ExecutionLauncher:
    return factory.execution_launcher()


@cache
def _records() -> ExecutionRecordStore:
    return factory.execution_records()


@cache
def _outputs() -> NodeOutputStore:
    return factory.node_outputs()


def caller() -> Caller:
    return caller_from_request_context(app.current_event.raw_event.get("requestContext") or {})


# --- errors -------------------------------------------------------------------------------------------------

_ErrorHandler = TypeVar("_ErrorHandler", bound=Callable[..., Response[str]])


def _exception_handler(error: type[Exception]) -> Callable[[_ErrorHandler], _ErrorHandler]:
    """``app.exception_handler``, typed (powertools leaves it unannotated; it returns the function)."""
    return cast(Callable[[_ErrorHandler], _ErrorHandler], app.exception_handler(error))


@_exception_handler(VersioningError)
def _versioning_error(error: VersioningError) -> Response[str]:
    return _error(_STATUS_OF_ERROR.get(type(error), 400), error.code, str(error))


@_exception_handler(WorkflowValidationError)
def _invalid_workflow(error: WorkflowValidationError) -> Response[str]:
    details = [{"location": issue.location, "message": issue.message} for issue in error.issues]
    summary = "; ".join(str(issue) for issue in error.issues[:5])
    return _error(400, "InvalidWorkflow", f"the workflow is invalid: {summary}", details)


@_exception_handler(RequestValidationError)
def _invalid_request(error: RequestValidationError) -> Response[str]:
    details = [
        {"location": ".".join(str(p) for p in problem.get("loc", ())), "message": problem.get("msg", "")}
        for problem in error.errors()
    ]
    summary = "; ".join(f"{d['location']}: {d['message']}" for d in details[:5])
    return _error(422, "InvalidRequest", f"the request is invalid: {summary}", details)


@_exception_handler(BadRequest)
def _bad_request(error: BadRequest) -> Response[str]:
    return _error(400, error.code, str(error), error.details)


@_exception_handler(NotFound)
def _not_found(error: NotFound) -> Response[str]:
    return _error(404, error.code, str(error))


@_exception_handler(Conflict)
def _conflict(error: Conflict) -> Response[str]:
    return _error(409, error.code, str(error))


@_exception_handler(Unauthenticated)
def _unauthenticated(error: Unauthenticated) -> Response[str]:
    return _error(401, "Unauthenticated", str(error))


@_exception_handler(Forbidden)
def _forbidden(error: Forbidden) -> Response[str]:
    return _error(403, "Forbidden", str(error))


@_exception_handler(NotFoundError)
def _no_route(_missing: NotFoundError) -> Response[str]:
    event = app.current_event
    return _error(404, "NoSuchRoute", f"no route {event.http_method} {event.path}")


# --- workflows ----------------------------------------------------------------------------------------------


@app.post("/workflows", responses={201: {"description": "Published"}})
def publish_workflow(request: PublishRequest) -> Response[PublishResponse]:
    who = caller()
    graph = validate_workflow(request.definition)
    not_runnable = executable_issues(graph)
    if not_runnable:
        raise WorkflowValidationError(not_runnable)
    definition = graph.definition.model_dump(mode="json", exclude_none=True)
    info, summary = _versions().publish(
        who.tenant_id,
        definition,
        created_by=who.principal,
        message=request.message,
        activate=request.activate,
        expected_active_version=request.expected_active_version,
    )
    logger.info("published", extra={"workflow_id": info.workflow_id, "version": info.version})
    return _json(201, PublishResponse(workflow=summary, version=info))


@app.get("/workflows")
def list_workflows() -> WorkflowList:
    return WorkflowList(workflows=_versions().list_workflows(caller().tenant_id))


@app.get("/workflows/<workflow_id>")
def get_workflow(workflow_id: str) -> WorkflowSummary:
    return _versions().get_workflow(caller().tenant_id, workflow_id)


@app.get("/workflows/<workflow_id>/versions")
def list_versions(workflow_id: str) -> VersionList:
    tenant = caller().tenant_id
    store = _versions()
    return VersionList(
        workflow=store.get_workflow(tenant, workflow_id),
        versions=store.list_versions(tenant, workflow_id),
        history=store.history(tenant, workflow_id),
    )


@app.get("/workflows/<workflow_id>/versions/<version>")
def get_version(workflow_id: str, version: int) -> WorkflowVersion:
    return _versions().get_version(caller().tenant_id, workflow_id, version)


@app.get("/workflows/<workflow_id>/diff")
def diff_versions(
    workflow_id: str,
    from_version: Annotated[int, Query(alias="from", ge=1)],
    to_version: Annotated[int | None, Query(alias="to", ge=1)] = None,
) -> DiffResponse:
    tenant = caller().tenant_id
    store = _versions()
    if to_version is None:
        active = store.get_workflow(tenant, workflow_id).active_version
        if active is None:
            raise BadRequest("NoActiveVersion", f"workflow {workflow_id!r} has no active version; give 'to'")
        to_version = active
    before = store.get_version(tenant, workflow_id, from_version)
    after = store.get_version(tenant, workflow_id, to_version)
    return DiffResponse(
        workflow_id=workflow_id,
        from_version=from_version,
        to_version=to_version,
        diff=diff_workflows(before.definition, after.definition),
    )


@app.post("/workflows/<workflow_id>/activate")
def activate_version(workflow_id: str, request: ActivateRequest) -> ActivationResponse:
    who = caller()
    store = _versions()
    result = store.activate(
        who.tenant_id,
        workflow_id,
        request.version,
        by=who.principal,
        reason=request.reason,
        expected_active_version=request.expected_active_version,
    )
    return ActivationResponse(result=result, workflow=store.get_workflow(who.tenant_id, workflow_id))


@app.post("/workflows/<workflow_id>/rollback")
def rollback_workflow(workflow_id: str, request: RollbackRequest) -> ActivationResponse:
    who = caller()
    store = _versions()
    result = store.rollback(
        who.tenant_id,
        workflow_id,
        by=who.principal,
        to_version=request.to_version,
        reason=request.reason,
        expected_active_version=request.expected_active_version,
    )
    logger.info(
        "rolled back",
        extra={
            "workflow_id": workflow_id,
            "to": result.rolled_back_to_version,
            "from": result.previous_version,
        },
    )
    return ActivationResponse(result=result, workflow=store.get_workflow(who.tenant_id, workflow_id))


# --- executions ---------------------------------------------------------------------------------------------


@app.post("/executions", responses={201: {"description": "Started"}})
def start_execution(request: StartExecutionRequest) -> Response[StartExecutionResponse]:
    who = caller()
    pinned = _versions().resolve(who.tenant_id, request.workflow_id, request.version)
    name = request.name or execution_name(request.workflow_id)
    try:
        arn = _launcher().start(
            who.tenant_id,
            {"workflow_id": request.workflow_id, "version": pinned.version},
            request.input,
            name,
            started_by=who.principal,
        )
    except ExecutionAlreadyExists as error:
        raise Conflict("ExecutionAlreadyExists", str(error)) from error
    logger.info("started", extra={"execution_id": name, "workflow_id": request.workflow_id})
    response = StartExecutionResponse(
        execution_id=name, execution_arn=arn, workflow_id=request.workflow_id, version=pinned.version
    )
    return _json(201, response)


@app.post("/executions/<execution_id>/resume", responses={201: {"description": "Started"}})
def resume_execution(execution_id: str, request: ResumeExecutionRequest) -> Response[StartExecutionResponse]:
    """Continue an execution that failed, timed out or was aborted, in a new execution: completed nodes are
    reused, the failed ones (or ``from_node`` and all after it) run again."""
    tenant = caller().tenant_id
    record = _records().get_execution(tenant, execution_id)
    description = _launcher().describe(current_part(record, execution_id))
    if record is None or description is None:  # another tenant's execution is as unknown as a missing one
        raise NotFound(f"execution {execution_id!r} not found")
    try:
        check_resumable(execution_id, description["status"])
    except ResumeRefused as error:
        raise Conflict("NotResumable", str(error)) from error
    if request.from_node is not None:
        if record.workflow_version is not None:
            definition = _versions().resolve(tenant, record.workflow_id, record.workflow_version).definition
        else:
            definition = factory.manifests().read_submission(tenant, record.workflow_key)
        try:
            check_from_node(validate_workflow(definition), request.from_node)
        except ResumeRefused as error:
            raise BadRequest("UnknownNode", str(error)) from error
    name = request.name or resumed_execution_name(execution_id, uuid.uuid4().hex)
    try:
        arn = _launcher().start_request(resume_request(record, request.from_node), name)
    except ExecutionAlreadyExists as error:
        raise Conflict("ExecutionAlreadyExists", str(error)) from error
    logger.info("resumed", extra={"execution_id": name, "resumed_from": execution_id})
    response = StartExecutionResponse(
        execution_id=name,
        execution_arn=arn,
        workflow_id=record.workflow_id,
        version=record.workflow_version,
        resumed_from=execution_id,
    )
    return _json(201, response)


@app.post("/executions/<execution_id>/approvals/<node_id>")
def decide(execution_id: str, node_id: str, request: ApprovalDecisionRequest) -> ApprovalDecisionResponse:
    """Approve or reject a waiting approval node; the caller is recorded as the approver."""
    who = caller()
    if _records().get_execution(who.tenant_id, execution_id) is None:  # another tenant's is unknown too
        raise NotFound(f"execution {execution_id!r} not found")
    try:
        decided = decide_approval(
            factory.approvals(),
            factory.task_tokens(),
            who.tenant_id,
            execution_id,
            node_id,
            request.decision,
            who.principal,
            request.comment,
            time.time(),
        )
    except ApprovalNotPending as error:
        if error.record is None:
            raise NotFound(str(error)) from error
        raise Conflict("AlreadyDecided", str(error)) from error
    except ApproverNotAllowed as error:
        raise Forbidden(str(error)) from error
    logger.info("approval decided", extra={"execution_id": execution_id, "node_id": node_id})
    return ApprovalDecisionResponse(
        execution_id=execution_id,
        node_id=node_id,
        decision=request.decision,
        approver=who.principal,
        comment=decided.comment,
        decided_at=decided.decided_at or time.time(),
    )


def current_part(record: ExecutionRecord | None, execution_id: str) -> str:
    """The Step Functions execution running it now: a long execution continues under other names."""
    return (record.current_execution if record is not None else None) or execution_id


@app.get("/executions/<execution_id>")
def describe_execution(execution_id: str) -> ExecutionDescription:
    tenant = caller().tenant_id
    record = _records().get_execution(tenant, execution_id)
    description = _launcher().describe(current_part(record, execution_id))
    if record is None or description is None:  # another tenant's execution is as unknown as a missing one
        raise NotFound(f"execution {execution_id!r} not found")
    nodes = [
        NodeState(
            node_id=node.node_id,
            type=node.type,
            label=node.label,
            status=node.status,
            duration_ms=node.duration_ms,
            error_type=node.error_type,
            error_message=node.error_message,
        )
        for node in _records().list_nodes(tenant, execution_id)
    ]
    output = json.loads(record.output_json) if record.output_json else None
    stopped = description.get("stopDate")
    return ExecutionDescription(
        execution_id=execution_id,
        execution_arn=description["executionArn"],
        workflow_id=record.workflow_id,
        version=record.workflow_version,
        status=description["status"],
        started_at=record.started_at,
        stopped_at=stopped.isoformat() if stopped is not None else None,
        node_count=record.node_count,
        nodes=nodes,
        output=output,
        output_ref=record.output_key,
        error=record.error or description.get("error"),
        cause=record.cause or description.get("cause"),
    )


# --- the API's own description ------------------------------------------------------------------------------


def openapi_document() -> dict[str, Any]:
    return cast(
        dict[str, Any], json.loads(app.get_openapi_json_schema(title=OPENAPI_TITLE, version=OPENAPI_VERSION))
    )


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
