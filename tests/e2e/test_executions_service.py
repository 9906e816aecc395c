"""The executions service on the embedded AWS: stop and list, each tenant seeing only its own executions."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from segflow.engine.resume import ResumeRefused, UnknownResumeNode
from segflow.services.executions import (
    ExecutionNotFound,
    ExecutionNotRunning,
    ExecutionsService,
    ExecutionView,
    InvalidPageSize,
    InvalidPageToken,
)
from segflow.services.workflows import WorkflowsService
from segflow.versioning.errors import WorkflowNotFound

from segflow_cli.locate import Resources
from segflow_local.embedded import EmbeddedAws
from tests.support.waiting import wait_for
from tests.support.workflows import chain_edges, transform, wait, workflow

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def service(embedded: EmbeddedAws) -> ExecutionsService:
    return ExecutionsService.from_session(embedded.session, Resources.from_outputs(embedded.stack.outputs()))


@pytest.fixture(scope="module")
def workflows(embedded: EmbeddedAws) -> WorkflowsService:
    return WorkflowsService.from_session(embedded.session, Resources.from_outputs(embedded.stack.outputs()))


def tenant() -> str:
    return f"svc-{uuid.uuid4().hex[:8]}"


def slow(workflow_id: str) -> dict[str, Any]:
    return workflow(
        workflow_id, [transform("a", 1), wait("long", 60), transform("b", 2)], chain_edges(["a", "long", "b"])
    )


def ended(service: ExecutionsService, tenant_id: str, execution_id: str) -> ExecutionView:
    def finished() -> ExecutionView | None:
        view = service.describe(tenant_id, execution_id)
        return view if view.finished and view.record is not None and view.record.status != "RUNNING" else None

    return wait_for(finished, "the execution ended")


# --- stop ---------------------------------------------------------------------------------------------------


def test_stop_aborts_a_running_execution_of_the_tenant_only(service: ExecutionsService) -> None:
    owner, other = tenant(), tenant()
    started = service.start_definition(owner, slow("stoppable"), {"n": 1}, started_by="ada")
    wait_for(lambda: service.node_records(owner, started.execution_id).get("long"), "node long started")

    # Another tenant can neither see nor stop it.
    with pytest.raises(ExecutionNotFound):
        service.stop(other, started.execution_id)
    assert service.describe(owner, started.execution_id).status == "RUNNING"

    stopped = service.stop(owner, started.execution_arn, error="Operator.Stop", cause="changed my mind")
    assert stopped.status == "ABORTED" and stopped.stopped_at is not None

    # The status rule closes the record and writes one terminal event.
    view = ended(service, owner, started.execution_id)
    assert view.record is not None and view.record.status == "ABORTED"
    assert {node.node_id: node.status for node in view.nodes}["a"] == "succeeded"
    assert "b" not in {node.node_id for node in view.nodes}
    ends = [event for event in service.events(owner, started.execution_id) if event.ends_execution]
    assert [(event.previous_state, event.new_state) for event in ends] == [("running", "aborted")]

    with pytest.raises(ExecutionNotRunning, match="is ABORTED"):
        service.stop(owner, started.execution_id)
    with pytest.raises(ExecutionNotFound):
        service.stop(owner, "no-such-execution")


def test_stop_refuses_a_finished_execution(service: ExecutionsService) -> None:
    owner = tenant()
    started = service.start_definition(owner, workflow("quick-stop", [transform("only", {"v": 1})]))
    view = ended(service, owner, started.execution_id)
    assert view.status == "SUCCEEDED"
    with pytest.raises(ExecutionNotRunning, match="is SUCCEEDED"):
        service.stop(owner, started.execution_id)
    assert service.output(owner, started.execution_id) == {"only": {"v": 1}}


# --- list ---------------------------------------------------------------------------------------------------


def test_list_is_newest_first_by_workflow_and_status_a_page_at_a_time(service: ExecutionsService) -> None:
    owner, other = tenant(), tenant()
    started = []
    for workflow_id in ("alpha", "beta", "alpha"):
        run = service.start_definition(owner, workflow(workflow_id, [transform("only", workflow_id)]))
        ended(service, owner, run.execution_id)
        started.append(run.execution_id)
    stopped = service.start_definition(owner, slow("alpha"))
    wait_for(lambda: service.node_records(owner, stopped.execution_id).get("long"), "node long started")
    service.stop(owner, stopped.execution_id)
    ended(service, owner, stopped.execution_id)
    newest_first = [stopped.execution_id, *reversed(started)]

    everything = service.list_executions(owner)
    assert [e.execution_id for e in everything.executions] == newest_first
    assert everything.next_token is None
    assert [e.status for e in everything.executions] == ["ABORTED", "SUCCEEDED", "SUCCEEDED", "SUCCEEDED"]

    alpha = service.list_executions(owner, workflow_id="alpha")
    assert [e.execution_id for e in alpha.executions] == [stopped.execution_id, started[2], started[0]]
    succeeded_alpha = service.list_executions(owner, workflow_id="alpha", status="SUCCEEDED")
    assert [e.execution_id for e in succeeded_alpha.executions] == [started[2], started[0]]
    assert service.list_executions(owner, status="FAILED").executions == []

    # Pages of two: every execution once, in order, then no token.
    first = service.list_executions(owner, limit=2)
    assert [e.execution_id for e in first.executions] == newest_first[:2] and first.next_token
    second = service.list_executions(owner, limit=2, page_token=first.next_token)
    assert [e.execution_id for e in second.executions] == newest_first[2:]
    assert second.next_token is None
    # A filtered page ends where the filter's matches end.
    one = service.list_executions(owner, workflow_id="beta", limit=1)
    assert [e.execution_id for e in one.executions] == [started[1]]
    if one.next_token is not None:
        assert service.list_executions(owner, workflow_id="beta", page_token=one.next_token).executions == []

    # Another tenant sees none of them, and cannot use this tenant's token.
    assert service.list_executions(other).executions == []
    with pytest.raises(InvalidPageToken):
        service.list_executions(other, page_token=first.next_token)
    with pytest.raises(InvalidPageToken):
        service.list_executions(owner, page_token="not-a-token")
    with pytest.raises(InvalidPageSize):
        service.list_executions(owner, limit=0)


# --- start and resume of a published workflow ---------------------------------------------------------------


def test_a_published_workflow_starts_pinned_and_resumes_only_from_its_own_nodes(
    service: ExecutionsService, workflows: WorkflowsService
) -> None:
    owner = tenant()
    with pytest.raises(WorkflowNotFound):
        service.start(owner, "pinned")
    workflows.publish(owner, slow("pinned"), created_by="ada")
    started = service.start(owner, "pinned", execution_input={"n": 2}, started_by="ada")
    assert (started.workflow_id, started.version) == ("pinned", 1)
    wait_for(lambda: service.node_records(owner, started.execution_id).get("long"), "node long started")
    view = service.describe(owner, started.execution_id)
    assert (view.workflow_id, view.version, view.workflow_key) == ("pinned", 1, None)
    assert view.record is not None and view.record.started_by == "ada"
    assert (
        service.workflow_of(owner, started.execution_id) == workflows.version(owner, "pinned", 1).definition
    )

    with pytest.raises(ResumeRefused, match="is RUNNING"):
        service.resume(owner, started.execution_id)
    service.stop(owner, started.execution_id)
    with pytest.raises(UnknownResumeNode, match="'nope'"):
        service.resume(owner, started.execution_id, from_node="nope")
    resumed = service.resume(owner, started.execution_id, from_node="long")
    assert (resumed.resumed_from, resumed.version) == (started.execution_id, 1)
    wait_for(lambda: service.node_records(owner, resumed.execution_id).get("long"), "node long started")
    records = service.node_records(owner, resumed.execution_id)
    assert records["a"].reused_from == started.execution_id and records["long"].reused_from is None
    checkpoints = service.checkpoints(owner, resumed.execution_id)
    assert [(c.node_id, c.status, c.resumable, c.reused_from) for c in checkpoints] == [
        ("a", "succeeded", True, started.execution_id),
        ("long", "waiting", False, None),
    ]
    service.stop(owner, resumed.execution_id)
