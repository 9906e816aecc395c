"""The management API's execution routes through the local HTTP gateway: list, describe and stop, each caller
seeing only its tenant's executions, errors answered with their status and code."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any
from urllib.parse import urlencode

import pytest
from segflow.declaration import MANAGEMENT_HTTP_API

from segflow_local.embedded import EmbeddedAws
from segflow_local.http_api import HttpRequest, LocalHttpApi
from tests.support.waiting import wait_for
from tests.support.workflows import chain_edges, transform, wait, workflow

pytestmark = pytest.mark.e2e


class Api:
    def __init__(self, embedded: EmbeddedAws) -> None:
        self.gateway = LocalHttpApi(MANAGEMENT_HTTP_API, embedded.runtime.stage, embedded.runtime.invoke)

    def __call__(
        self, method: str, path: str, tenant: str, body: Any = None, query: dict[str, Any] | None = None
    ) -> tuple[int, Any]:
        response = self.gateway.handle(
            HttpRequest(
                method=method,
                raw_path=path,
                raw_query=urlencode(query or {}),
                headers={"content-type": "application/json", "x-segflow-tenant": tenant},
                body=json.dumps(body).encode() if body is not None else b"",
            )
        )
        return response.status, json.loads(response.body)

    def until(self, tenant: str, execution_id: str, done: Any, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, described = self("GET", f"/executions/{execution_id}", tenant)
            assert status == 200, described
            if done(described):
                return described
            time.sleep(0.1)
        raise AssertionError(f"{execution_id} never got there: {described}")


@pytest.fixture(scope="module")
def api(embedded: EmbeddedAws) -> Api:
    return Api(embedded)


def publish(api: Api, tenant: str, definition: dict[str, Any]) -> None:
    status, body = api("POST", "/workflows", tenant, {"definition": definition})
    assert status == 201, body


def test_list_describe_and_stop_through_the_api(api: Api) -> None:
    tenant, other = f"api-{uuid.uuid4().hex[:8]}", f"api-{uuid.uuid4().hex[:8]}"
    quick = workflow("quick", [transform("only", {"done": True})])
    slow = workflow(
        "slow", [transform("a", 1), wait("long", 60), transform("b", 2)], chain_edges(["a", "long", "b"])
    )
    publish(api, tenant, quick)
    publish(api, tenant, slow)

    status, first = api("POST", "/executions", tenant, {"workflow_id": "quick"})
    assert status == 201, first
    api.until(tenant, first["execution_id"], lambda d: d["status"] == "SUCCEEDED")
    status, running = api("POST", "/executions", tenant, {"workflow_id": "slow", "input": {"n": 1}})
    assert status == 201, running
    waiting = api.until(
        tenant, running["execution_id"], lambda d: any(n["node_id"] == "long" for n in d["nodes"])
    )
    assert (waiting["status"], waiting["workflow_id"], waiting["version"]) == ("RUNNING", "slow", 1)

    # Newest first; filtered by workflow and by status; a page at a time.
    status, listed = api("GET", "/executions", tenant)
    assert status == 200, listed
    assert [e["execution_id"] for e in listed["executions"]] == [
        running["execution_id"],
        first["execution_id"],
    ]
    assert listed["next_token"] is None
    status, quick_only = api("GET", "/executions", tenant, query={"workflow_id": "quick"})
    assert [e["execution_id"] for e in quick_only["executions"]] == [first["execution_id"]]
    status, running_only = api("GET", "/executions", tenant, query={"status": "RUNNING"})
    assert [e["execution_id"] for e in running_only["executions"]] == [running["execution_id"]]
    status, page = api("GET", "/executions", tenant, query={"limit": 1})
    assert status == 200 and len(page["executions"]) == 1 and page["next_token"]
    status, rest = api("GET", "/executions", tenant, query={"limit": 1, "next_token": page["next_token"]})
    assert [e["execution_id"] for e in rest["executions"]] == [first["execution_id"]]

    # Another tenant sees nothing, cannot stop it, cannot use the token.
    assert api("GET", "/executions", other) == (200, {"executions": [], "next_token": None})
    status, refused = api("POST", f"/executions/{running['execution_id']}/stop", other, {})
    assert (status, refused["code"]) == (404, "NotFound")
    assert refused["message"] == f"execution {running['execution_id']!r} not found"
    status, refused = api("GET", "/executions", other, query={"next_token": page["next_token"]})
    assert (status, refused["code"]) == (400, "InvalidPageToken")
    status, refused = api("GET", "/executions", tenant, query={"status": "SLEEPING"})
    assert (status, refused["code"]) == (422, "InvalidRequest")
    status, refused = api("GET", "/executions", tenant, query={"limit": 0})
    assert (status, refused["code"]) == (422, "InvalidRequest")

    # Stop: ABORTED at once, the record follows; a second stop is a conflict.
    status, stopped = api(
        "POST", f"/executions/{running['execution_id']}/stop", tenant, {"error": "Ops.Stop"}
    )
    assert status == 200, stopped
    assert stopped["status"] == "ABORTED" and stopped["stopped_at"]
    api.until(tenant, running["execution_id"], lambda d: d["status"] == "ABORTED")
    status, refused = api("POST", f"/executions/{running['execution_id']}/stop", tenant, {})
    assert (status, refused["code"]) == (409, "NotRunning")
    status, refused = api("POST", f"/executions/{first['execution_id']}/stop", tenant, {"extra": 1})
    assert (status, refused["code"]) == (422, "InvalidRequest")

    def recorded_aborted() -> bool:
        _, listed = api("GET", "/executions", tenant, query={"status": "ABORTED"})
        return [e["execution_id"] for e in listed["executions"]] == [running["execution_id"]]

    wait_for(recorded_aborted, "the stopped execution's record turned ABORTED", timeout=30)

    # A stopped execution resumes from its completed nodes.
    status, resumed = api("POST", f"/executions/{running['execution_id']}/resume", tenant, {})
    assert status == 201, resumed
    assert resumed["resumed_from"] == running["execution_id"]
    again = api.until(
        tenant, resumed["execution_id"], lambda d: any(n["node_id"] == "long" for n in d["nodes"])
    )
    assert {n["node_id"]: n["status"] for n in again["nodes"]}["a"] == "succeeded"  # reused, not run again
    status, stopped = api("POST", f"/executions/{resumed['execution_id']}/stop", tenant, {})
    assert (status, stopped["status"]) == (200, "ABORTED")
