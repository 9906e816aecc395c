"""The executions service: start, resume, stop, describe, list, events, checkpoints and approvals of a
tenant's executions, in one place for the management API handler and the CLI.

Every method takes the tenant and sees only that tenant's executions: another tenant's execution is as
unknown as a missing one (:class:`ExecutionNotFound`). An execution is named by its id or by the ARN of its
first Step Functions execution (``<tenant>.<id>``: an ARN of another tenant's names nothing here). Build the
service from a Lambda function's environment (:meth:`ExecutionsService.from_environment`) or from a boto3
session and the stack's resource names (:meth:`ExecutionsService.from_session`, for the CLI).

- ``start`` (a published workflow) and ``start_definition`` (a workflow document, validated then uploaded);
- ``resume``: an execution that ended without success, in a new execution reusing its completed nodes;
- ``stop``: StopExecution of the part running it now (its record turns ABORTED through the status rule);
- ``describe``: Step Functions' status of its latest part, with its record and node records;
- ``list_executions``: the tenant's executions, newest first, by workflow and status, a page at a time;
- ``events`` (the execution log after a sequence number), ``checkpoints`` (node outcomes with where their
  outputs are), ``execution_record``, ``node_records``, ``output``, ``workflow_of``,
  ``published_definition``, ``wait``, ``tenant_of`` (operators only);
- ``events_page`` and ``node``: the reads the management API serves, which answer ExecutionNotFound for
  another tenant's execution exactly as for a missing one;
- ``decide``: an approver's decision on a waiting approval node.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, cast

from pydantic import BaseModel, ConfigDict

from segflow.contracts import DEFAULT_TENANT
from segflow.domain.errors import SegflowError
from segflow.domain.ids import check_execution_id, execution_id_of, tenant_in_reference
from segflow.domain.limits import (
    EVENT_PAGE_SIZE,
    EXECUTION_LIST_PAGE_DEFAULT,
    EXECUTION_LIST_PAGE_MAX,
    LAUNCH_PENDING_MAX_SECONDS,
    RESUME_CLAIM_STALE_SECONDS,
)
from segflow.domain.records import ExecutionRecord, NodeRecord
from segflow.domain.statuses import (
    REUSABLE_NODE_STATUSES,
    TERMINAL_EXECUTION_STATUSES,
    DescribedExecutionStatus,
    ExecutionStatus,
)
from segflow.dsl.json_values import check_execution_input

if TYPE_CHECKING:
    from segflow.adapters.approvals import ApprovalStore
    from segflow.adapters.event_log import EventLogReader
    from segflow.adapters.execution_launcher import ExecutionLauncher
    from segflow.adapters.execution_records import ExecutionRecordStore
    from segflow.adapters.manifests import ManifestStore
    from segflow.adapters.outputs import NodeOutputStore
    from segflow.adapters.task_tokens import TaskTokens
    from segflow.adapters.workflow_versions import WorkflowVersionStore
    from segflow.domain.approvals import ApprovalRecord, Decision
    from segflow.events.models import ExecutionEvent

# Following the parts of a continued execution stops after this many (a guard against a broken chain).
MAX_FOLLOWED_PARTS = 10_000
# Stopping: a part started by a continuation while the previous one was stopped is stopped too, this often.
_STOP_ROUNDS = 6
_STOP_ROUND_SECONDS = 0.1


# --- errors -------------------------------------------------------------------------------------------------


class ExecutionNotFound(SegflowError):
    """No execution of that id for this tenant (another tenant's is as unknown as a missing one)."""

    code = "NotFound"
    kind = "not_found"

    def __init__(self, execution_id: str) -> None:
        super().__init__(f"execution {execution_id!r} not found")
        self.execution_id = execution_id


class ExecutionNotRunning(SegflowError):
    """Only a running execution can be stopped, or have its approvals decided."""

    code = "NotRunning"
    kind = "conflict"


class NodeNotFound(SegflowError):
    """The execution has no record of that node (not reached yet, or not one of its nodes)."""

    code = "NodeNotFound"
    kind = "not_found"


class InvalidPageToken(SegflowError):
    """The page token is not one this service gave this tenant."""

    kind = "invalid"


class InvalidPageSize(SegflowError):
    kind = "invalid"


class NotDeployed(SegflowError):
    """The stack (or this function) has no such resource: deployed before it, or not granted it."""

    kind = "unavailable"


# --- results ------------------------------------------------------------------------------------------------


class StackNames(Protocol):
    """Where a stack's pieces are (the CLI's ``Resources`` is one): what :meth:`from_session` needs."""

    @property
    def state_machine_arn(self) -> str: ...
    @property
    def bucket(self) -> str: ...
    @property
    def executions_table(self) -> str: ...
    @property
    def workflows_table(self) -> str | None: ...
    @property
    def events_table(self) -> str | None: ...


@dataclass(frozen=True)
class StartedExecution:
    execution_id: str
    execution_arn: str
    workflow_id: str
    version: int | None  # None: a workflow document, not a published version
    resumed_from: str | None = None


@dataclass(frozen=True)
class ExecutionView:
    """An execution as it is now: Step Functions' status of its latest part, and what segflow recorded.

    ``record`` is None until InitializeStateBag ran (or if it failed before); ``nodes`` are the node records
    (nodes not reached have none)."""

    execution_id: str
    tenant_id: str
    status: DescribedExecutionStatus
    execution_arn: str  # the Step Functions execution running it now (its latest part)
    parts: tuple[str, ...]  # every Step Functions execution it ran under, first to latest
    record: ExecutionRecord | None
    nodes: tuple[NodeRecord, ...]
    workflow_id: str | None
    version: int | None
    workflow_key: str | None  # a workflow document's submission key (None for a published version)
    started_at: datetime | None
    stopped_at: datetime | None
    error: str | None = None
    cause: str | None = None
    result: Any = None  # the latest part's output once it ended (FinalizeExecution's result)

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL_EXECUTION_STATUSES

    @property
    def first_arn(self) -> str:
        return self.parts[0]


class ExecutionSummary(BaseModel):
    """One execution in a list."""

    model_config = ConfigDict(defer_build=True)

    execution_id: str
    workflow_id: str
    version: int | None = None
    status: ExecutionStatus
    started_at: str
    finished_at: str | None = None
    started_by: str | None = None
    resumed_from: str | None = None
    error: str | None = None


class ExecutionPage(BaseModel):
    """A page of a tenant's executions, newest first; ``next_token`` asks for the next (None: the last)."""

    model_config = ConfigDict(defer_build=True)

    executions: list[ExecutionSummary]
    next_token: str | None = None


@dataclass(frozen=True)
class Checkpoint:
    """A node outcome the execution recorded, where its output is, and whether a resume reuses it."""

    sequence: int
    node_id: str
    status: str
    attempt: int
    finished_at: float | None
    output_ref: str | None  # the S3 key of a large output (None: inline in the record, or none)
    output_bytes: int | None
    reused_from: str | None
    resumable: bool
    # The same outcome in the checkpoint shape of seed document 1 (one per node reached, in order):
    # ``state`` holds the nodes completed so far, this node as ``current_node``, its outcome as ``context``,
    # and where each completed node's output is (read one with GET /executions/{id}/nodes/{node_id}).
    checkpoint_id: str = ""
    instance_id: str = ""
    timestamp: str | None = None
    state: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EventPage:
    """Events of an execution's log after a number, in order; ``next_after`` is where the next page starts
    (None: this page reached the end of what is stored now)."""

    events: list[ExecutionEvent]
    next_after: int | None


@dataclass
class _Parts:
    names: list[str] = field(default_factory=list)
    description: dict[str, Any] | None = None
    pending_part: bool = False  # a continuation recorded a part that has not started yet


def continued_as_of(description: dict[str, Any]) -> str | None:
    """The next part's ARN if this Step Functions execution ended by continuing (output says CONTINUED)."""
    try:
        output = json.loads(description.get("output") or "null")
    except ValueError:
        return None
    if isinstance(output, dict) and output.get("status") == "CONTINUED":
        return str(output["continued_as"])
    return None


def _json_object(text: str | None) -> dict[str, Any]:
    """A JSON object out of a Step Functions input or output; empty when it is not one."""
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _request_of(description: dict[str, Any]) -> dict[str, Any]:
    """The StartExecution input (segflow's ExecutionRequest); empty when it is not one."""
    return _json_object(description.get("input"))


def _tenant_of_request(description: dict[str, Any]) -> str:
    """The tenant a Step Functions execution was started for (its input says; the default if it does not)."""
    return str(_request_of(description).get("tenant_id") or DEFAULT_TENANT)


def _own_execution_id(tenant_id: str, execution: str) -> str | None:
    """The id of the tenant's execution ``execution`` (an id or an ARN); None for an ARN of another
    tenant's execution (its name carries that tenant)."""
    named = tenant_in_reference(execution)
    return execution_id_of(execution) if named is None or named == tenant_id else None


def _execution_id(tenant_id: str, execution: str) -> str:
    """:func:`_own_execution_id`; another tenant's execution is as unknown as a missing one."""
    execution_id = _own_execution_id(tenant_id, execution)
    if execution_id is None:
        raise ExecutionNotFound(execution_id_of(execution))
    return execution_id


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _encode_token(tenant_id: str, position: dict[str, Any]) -> str:
    raw = json.dumps({"t": tenant_id, "k": position}, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(tenant_id: str, token: str) -> dict[str, Any]:
    refused = InvalidPageToken("the page token is not one this API gave")
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, binascii.Error):
        raise refused from None
    if not isinstance(data, dict) or data.get("t") != tenant_id or not isinstance(data.get("k"), dict):
        raise refused
    position = cast(dict[str, Any], data["k"])
    if position.get("gsi1pk") != f"TENANT#{tenant_id}":
        raise refused
    return position


class ExecutionsService:
    """Executions of one stack, per tenant (see the module's docstring for the methods)."""

    def __init__(
        self,
        records: ExecutionRecordStore,
        launcher: ExecutionLauncher,
        manifests: ManifestStore,
        outputs: NodeOutputStore,
        versions: WorkflowVersionStore | None = None,
        events: EventLogReader | None = None,
        approvals: ApprovalStore | None = None,
        task_tokens: TaskTokens | None = None,
    ) -> None:
        self.records = records
        self.launcher = launcher
        self.manifests = manifests
        self.outputs = outputs
        self.versions = versions
        self.event_log = events
        self.approvals = approvals
        self.task_tokens = task_tokens

    @classmethod
    def from_environment(cls) -> ExecutionsService:
        """Built from a function's environment (the resources the declaration grants it)."""
        import os

        from segflow.adapters import factory
        from segflow.declaration import EVENTS_TABLE, WORKFLOWS_TABLE

        return cls(
            records=factory.execution_records(),
            launcher=factory.execution_launcher(),
            manifests=factory.manifests(),
            outputs=factory.node_outputs(),
            versions=factory.workflow_versions() if WORKFLOWS_TABLE.env_var in os.environ else None,
            events=factory.event_log_reader() if EVENTS_TABLE.env_var in os.environ else None,
            approvals=factory.approvals(),
            task_tokens=factory.task_tokens(),
        )

    @classmethod
    def from_session(cls, session: Any, names: StackNames) -> ExecutionsService:
        """Built from a boto3 session (anything with ``.client(service)``) and the stack's resource names."""
        from segflow.adapters.approvals import ApprovalStore
        from segflow.adapters.event_log import EventLogReader
        from segflow.adapters.execution_launcher import ExecutionLauncher
        from segflow.adapters.execution_records import ExecutionRecordStore
        from segflow.adapters.manifests import ManifestStore
        from segflow.adapters.outputs import NodeOutputStore
        from segflow.adapters.task_tokens import TaskTokens
        from segflow.adapters.workflow_versions import WorkflowVersionStore

        dynamodb, s3, sfn = session.client("dynamodb"), session.client("s3"), session.client("stepfunctions")
        return cls(
            records=ExecutionRecordStore(names.executions_table, dynamodb),
            launcher=ExecutionLauncher(names.state_machine_arn, sfn, names.bucket, s3),
            manifests=ManifestStore(names.bucket, s3),
            outputs=NodeOutputStore(names.bucket, s3),
            versions=(
                WorkflowVersionStore(names.workflows_table, dynamodb, names.bucket, s3)
                if names.workflows_table
                else None
            ),
            events=EventLogReader(names.events_table, dynamodb) if names.events_table else None,
            approvals=ApprovalStore(names.executions_table, dynamodb),
            task_tokens=TaskTokens(sfn),
        )

    # --- starting -----------------------------------------------------------------------------------------

    def start(
        self,
        tenant_id: str,
        workflow_id: str,
        version: int | None = None,
        execution_input: dict[str, Any] | None = None,
        name: str | None = None,
        started_by: str | None = None,
        idempotency_key: str | None = None,
    ) -> StartedExecution:
        """Start a published workflow: ``version``, or the one active now (pinned for the whole execution).
        With ``idempotency_key``, a request with the same key and body answers with the execution the first
        one started (starting it if that one died before it could); the key with another body raises
        RequestKeyReused. Raises WorkflowNotFound, VersionNotFound, NoActiveVersion,
        ExecutionAlreadyExists."""
        from segflow.adapters.execution_launcher import execution_name

        if name is not None:
            check_execution_id(tenant_id, name)
        if execution_input is not None:
            check_execution_input(execution_input)
        keyed = None
        if idempotency_key is not None:
            body = {"workflow_id": workflow_id, "version": version, "input": execution_input or {}}
            body["name"] = name
            keyed = self._versions().request_keys().request(tenant_id, "start", idempotency_key, body)
            first = keyed.stored()
            if first is not None:
                return self._launch(tenant_id, first, find=True)
        pinned = self._versions().resolve(tenant_id, workflow_id, version)
        name = name or execution_name(tenant_id, workflow_id)
        reference = {"workflow_id": workflow_id, "version": pinned.version}
        launch = {
            "name": name,
            "request": self.launcher.request(tenant_id, reference, execution_input or {}, started_by),
            "workflow_id": workflow_id,
            "version": pinned.version,
        }
        if keyed is not None:  # of concurrent requests with the key, the first to store its launch wins
            return self._launch(tenant_id, keyed.keep(launch), find=True)
        return self._launch(tenant_id, launch)

    def _launch(self, tenant_id: str, launch: dict[str, Any], find: bool = False) -> StartedExecution:
        """Start ``launch["request"]`` as ``launch["name"]`` (``find``: or find it started with that request
        already) and note it, so that it reads as started at once."""
        name, request = str(launch["name"]), launch["request"]
        if find:
            arn = self.launcher.start_or_find(request, name)
        else:
            arn = self.launcher.start_request(request, name)
        self.records.record_launch(tenant_id, name, request, time.time())
        return StartedExecution(name, arn, str(launch["workflow_id"]), launch.get("version"))

    def start_definition(
        self,
        tenant_id: str,
        definition: dict[str, Any],
        execution_input: dict[str, Any] | None = None,
        name: str | None = None,
        started_by: str | None = None,
    ) -> StartedExecution:
        """Start a workflow document: validated first (nothing is written if it is invalid or cannot run),
        uploaded under the tenant's submissions. Raises WorkflowValidationError, ExecutionAlreadyExists."""
        from segflow.adapters.execution_launcher import execution_name
        from segflow.dsl.validation import validate_executable

        if name is not None:
            check_execution_id(tenant_id, name)
        graph = validate_executable(definition)
        if execution_input is not None:
            check_execution_input(execution_input)
        key = self.launcher.upload_submission(tenant_id, "workflows", definition)
        name = name or execution_name(tenant_id, graph.workflow_id)
        request = self.launcher.request(tenant_id, {"s3_key": key}, execution_input or {}, started_by)
        return self._launch(
            tenant_id, {"name": name, "request": request, "workflow_id": graph.workflow_id, "version": None}
        )

    def resume(
        self, tenant_id: str, execution: str, from_node: str | None = None, name: str | None = None
    ) -> StartedExecution:
        """Continue an execution that failed, timed out or was aborted, in a new execution of the same
        workflow and input: completed nodes are reused, the rest (or ``from_node`` and all after it) run
        again. A failure resumes once: the resume is recorded on the execution by a conditional write, and
        a second one (concurrent or later) raises AlreadyResumed naming the first. Raises
        ExecutionNotFound, ResumeRefused (NotResumable), UnknownResumeNode, AlreadyResumed,
        ExecutionAlreadyExists."""
        from segflow.dsl.validation import validate_workflow
        from segflow.engine.resume import (
            AlreadyResumed,
            ResumeRefused,
            check_from_node,
            check_resumable,
            resume_request,
            resumed_execution_name,
        )

        if name is not None:
            check_execution_id(tenant_id, name)
        view = self.describe(tenant_id, execution, with_nodes=False)
        check_resumable(view.execution_id, view.status)
        record = view.record
        if record is None:
            raise ResumeRefused(
                f"execution {view.execution_id!r} failed before it was initialized: run it again instead"
            )
        if from_node is not None:
            check_from_node(validate_workflow(self._definition_of(record)), from_node)
        name = name or resumed_execution_name(tenant_id, view.execution_id, uuid.uuid4().hex)
        now = time.time()
        held = self.records.claim_resume(tenant_id, view.execution_id, name, now)
        if held is not None and not held[0]:  # a claim withdrawn meanwhile (its start failed): claim again
            held = self.records.claim_resume(tenant_id, view.execution_id, name, now)
        if held is not None:
            holder, claimed_at = held
            if not holder or not self._never_started(tenant_id, holder, claimed_at, now):
                raise AlreadyResumed(view.execution_id, holder)
            # The resume that claimed it died before starting its execution: this one takes over.
            held = self.records.take_over_resume(tenant_id, view.execution_id, holder, name, now)
            if held is not None:
                raise AlreadyResumed(view.execution_id, held[0])
        launch = {
            "name": name,
            "request": resume_request(record, from_node),
            "workflow_id": record.workflow_id,
            "version": record.workflow_version,
        }
        try:
            started = self._launch(tenant_id, launch)
        except Exception:
            self.records.release_resume(tenant_id, view.execution_id, name)
            raise
        return StartedExecution(
            started.execution_id,
            started.execution_arn,
            started.workflow_id,
            started.version,
            resumed_from=view.execution_id,
        )

    def _never_started(self, tenant_id: str, execution_id: str, claimed_at: float, now: float) -> bool:
        """Whether a resume claimed long enough ago never started its execution (``execution_id``)."""
        return (
            now - claimed_at > RESUME_CLAIM_STALE_SECONDS
            and self.records.get_launch(tenant_id, execution_id) is None
            and self.records.get_execution(tenant_id, execution_id) is None
            and self.launcher.describe(tenant_id, execution_id) is None
        )

    def stop(
        self, tenant_id: str, execution: str, error: str | None = None, cause: str | None = None
    ) -> ExecutionView:
        """Stop a running execution (the part running it now; a part a continuation started meanwhile too).
        Its record turns ABORTED and its log gets the terminal event through the execution status rule.
        Returns the execution as it is after the stop. Raises ExecutionNotFound, ExecutionNotRunning."""
        view = self.describe(tenant_id, execution, with_nodes=False)
        if view.status != "RUNNING":
            raise ExecutionNotRunning(
                f"execution {view.execution_id!r} is {view.status}: only a RUNNING execution stops"
            )
        for round_number in range(_STOP_ROUNDS):
            self.launcher.stop(tenant_id, execution_id_of(view.execution_arn), error, cause)
            view = self.describe(tenant_id, execution, with_nodes=False)
            if view.status != "RUNNING":
                break
            # A continuation may have started the next part meanwhile (or the interpreter not yet seen it).
            time.sleep(_STOP_ROUND_SECONDS * (round_number + 1))
        return view

    # --- reading ------------------------------------------------------------------------------------------

    def describe(self, tenant_id: str, execution: str, with_nodes: bool = True) -> ExecutionView:
        """The execution now: Step Functions' status of its latest part (a continued execution's parts are
        followed), its record, its node records. Raises ExecutionNotFound."""
        execution_id = _execution_id(tenant_id, execution)
        record = self.records.get_execution(tenant_id, execution_id)
        names = [execution_id]
        if record is not None:
            from segflow.engine.continuation import part_name

            names += [part_name(tenant_id, execution_id, part) for part in range(1, record.parts + 1)]
        found = self._latest_part(tenant_id, names)
        description = found.description
        launched: tuple[dict[str, Any], float] | None = None
        workflow_id: str | None
        if record is not None:
            workflow_id, version = record.workflow_id, record.workflow_version
            workflow_key = record.workflow_key or None
        else:
            # Not initialized yet (or it failed first): it is this tenant's if its input says so. Step
            # Functions may not show an execution started a moment ago: its launch note says it started.
            launched = self.records.get_launch(tenant_id, execution_id) if description is None else None
            if launched is not None and time.time() - launched[1] > LAUNCH_PENDING_MAX_SECONDS:
                launched = None
            if description is not None and _tenant_of_request(description) == tenant_id:
                request = _request_of(description)
            elif launched is not None:
                request = launched[0]
            else:
                raise ExecutionNotFound(execution_id)
            reference = request.get("workflow")
            reference = reference if isinstance(reference, dict) else {}
            workflow_id, version = reference.get("workflow_id"), reference.get("version")
            workflow_key = reference.get("s3_key")
        status: DescribedExecutionStatus
        if description is None and record is None:  # started a moment ago, not shown by Step Functions yet
            arn = self.launcher.execution_arn(tenant_id, execution_id)
            status, stopped_at, error, cause, result = "RUNNING", None, None, None, None
        elif description is None:  # Step Functions forgot it (90 days); the record stays for the retention
            assert record is not None
            arn = self.launcher.execution_arn(tenant_id, execution_id)
            status, stopped_at = record.status, None
            error, cause, result = record.error, record.cause, None
        else:
            status = "RUNNING" if found.pending_part else description["status"]
            arn = str(description["executionArn"])
            stopped = description.get("stopDate") if status != "RUNNING" else None
            stopped_at = stopped if isinstance(stopped, datetime) else None
            error = (record.error if record is not None else None) or description.get("error")
            cause = (record.cause if record is not None else None) or description.get("cause")
            result = _json_object(description["output"]) if "output" in description else None
        started_at = _parse_time(record.started_at) if record is not None else None
        if started_at is None and description is not None and len(found.names) == 1:
            started_at = description.get("startDate")
        if started_at is None and launched is not None:
            started_at = datetime.fromtimestamp(launched[1], UTC)
        nodes = (
            tuple(self.records.list_nodes(tenant_id, execution_id))
            if with_nodes and record is not None
            else ()
        )
        return ExecutionView(
            execution_id=execution_id,
            tenant_id=tenant_id,
            status=status,
            execution_arn=arn,
            parts=tuple(
                self.launcher.execution_arn(tenant_id, name) for name in found.names or [execution_id]
            ),
            record=record,
            nodes=nodes,
            workflow_id=workflow_id,
            version=version,
            workflow_key=workflow_key,
            started_at=started_at,
            stopped_at=stopped_at,
            error=error,
            cause=cause,
            result=result,
        )

    def _latest_part(self, tenant_id: str, names: list[str]) -> _Parts:
        """The latest part that exists (a recorded part may not have started yet), then any parts it
        continued as that the record does not name yet."""
        found = _Parts()
        for index in range(len(names) - 1, -1, -1):
            description = self.launcher.describe(tenant_id, names[index])
            if description is not None:
                found.names, found.description = names[: index + 1], description
                found.pending_part = index < len(names) - 1
                break
        while found.description is not None and len(found.names) <= MAX_FOLLOWED_PARTS:
            continued_as = continued_as_of(found.description)
            if found.description["status"] != "SUCCEEDED" or continued_as is None:
                break
            following = self.launcher.describe(tenant_id, execution_id_of(continued_as))
            if following is None:  # started in a moment
                found.pending_part = True
                break
            found.names.append(execution_id_of(continued_as))
            found.description = following
        return found

    def list_executions(
        self,
        tenant_id: str,
        workflow_id: str | None = None,
        status: ExecutionStatus | None = None,
        limit: int = EXECUTION_LIST_PAGE_DEFAULT,
        page_token: str | None = None,
    ) -> ExecutionPage:
        """The tenant's executions, newest first (of ``workflow_id``, in ``status``, if given), ``limit`` at
        most; ``page_token`` is a page's ``next_token``. Statuses are the records': an execution that has
        not initialized yet is not listed. Raises InvalidPageToken, InvalidPageSize."""
        if not 1 <= limit <= EXECUTION_LIST_PAGE_MAX:
            raise InvalidPageSize(f"limit must be 1 to {EXECUTION_LIST_PAGE_MAX}, not {limit}")
        after = _decode_token(tenant_id, page_token) if page_token else None
        records, position = self.records.list_executions(
            tenant_id, limit, after=after, workflow_id=workflow_id, status=status
        )
        summaries = [
            ExecutionSummary(
                execution_id=record.execution_id,
                workflow_id=record.workflow_id,
                version=record.workflow_version,
                status=record.status,
                started_at=record.started_at,
                finished_at=record.finished_at,
                started_by=record.started_by,
                resumed_from=record.resumed_from,
                error=record.error,
            )
            for record in records
        ]
        token = _encode_token(tenant_id, position) if position is not None else None
        return ExecutionPage(executions=summaries, next_token=token)

    def events(self, tenant_id: str, execution: str, since_seq: int = 0) -> list[ExecutionEvent]:
        """The execution log (every state change, in order) after ``since_seq``; another tenant's execution
        has none. Raises NotDeployed without an events table."""
        if self.event_log is None:
            raise NotDeployed("this deployment has no execution log (deployed before live events)")
        execution_id = _own_execution_id(tenant_id, execution)
        return [] if execution_id is None else self.event_log.read_all(tenant_id, execution_id, since_seq)

    def events_page(
        self, tenant_id: str, execution: str, after_seq: int = 0, limit: int = EVENT_PAGE_SIZE
    ) -> EventPage:
        """Up to ``limit`` numbers of the execution log after ``after_seq`` (a number that holds no event, a
        change never stored, is passed over). Raises ExecutionNotFound (another tenant's execution too),
        InvalidPageSize, NotDeployed without an events table."""
        from segflow.events.models import ExecutionEvent

        if not 1 <= limit <= EVENT_PAGE_SIZE:
            raise InvalidPageSize(f"limit must be 1 to {EVENT_PAGE_SIZE}, not {limit}")
        if self.event_log is None:
            raise NotDeployed("this deployment has no execution log (deployed before live events)")
        execution_id = self._known(tenant_id, execution)
        page = self.event_log.read(tenant_id, execution_id, after_seq, limit)
        events = [ExecutionEvent.model_validate_json(text) for _, text in page if text is not None]
        return EventPage(events, page[-1][0] if len(page) == limit else None)

    def node(self, tenant_id: str, execution: str, node_id: str) -> NodeRecord:
        """One node's record. Raises ExecutionNotFound (another tenant's execution too), NodeNotFound."""
        execution_id = self._known(tenant_id, execution)
        record = self.records.get_nodes(tenant_id, execution_id, [node_id]).get(node_id)
        if record is None:
            raise NodeNotFound(f"execution {execution_id!r} has no record of node {node_id!r}")
        return record

    def execution_record(self, tenant_id: str, execution: str) -> ExecutionRecord | None:
        """The execution's record (one read); None before it initialized, or for another tenant's."""
        execution_id = _own_execution_id(tenant_id, execution)
        return None if execution_id is None else self.records.get_execution(tenant_id, execution_id)

    def wait(
        self, tenant_id: str, execution: str, timeout_seconds: float = 600, poll_seconds: float = 0.2
    ) -> ExecutionView:
        """Describe the execution until it has ended. Raises TimeoutError, ExecutionNotFound."""
        deadline = time.monotonic() + timeout_seconds
        while True:
            view = self.describe(tenant_id, execution, with_nodes=False)
            if view.finished:
                return view
            if time.monotonic() > deadline:
                raise TimeoutError(f"{view.execution_id} still {view.status} after {timeout_seconds}s")
            time.sleep(poll_seconds)

    def node_records(self, tenant_id: str, execution: str) -> dict[str, NodeRecord]:
        """node_id -> its record; nodes not reached have none (nor has another tenant's execution)."""
        execution_id = _own_execution_id(tenant_id, execution)
        if execution_id is None:
            return {}
        return {r.node_id: r for r in self.records.list_nodes(tenant_id, execution_id)}

    def checkpoints(self, tenant_id: str, execution: str) -> list[Checkpoint]:
        """Every node outcome the execution recorded, in the order they were reached: what a resume reuses,
        with where each output is (its S3 key when large) and its size."""
        records = sorted(
            self.node_records(tenant_id, execution).values(),
            key=lambda r: (r.finished_at or r.started_at or float("inf"), r.stage, r.node_id),
        )
        execution_id = execution_id_of(execution)
        completed: list[str] = []
        outputs: dict[str, dict[str, Any]] = {}
        checkpoints = []
        for index, record in enumerate(records, start=1):
            resumable = record.status in REUSABLE_NODE_STATUSES
            if resumable:
                completed.append(record.node_id)
                outputs[record.node_id] = {
                    "output_ref": record.output_key,
                    "output_bytes": record.output_bytes,
                }
            at = record.finished_at or record.started_at
            checkpoints.append(
                Checkpoint(
                    sequence=index,
                    node_id=record.node_id,
                    status=record.status,
                    attempt=record.attempt,
                    finished_at=record.finished_at,
                    output_ref=record.output_key,
                    output_bytes=record.output_bytes,
                    reused_from=record.reused_from,
                    resumable=resumable,
                    checkpoint_id=f"{execution_id}:{index}",
                    instance_id=execution_id,
                    timestamp=datetime.fromtimestamp(at, UTC).isoformat() if at is not None else None,
                    state={
                        "completed_nodes": list(completed),
                        "current_node": record.node_id,
                        "context": {"status": record.status, "attempt": record.attempt},
                        "outputs": dict(outputs),
                    },
                )
            )
        return checkpoints

    def node_output_link(self, record: NodeRecord, expires_seconds: int) -> str | None:
        """A short-lived link to a node output kept in S3; None for one kept in the record."""
        return self.outputs.link(record.output_key, expires_seconds) if record.output_key else None

    def node_output(self, record: NodeRecord) -> Any:
        """A node record's output, loaded from the record or S3."""
        return self.outputs.load(record.output_json, record.output_key)

    def output(self, tenant_id: str, execution: str) -> Any:
        """The output of a succeeded execution (loaded from S3 when large); None otherwise."""
        record = self.execution_record(tenant_id, execution)
        if record is None or record.status != "SUCCEEDED":
            return None
        return self.outputs.load(record.output_json, record.output_key)

    def workflow_of(self, tenant_id: str, execution: str) -> dict[str, Any] | None:
        """The workflow the execution runs: its submitted document, or the published version it pinned;
        None before it initialized or if it cannot be read."""
        record = self.execution_record(tenant_id, execution)
        if record is None:
            return None
        try:
            return self._definition_of(record)
        except (SegflowError, LookupError, PermissionError):
            return None

    def published_definition(self, tenant_id: str, workflow_id: str, version: int) -> dict[str, Any] | None:
        """A published version's definition; None if there is no such version (or no workflows table)."""
        from segflow.versioning.errors import VersioningError

        if self.versions is None:
            return None
        try:
            return self.versions.get_version(tenant_id, workflow_id, version).definition
        except VersioningError:
            return None

    def tenant_of(self, execution: str) -> str | None:
        """The tenant an execution ARN was started for (its name carries it), if that tenant has such an
        execution; None otherwise (an id, or an ARN named before names carried the tenant). Not
        tenant-scoped, and never a proof of who may read it: for operators acting with the account's
        credentials (the CLI), who name an execution by its ARN and need its tenant to read its records."""
        tenant = tenant_in_reference(execution)
        if tenant is None or self.launcher.describe(tenant, execution_id_of(execution)) is None:
            return None
        return tenant

    # --- approvals ----------------------------------------------------------------------------------------

    def decide(
        self,
        tenant_id: str,
        execution: str,
        node_id: str,
        decision: Decision,
        approver: str,
        comment: str | None = None,
    ) -> ApprovalRecord:
        """Approve or reject a waiting approval node, once; ``approver`` is recorded. Raises
        ExecutionNotFound, ExecutionNotRunning (stopped, failed or finished: nothing waits any more),
        ApprovalNotRequested, ApprovalNotPending (decided already), ApproverNotAllowed."""
        from segflow.engine.approval_decisions import decide_approval

        if self.approvals is None or self.task_tokens is None:
            raise NotDeployed("this service was built without approvals")
        execution_id = _execution_id(tenant_id, execution)
        if self.records.get_execution(tenant_id, execution_id) is None:
            raise ExecutionNotFound(execution_id)
        view = self.describe(tenant_id, execution_id, with_nodes=False)
        asked = self.approvals.get(tenant_id, execution_id, node_id)
        if view.status != "RUNNING" and not (asked is not None and asked.decided):  # else: decided already
            raise ExecutionNotRunning(
                f"execution {execution_id!r} is {view.status}: node {node_id!r} can no longer be decided"
            )
        return decide_approval(
            self.approvals,
            self.task_tokens,
            tenant_id,
            execution_id,
            node_id,
            decision,
            approver,
            comment,
            time.time(),
        )

    # --- helpers ------------------------------------------------------------------------------------------

    def _known(self, tenant_id: str, execution: str) -> str:
        """The execution's id if it is this tenant's: recorded for it, or started for it and not initialized
        yet. Raises ExecutionNotFound otherwise (another tenant's execution exactly as a missing one)."""
        execution_id = _execution_id(tenant_id, execution)
        if self.records.get_execution(tenant_id, execution_id) is not None:
            return execution_id
        description = self.launcher.describe(tenant_id, execution_id)
        if description is None or _tenant_of_request(description) != tenant_id:
            raise ExecutionNotFound(execution_id)
        return execution_id

    def _versions(self) -> WorkflowVersionStore:
        if self.versions is None:
            raise NotDeployed("this deployment has no workflows table (deployed before workflow versions)")
        return self.versions

    def _definition_of(self, record: ExecutionRecord) -> dict[str, Any]:
        """The workflow document an execution runs (its published version, or its submission)."""
        if record.workflow_version is not None:
            return (
                self._versions()
                .get_version(record.tenant_id, record.workflow_id, record.workflow_version)
                .definition
            )
        document = self.manifests.read_submission(record.tenant_id, record.workflow_key)
        return cast(dict[str, Any], document)
