"""The management API's idempotent writes (an ``Idempotency-Key`` on publishing and starting) and a started
execution readable at once, through the local HTTP gateway and the executions service."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from segflow.declaration import MANAGEMENT_HTTP_API
from segflow.services.executions import ExecutionNotFound, ExecutionsService
from segflow.services.workflows import WorkflowsService

from segflow_cli.locate import Resources
from segflow_local.embedded import EmbeddedAws
from segflow_local.http_api import HttpRequest, LocalHttpApi
from tests.support.waiting import wait_for
from tests.support.workflows import chain_edges, transform, wait, workflow

pytestmark = pytest.mark.e2e


class Api:
    def __init__(self, embedded: EmbeddedAws) -> None:
        self.gateway = LocalHttpApi(MANAGEMENT_HTTP_API, embedded.runtime.stage, embedded.runtime.invoke)

    def __call__(
        self, method: str, path: str, tenant: str, body: Any = None, key: str | None = None
    ) -> tuple[int, Any]:
        headers = {"content-type": "application/json", "x-segflow-tenant": tenant}
        if key is not None:
            headers["idempotency-key"] = key
        response = self.gateway.handle(
            HttpRequest(
                method=method,
                raw_path=path,
                raw_query="",
                headers=headers,
                body=json.dumps(body).encode() if body is not None else b"",
            )
        )
        return response.status, json.loads(response.body)


@pytest.fixture(scope="module")
def api(embedded: EmbeddedAws) -> Api:
    return Api(embedded)


def new_tenant() -> str:
    return f"idem-{uuid.uuid4().hex[:8]}"


def slow(workflow_id: str, marker: int = 1) -> dict[str, Any]:
    return workflow(
        workflow_id,
        [transform("a", marker), wait("long", 60), transform("b", 2)],
        chain_edges(["a", "long", "b"]),
    )


def versions(api: Api, tenant: str, workflow_id: str) -> list[int]:
    status, body = api("GET", f"/workflows/{workflow_id}/versions", tenant)
    assert status == 200, body
    return [v["version"] for v in body["versions"]]


def started_names(embedded: EmbeddedAws, tenant: str) -> list[str]:
    """Every Step Functions execution of the tenant (started, whether or not it initialized yet)."""
    machine = Resources.from_outputs(embedded.stack.outputs()).state_machine_arn
    pages = embedded.session.client("stepfunctions").get_paginator("list_executions")
    names = [e["name"] for page in pages.paginate(stateMachineArn=machine) for e in page["executions"]]
    return sorted(name.removeprefix(f"{tenant}.") for name in names if name.startswith(f"{tenant}."))


def test_a_retried_publish_with_its_key_publishes_once(api: Api) -> None:
    tenant = new_tenant()
    body = {"definition": slow("keyed"), "message": "first"}

    # A retry (the answer was lost, say) and a concurrent duplicate: one version, the same answer to each.
    first = api("POST", "/workflows", tenant, body, key="publish-1")
    assert first[0] == 201, first
    with ThreadPoolExecutor(max_workers=4) as pool:
        again = list(pool.map(lambda _: api("POST", "/workflows", tenant, body, key="publish-1"), range(4)))
    assert all(answer == (201, first[1]) or answer[1]["version"] == first[1]["version"] for answer in again)
    assert {answer[1]["version"]["version"] for answer in again} == {1}
    assert versions(api, tenant, "keyed") == [1]

    # The key with another body is refused, and changes nothing.
    other = {"definition": slow("keyed", marker=2), "message": "first"}
    status, refused = api("POST", "/workflows", tenant, other, key="publish-1")
    assert (status, refused["code"]) == (409, "RequestKeyReused")
    assert "publish-1" in refused["message"]
    assert versions(api, tenant, "keyed") == [1]

    # A new key publishes; without a key every request publishes; keys are the tenant's own.
    assert api("POST", "/workflows", tenant, other, key="publish-2")[1]["version"]["version"] == 2
    assert api("POST", "/workflows", tenant, other)[1]["version"]["version"] == 3
    elsewhere = new_tenant()
    status, answer = api("POST", "/workflows", elsewhere, other, key="publish-1")
    assert (status, answer["version"]["version"]) == (201, 1)
    assert versions(api, tenant, "keyed") == [1, 2, 3]


def test_concurrent_keyed_publishes_race_to_one_version(api: Api) -> None:
    tenant = new_tenant()
    body = {"definition": slow("raced")}
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(lambda _: api("POST", "/workflows", tenant, body, key="race"), range(6)))
    assert [status for status, _ in answers] == [201] * 6, answers
    assert {answer["version"]["version"] for _, answer in answers} == {1}
    assert versions(api, tenant, "raced") == [1]


def test_a_retried_start_with_its_key_starts_one_execution(api: Api, embedded: EmbeddedAws) -> None:
    tenant = new_tenant()
    assert api("POST", "/workflows", tenant, {"definition": slow("started")})[0] == 201
    body = {"workflow_id": "started", "input": {"order": 7}}

    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda _: api("POST", "/executions", tenant, body, key="start-1"), range(4)))
    assert [status for status, _ in answers] == [201] * 4, answers
    assert len({answer["execution_id"] for _, answer in answers}) == 1
    execution_id = answers[0][1]["execution_id"]
    assert api("POST", "/executions", tenant, body, key="start-1") == answers[0]

    status, refused = api("POST", "/executions", tenant, {**body, "input": {"order": 8}}, key="start-1")
    assert (status, refused["code"]) == (409, "RequestKeyReused")
    assert started_names(embedded, tenant) == [execution_id]

    status, other = api("POST", "/executions", tenant, body, key="start-2")
    assert status == 201 and other["execution_id"] != execution_id
    for started in (execution_id, other["execution_id"]):
        assert api("POST", f"/executions/{started}/stop", tenant, {})[0] == 200


def test_an_invalid_key_is_refused(api: Api) -> None:
    tenant = new_tenant()
    status, refused = api("POST", "/workflows", tenant, {"definition": slow("k")}, key="x" * 300)
    assert (status, refused["code"]) == (422, "InvalidRequest")


def test_the_openapi_document_describes_the_key(api: Api) -> None:
    status, document = api("GET", "/openapi.json", "default")
    assert status == 200
    for path in ("/workflows", "/executions"):
        parameters = document["paths"][path]["post"]["parameters"]
        (key,) = [p for p in parameters if p["name"].lower() == "idempotency-key"]
        assert key["in"] == "header" and "retry" in key["description"]


# --- a started execution is readable at once ------------------------------------------------------------


class _LaggingStepFunctions:
    """A Step Functions client whose executions show (DescribeExecution) only once ``reveal`` is called, as
    AWS documents DescribeExecution may not show a just-started execution (it is eventually consistent):
    StartExecution answers at once, the execution starts when revealed."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.pending: dict[str, dict[str, Any]] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def start_execution(self, **request: Any) -> Any:
        machine = request["stateMachineArn"].replace(":stateMachine:", ":execution:", 1)
        arn = f"{machine}:{request['name']}"
        self.pending[arn] = request
        return {"executionArn": arn, "startDate": None}

    def reveal(self) -> None:
        for request in self.pending.values():
            self._client.start_execution(**request)
        self.pending.clear()

    def describe_execution(self, executionArn: str) -> Any:
        if executionArn in self.pending:
            raise self._client.exceptions.ExecutionDoesNotExist(
                {"Error": {"Code": "ExecutionDoesNotExist", "Message": "not yet"}}, "DescribeExecution"
            )
        return self._client.describe_execution(executionArn=executionArn)


