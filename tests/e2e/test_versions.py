"""Published versions through the real state machine: executions pin their version; the rollback node."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from segflow.adapters import factory
from segflow.adapters.execution_launcher import ExecutionLauncher, execution_name
from segflow.adapters.workflow_versions import WorkflowVersionStore
from segflow.domain.ids import execution_id_of

from segflow_cli.client import SegflowClient
from tests.conftest import EXAMPLES_DIR, load_example
from tests.support.http_server import LocalHttpServer
from tests.support.stores import stores_of

pytestmark = pytest.mark.e2e

TENANT = "versions-e2e"


@pytest.fixture()
def store(embedded: Any) -> WorkflowVersionStore:
    with embedded.running_as("ManagementApi"):
        return factory.workflow_versions()


@pytest.fixture()
def launcher(embedded: Any) -> ExecutionLauncher:
    with embedded.running_as("ManagementApi"):
        return factory.execution_launcher()


def start(
    launcher: ExecutionLauncher, workflow_id: str, version: int | None, execution_input: dict[str, Any]
) -> str:
    ref: dict[str, Any] = {"workflow_id": workflow_id}
    if version is not None:
        ref["version"] = version
    return launcher.start(TENANT, ref, execution_input, execution_name(TENANT, workflow_id))


def release(workflow_id: str, label: str, wait_seconds: float = 0) -> dict[str, Any]:
    nodes: list[dict[str, Any]] = [
        {
            "node_id": "build",
            "type": "transform",
            "config": {"output": {"label": label, "version": "{{ workflow.version }}"}},
        }
    ]
    edges: list[dict[str, Any]] = []
    if wait_seconds:
        nodes.insert(0, {"node_id": "bake", "type": "wait", "config": {"seconds": wait_seconds}})
        edges.append({"source": "bake", "target": "build"})
    return {"workflow_id": workflow_id, "name": f"release {label}", "nodes": nodes, "edges": edges}


def final_output(client: SegflowClient, arn: str) -> Any:
    return client.output(arn)["output"]


@pytest.fixture()
def tenant_client(embedded: Any, client: SegflowClient) -> SegflowClient:
    return SegflowClient(embedded.session, client.resources, tenant_id=TENANT)


def test_an_execution_keeps_its_version_when_another_is_activated(
    tenant_client: SegflowClient, store: WorkflowVersionStore, launcher: ExecutionLauncher
) -> None:
    wf = f"pinned-{uuid.uuid4().hex[:6]}"
    store.publish(TENANT, release(wf, "one"), "ada")
    store.publish(TENANT, release(wf, "two", wait_seconds=2), "ada")
    pinned = store.resolve(TENANT, wf).version  # what POST /executions does: resolve, then start pinned
    arn = start(launcher, wf, pinned, {})
    client = tenant_client
    deadline = time.monotonic() + 30
    while client.execution_record(arn) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    store.rollback(TENANT, wf, by="oncall", to_version=1, reason="v2 misbehaves")
    assert client.describe(arn)["status"] == "RUNNING"

    description = client.wait(arn, timeout_seconds=120)
    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert final_output(client, arn) == {"build": {"label": "two", "version": 2}}
    started = stores_of(client).sfn.describe_execution(executionArn=arn)
    assert json.loads(started["input"])["workflow"] == {"workflow_id": wf, "version": 2}
    record = client.execution_record(arn)
    assert record is not None and record.workflow_version == 2

    after = start(launcher, wf, None, {})  # no version asked: the active one, now v1
    assert client.wait(after, timeout_seconds=60)["status"] == "SUCCEEDED"
    assert final_output(client, after) == {"build": {"label": "one", "version": 1}}


def test_an_unknown_version_fails_the_start_and_writes_nothing(
    tenant_client: SegflowClient, store: WorkflowVersionStore, launcher: ExecutionLauncher
) -> None:
    client = tenant_client
    wf = f"missing-{uuid.uuid4().hex[:6]}"
    store.publish(TENANT, release(wf, "one"), "ada")
    arn = start(launcher, wf, 9, {})
    description = client.wait(arn, timeout_seconds=60)
    assert description["status"] == "FAILED"
    assert description["error"] == "VersionNotFound"
    assert "version 9" in description["cause"]
    assert client.execution_record(arn) is None


def canary_input(server: LocalHttpServer, errors: int) -> dict[str, Any]:
    data = json.loads((EXAMPLES_DIR / "canary_rollback.input.json").read_text())
    data["api_url"] = f"{server.url}/_segflow/echo"
    data["canary"]["errors"] = errors
    return data


@pytest.fixture()
def metrics_api(fresh_http_server: LocalHttpServer) -> LocalHttpServer:
    fresh_http_server.route("POST", "/_segflow/echo/metrics")
    return fresh_http_server


def publish_canary_versions(store: WorkflowVersionStore) -> str:
    """v1 is the stable release, v2 the one under canary; both are the example with their own names."""
    example = load_example("canary_rollback")
    workflow_id = f"{example['workflow_id']}-{uuid.uuid4().hex[:6]}"
    store.publish(TENANT, {**example, "workflow_id": workflow_id, "name": "stable"}, "ada", "stable")
    store.publish(TENANT, {**example, "workflow_id": workflow_id, "name": "canary"}, "ada", "canary")
    return workflow_id


def test_the_canary_example_rolls_itself_back_when_its_canary_fails(
    tenant_client: SegflowClient,
    store: WorkflowVersionStore,
    launcher: ExecutionLauncher,
    metrics_api: LocalHttpServer,
) -> None:
    client = tenant_client
    wf = publish_canary_versions(store)
    arn = start(launcher, wf, 2, canary_input(metrics_api, errors=12))
    description = client.wait(arn, timeout_seconds=60)
    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert final_output(client, arn)["rollback_on_error"] == {
        "success": True,
        "changed": True,
        "workflow_id": wf,
        "rolled_back_to_version": 1,
        "previous_version": 2,
    }
    states = {v.node_id: v.status for v in client.node_views(arn, load_example("canary_rollback"))}
    assert states["promote"] == "skipped"
    summary = store.get_workflow(TENANT, wf)
    assert summary.active_version == 1
    entry = store.history(TENANT, wf)[-1]
    assert (entry.kind, entry.from_version, entry.to_version) == ("rollback", 2, 1)
    assert entry.reason == "canary of v2 had 12 errors (budget 5)"
    assert entry.by.startswith(f"execution:{execution_id_of(arn)}/node:rollback_on_error")


def test_a_healthy_canary_is_promoted_and_nothing_is_rolled_back(
    tenant_client: SegflowClient,
    store: WorkflowVersionStore,
    launcher: ExecutionLauncher,
    metrics_api: LocalHttpServer,
) -> None:
    client = tenant_client
    wf = publish_canary_versions(store)
    arn = start(launcher, wf, None, canary_input(metrics_api, errors=1))
    assert client.wait(arn, timeout_seconds=60)["status"] == "SUCCEEDED"
    assert final_output(client, arn) == {"promote": {"promoted": True, "version": 2}}
    assert store.get_workflow(TENANT, wf).active_version == 2


def test_a_rollback_node_to_an_unknown_version_fails_with_a_named_error(
    tenant_client: SegflowClient, store: WorkflowVersionStore, launcher: ExecutionLauncher
) -> None:
    client = tenant_client
    wf = f"undo-{uuid.uuid4().hex[:6]}"
    undo = {
        "workflow_id": wf,
        "nodes": [
            {
                "node_id": "undo",
                "type": "rollback",
                "target_type": "workflow",
                "config": {"workflow_id": "{{current_workflow_id}}", "version": "{{ input.to }}"},
            }
        ],
        "edges": [],
    }
    store.publish(TENANT, undo, "ada")
    arn = start(launcher, wf, None, {"to": 7})
    description = client.wait(arn, timeout_seconds=60)
    assert description["status"] == "FAILED"
    record = client.node_records(arn)["undo"]
    assert record.status == "failed"
    assert record.error_type == "VersionNotFound"
    assert "version 7" in (record.error_message or "")
    assert store.get_workflow(TENANT, wf).active_version == 1