class _Session:
    def __init__(self, session: Any, sfn: _LaggingStepFunctions) -> None:
        self._session, self._sfn = session, sfn

    def client(self, service: str) -> Any:
        return self._sfn if service == "stepfunctions" else self._session.client(service)


def test_an_execution_reads_as_running_before_step_functions_shows_it(embedded: EmbeddedAws) -> None:
    sfn = _LaggingStepFunctions(embedded.session.client("stepfunctions"))
    resources = Resources.from_outputs(embedded.stack.outputs())
    service = ExecutionsService.from_session(_Session(embedded.session, sfn), resources)
    tenant = new_tenant()
    WorkflowsService.from_session(embedded.session, resources).publish(tenant, slow("lagging"), "me")

    started = service.start(tenant, "lagging")
    view = service.describe(tenant, started.execution_id, with_nodes=False)
    assert (view.status, view.workflow_id, view.version) == ("RUNNING", "lagging", 1)
    assert view.started_at is not None and view.execution_arn == started.execution_arn
    # another tenant still knows nothing of it
    with pytest.raises(ExecutionNotFound):
        service.describe(new_tenant(), started.execution_id)

    sfn.reveal()
    shown = wait_for(
        lambda: service.describe(tenant, started.execution_id, with_nodes=False).record,
        "the execution initialized",
    )
    assert shown.workflow_id == "lagging"
    assert service.stop(tenant, started.execution_id).status == "ABORTED"
