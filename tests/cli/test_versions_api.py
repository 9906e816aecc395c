"""Workflow versions through ``segflow local up``: the management HTTP API behind the local gateway, and the
CLI commands built on it (publish, versions, diff, rollback, run by id, status of a pinned execution)."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from segflow import declaration

from tests.cli.conftest import LocalEndpoint, run_segflow

pytestmark = pytest.mark.e2e

API_PREFIX = "/_segflow/api"
ROLLBACK_MAX_SECONDS = 5.0


# --- helpers -----------------------------------------------------------------------------------------------


def api(
    endpoint: LocalEndpoint,
    method: str,
    path: str,
    body: Any = None,
    tenant: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """(status, JSON body) of one request to the local management API."""
    data = json.dumps(body).encode() if body is not None else None
    sent = {"Content-Type": "application/json", **(headers or {})}
    if tenant is not None:
        sent["X-Segflow-Tenant"] = tenant
    request = urllib.request.Request(
        f"{endpoint.url}{API_PREFIX}{path}", data=data, method=method, headers=sent
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def transform_workflow(workflow_id: str, marker: Any, name: str = "") -> dict[str, Any]:
    node = {
        "node_id": "hello",
        "type": "transform",
        "config": {"output": {"marker": marker, "who": "{{ input.who }}"}},
    }
    return {"workflow_id": workflow_id, "name": name or workflow_id, "nodes": [node], "edges": []}


def publish(
    endpoint: LocalEndpoint, definition: dict[str, Any], tenant: str | None = None, **extra: Any
) -> Any:
    status, body = api(endpoint, "POST", "/workflows", {"definition": definition, **extra}, tenant)
    assert status == 201, body
    return body


def versions_of(endpoint: LocalEndpoint, workflow_id: str, tenant: str | None = None) -> dict[str, Any]:
    status, body = api(endpoint, "GET", f"/workflows/{workflow_id}/versions", tenant=tenant)
    assert status == 200, body
    return body


def write(path: Path, document: Any) -> str:
    path.write_text(json.dumps(document))
    return str(path)


# --- publish, rollback, run through the CLI ----------------------------------------------------------------


def test_rollback_then_run_uses_the_restored_version(local_endpoint: LocalEndpoint, tmp_path: Path) -> None:
    url = local_endpoint.url
    workflow_id = "cli-rollback"
    first = write(tmp_path / "v1.json", transform_workflow(workflow_id, "one", "Greeter"))
    second = transform_workflow(workflow_id, "two", "Greeter v2")
    second["nodes"].append({"node_id": "bye", "type": "transform", "config": {"output": "bye"}})
    second["edges"].append({"source": "hello", "target": "bye"})
    second_path = write(tmp_path / "v2.json", second)

    published = run_segflow("publish", first, "-m", "first cut", "--endpoint", url)
    assert (published.returncode, published.stdout.strip()) == (
        0,
        f"published {workflow_id} version 1 (active)",
    )
    published = run_segflow("publish", second_path, "-m", "second cut", SEGFLOW_ENDPOINT=url)  # from the env
    assert published.stdout.strip() == f"published {workflow_id} version 2 (active)", published.stderr

    diff = run_segflow("diff", workflow_id, "1", "2", "--endpoint", url)
    assert diff.returncode == 0, diff.stderr
    assert diff.stdout.splitlines() == [
        f"diff {workflow_id} v1 → v2",
        "nodes added:",
        "  + bye",
        "nodes changed:",
        "  ~ hello: config.output.marker",
        "edges added:",
        "  + hello → bye",
        "metadata changed:",
        "  ~ name",
    ]

    started = time.monotonic()
    rollback = run_segflow("rollback", workflow_id, "--to", "1", "--reason", "v2 says bye", "--endpoint", url)
    rollback_seconds = time.monotonic() - started
    assert rollback.returncode == 0, rollback.stderr
    assert rollback.stdout.strip() == f"rolled back {workflow_id} from v2 to v1"
    print(f"rollback command wall time: {rollback_seconds:.2f} s")
    assert rollback_seconds < ROLLBACK_MAX_SECONDS

    # The next run starts the restored version, pinned.
    quiet = run_segflow("run", workflow_id, "--input", '{"who": "ada"}', "--json", "--endpoint", url)
    assert quiet.returncode == 0, quiet.stderr
    result = json.loads(quiet.stdout)
    assert result["status"] == "SUCCEEDED"
    assert result["version"] == 1
    assert result["output"] == {"hello": {"marker": "one", "who": "ada"}}

    live = run_segflow("run", workflow_id, "--input", '{"who": "bo"}', "--endpoint", url)
    assert live.returncode == 0, live.stderr
    lines = live.stdout.splitlines()
    assert lines[0] == f"run {workflow_id} version 1 on {url}"
    assert any(line.startswith("  ✓ hello (transform) — succeeded") for line in lines)
    summary = next(line for line in lines if line.startswith("SUCCEEDED in "))
    assert summary.endswith("1/1 done")
    assert json.loads("\n".join(lines[lines.index(summary) + 1 :])) == {
        "hello": {"marker": "one", "who": "bo"}
    }

    pinned_v2 = run_segflow("run", workflow_id, "--version", "2", "--json", "--endpoint", url)
    assert json.loads(pinned_v2.stdout)["version"] == 2
    assert json.loads(pinned_v2.stdout)["output"] == {"bye": "bye"}

    # status reads the pinned version's definition for its node table.
    status = run_segflow("status", result["execution_arn"], "--endpoint", url)
    assert status.returncode == 0, status.stderr
    assert f"workflow   {workflow_id} (version 1)" in status.stdout.splitlines()
    row = next(line for line in status.stdout.splitlines() if line.startswith("hello "))
    assert "✓ succeeded" in row
    document = json.loads(run_segflow("status", result["execution_arn"], "--json", "--endpoint", url).stdout)
    assert (document["workflow_id"], document["version"]) == (workflow_id, 1)
    assert [node["node_id"] for node in document["nodes"]] == ["hello"]

    versions = run_segflow("versions", workflow_id, "--endpoint", url)
    assert versions.returncode == 0, versions.stderr
    lines = versions.stdout.splitlines()
    assert lines[0] == f"workflow {workflow_id} (Greeter v2): active v1, latest v2"
    row_1 = next(line for line in lines if line.startswith("1 "))
    assert "active" in row_1 and "first cut" in row_1 and "local-user" in row_1
    history = lines[lines.index("HISTORY") + 2 :]
    assert [line.split()[:2] for line in history] == [["1", "publish"], ["2", "publish"], ["3", "rollback"]]
    assert "v2 → v1" in history[2] and history[2].endswith("v2 says bye")

    as_json = json.loads(run_segflow("versions", workflow_id, "--json", "--endpoint", url).stdout)
    assert as_json["history"][-1] | {"at": None} == {
        "seq": 3,
        "kind": "rollback",
        "from_version": 2,
        "to_version": 1,
        "reason": "v2 says bye",
        "by": "local-user",
        "at": None,
    }
    listed = run_segflow("workflows", "--endpoint", url)
    assert any(line.split()[:1] == [workflow_id] and " v1 " in line for line in listed.stdout.splitlines())


def test_rollback_errors_exit_1_with_the_api_message(local_endpoint: LocalEndpoint) -> None:
    url = local_endpoint.url
    publish(local_endpoint, transform_workflow("cli-rollback-errors", 1))
    publish(local_endpoint, transform_workflow("cli-rollback-errors", 2))
    unknown = run_segflow("rollback", "cli-no-such-workflow", "--endpoint", url)
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == "error: workflow 'cli-no-such-workflow' not found"
    missing = run_segflow("rollback", "cli-rollback-errors", "--to", "9", "--endpoint", url)
    assert missing.returncode == 1
    assert missing.stderr.strip() == "error: version 9 of workflow 'cli-rollback-errors' not found"
    conflict = run_segflow("rollback", "cli-rollback-errors", "--expect-active", "1", "--endpoint", url)
    assert conflict.returncode == 1
    assert "expected active version 1, but the active version is 2; nothing was changed" in conflict.stderr
    assert versions_of(local_endpoint, "cli-rollback-errors")["workflow"]["active_version"] == 2


# --- concurrency -------------------------------------------------------------------------------------------


def test_concurrent_publishes_and_rollbacks(local_endpoint: LocalEndpoint) -> None:
    workflow_id = "cli-race"
    count = 50
    ready = threading.Barrier(count)

    def publish_one(index: int) -> tuple[int, Any]:
        ready.wait()
        body = {"definition": transform_workflow(workflow_id, index), "message": f"m{index}"}
        return api(local_endpoint, "POST", "/workflows", body)

    with ThreadPoolExecutor(max_workers=count) as pool:
        answers = list(pool.map(publish_one, range(count)))
    assert [status for status, _ in answers] == [201] * count, [body for _, body in answers]
    assert sorted(body["version"]["version"] for _, body in answers) == list(range(1, count + 1))

    listing = versions_of(local_endpoint, workflow_id)
    assert [version["version"] for version in listing["versions"]] == list(range(1, count + 1))
    assert listing["workflow"]["latest_version"] == count
    # Each version holds the definition it was published with (its message names the same index).
    for version in listing["versions"]:
        status, stored = api(local_endpoint, "GET", f"/workflows/{workflow_id}/versions/{version['version']}")
        assert status == 200
        assert f"m{stored['definition']['nodes'][0]['config']['output']['marker']}" == version["message"]
    active = listing["workflow"]["active_version"]
    assert active in range(1, count + 1)

    rollers = 20
    go = threading.Barrier(rollers)

    def roll_back(index: int) -> tuple[int, Any]:
        go.wait()
        body = {"to_version": index + 1, "reason": f"r{index}", "expected_active_version": active}
        return api(local_endpoint, "POST", f"/workflows/{workflow_id}/rollback", body)

    with ThreadPoolExecutor(max_workers=rollers) as pool:
        outcomes = list(pool.map(roll_back, [i for i in range(rollers + 1) if i + 1 != active][:rollers]))
    winners = [body for status, body in outcomes if status == 200]
    losers = [body for status, body in outcomes if status != 200]
    assert len(winners) == 1, outcomes
    assert {(status, body["code"]) for status, body in outcomes if status != 200} == {
        (409, "ActiveVersionConflict")
    }
    assert len(losers) == rollers - 1

    after = versions_of(local_endpoint, workflow_id)
    target = winners[0]["result"]["rolled_back_to_version"]
    assert after["workflow"]["active_version"] == target
    assert [entry["seq"] for entry in after["history"]] == list(range(1, count + 2))
    assert [entry["kind"] for entry in after["history"]] == ["publish"] * count + ["rollback"]
    last = after["history"][-1]
    assert (last["from_version"], last["to_version"]) == (active, target)
    # Every publish entry moved the pointer from where the previous entry left it.
    for before, entry in zip(after["history"], after["history"][1:], strict=False):
        assert entry["from_version"] == before["to_version"]


def test_concurrent_requests_keep_their_own_tenant(local_endpoint: LocalEndpoint) -> None:
    """Each request is answered for the tenant that sent it, however many arrive at once."""
    count = 40
    start = threading.Barrier(count)

    def publish_as(index: int) -> tuple[str, int, Any]:
        tenant = f"mix-{index % 4}"
        start.wait()
        body = {"definition": transform_workflow(f"cli-mix-{tenant}", index), "message": tenant}
        status, answer = api(local_endpoint, "POST", "/workflows", body, tenant=tenant)
        return tenant, status, answer

    with ThreadPoolExecutor(max_workers=count) as pool:
        answers = list(pool.map(publish_as, range(count)))
    for tenant, status, answer in answers:
        assert status == 201, answer
        assert answer["workflow"]["tenant_id"] == tenant
        assert (answer["version"]["workflow_id"], answer["version"]["message"]) == (
            f"cli-mix-{tenant}",
            tenant,
        )
    for tenant in {tenant for tenant, _, _ in answers}:
        status, listed = api(local_endpoint, "GET", "/workflows", tenant=tenant)
        assert [workflow["workflow_id"] for workflow in listed["workflows"]] == [f"cli-mix-{tenant}"]
        assert [
            v["version"] for v in versions_of(local_endpoint, f"cli-mix-{tenant}", tenant)["versions"]
        ] == list(range(1, count // 4 + 1))


# --- tenants -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def private_execution(local_endpoint: LocalEndpoint) -> dict[str, Any]:
    """A workflow of the default tenant, published and started through the API."""
    publish(local_endpoint, transform_workflow("cli-private", "mine"))
    status, started = api(local_endpoint, "POST", "/executions", {"workflow_id": "cli-private", "input": {}})
    assert status == 201, started
    return started


def test_another_tenant_sees_nothing(
    local_endpoint: LocalEndpoint, private_execution: dict[str, Any]
) -> None:
    owner_before = versions_of(local_endpoint, "cli-private")
    status, listed = api(local_endpoint, "GET", "/workflows", tenant="other")
    assert status == 200
    assert "cli-private" not in {workflow["workflow_id"] for workflow in listed["workflows"]}
    execution_id = private_execution["execution_id"]
    refused = [
        ("GET", "/workflows/cli-private", None),
        ("GET", "/workflows/cli-private/versions", None),
        ("GET", "/workflows/cli-private/versions/1", None),
        ("GET", "/workflows/cli-private/diff?from=1", None),
        ("POST", "/workflows/cli-private/rollback", {"to_version": 1}),
        ("POST", "/workflows/cli-private/activate", {"version": 1}),
        ("POST", "/executions", {"workflow_id": "cli-private", "input": {}}),
        ("GET", f"/executions/{execution_id}", None),
    ]
    for method, path, body in refused:
        status, answer = api(local_endpoint, method, path, body, tenant="other")
        assert status == 404, (method, path, answer)
        assert answer["code"] in ("WorkflowNotFound", "NotFound"), answer
    assert versions_of(local_endpoint, "cli-private") == owner_before

    status, described = api(local_endpoint, "GET", f"/executions/{execution_id}")
    assert status == 200
    assert (described["workflow_id"], described["version"]) == ("cli-private", 1)

    cli = run_segflow("workflows", "--tenant", "other", "--json", "--endpoint", local_endpoint.url)
    assert "cli-private" not in {workflow["workflow_id"] for workflow in json.loads(cli.stdout)["workflows"]}
    run = run_segflow("run", "cli-private", "--tenant", "other", "--endpoint", local_endpoint.url)
    assert run.returncode == 1
    assert "error: workflow 'cli-private' not found" in run.stderr.splitlines()
    status_cli = run_segflow(
        "status", private_execution["execution_arn"], "--tenant", "other", "--endpoint", local_endpoint.url
    )
    assert status_cli.returncode == 2


# --- refusals ----------------------------------------------------------------------------------------------


def test_malformed_definitions_are_refused_and_write_nothing(
    local_endpoint: LocalEndpoint, tmp_path: Path
) -> None:
    publish(local_endpoint, transform_workflow("cli-strict", "ok"), message="good")
    before = versions_of(local_endpoint, "cli-strict")

    dangling = transform_workflow("cli-strict", "x")
    dangling["edges"] = [{"source": "hello", "target": "ghost"}]
    bad_config = transform_workflow("cli-strict", "x")
    bad_config["nodes"][0]["config"] = {"outputt": 1}
    bad_type = transform_workflow("cli-strict", "x")
    bad_type["nodes"][0]["type"] = "teleport"
    cases = [
        (dangling, {"location": "edge 'hello' -> 'ghost'", "message": "target 'ghost' is not a node"}),
        (bad_config, {"location": "node 'hello'", "message": "config.output: is required"}),
        (bad_type, {"location": "node 'hello'", "message": "unknown type 'teleport'"}),
    ]
    for definition, expected in cases:
        status, answer = api(local_endpoint, "POST", "/workflows", {"definition": definition})
        assert (status, answer["code"]) == (400, "InvalidWorkflow"), answer
        assert any(
            detail["location"] == expected["location"] and detail["message"].startswith(expected["message"])
            for detail in answer["details"]
        ), answer
        assert expected["location"] in answer["message"]
    status, answer = api(
        local_endpoint, "POST", "/workflows", {"definition": {"workflow_id": "cli-empty", "nodes": []}}
    )
    assert status == 400 and answer["code"] == "InvalidWorkflow"
    status, answer = api(local_endpoint, "POST", "/workflows", {"workflow": dangling})
    assert status == 422 and answer["code"] == "InvalidRequest"
    assert {detail["location"] for detail in answer["details"]} == {"body.definition", "body.workflow"}

    assert versions_of(local_endpoint, "cli-strict") == before
    status, _ = api(local_endpoint, "GET", "/workflows/cli-empty")
    assert status == 404

    # Unknown workflows and versions: 404 with the message; nothing changes.
    for method, path, body, code in [
        ("GET", "/workflows/cli-unknown/versions", None, "WorkflowNotFound"),
        ("GET", "/workflows/cli-strict/versions/7", None, "VersionNotFound"),
        ("GET", "/workflows/cli-strict/diff?from=1&to=7", None, "VersionNotFound"),
        ("POST", "/workflows/cli-strict/rollback", {"to_version": 7}, "VersionNotFound"),
        ("POST", "/workflows/cli-strict/activate", {"version": 7}, "VersionNotFound"),
        ("POST", "/executions", {"workflow_id": "cli-strict", "version": 7}, "VersionNotFound"),
        ("POST", "/executions", {"workflow_id": "cli-unknown"}, "WorkflowNotFound"),
    ]:
        status, answer = api(local_endpoint, method, path, body)
        assert (status, answer["code"]) == (404, code), (path, answer)
        assert "not found" in answer["message"]
    status, answer = api(local_endpoint, "GET", "/workflows/cli-strict/versions/seven")
    assert status == 422 and answer["code"] == "InvalidRequest"
    assert versions_of(local_endpoint, "cli-strict") == before

    # The CLI shows the API's details, one line per problem, and exits 2.
    cli = run_segflow(
        "publish", write(tmp_path / "dangling.json", dangling), "--endpoint", local_endpoint.url
    )
    assert cli.returncode == 2
    assert cli.stderr.splitlines() == ["error: edge 'hello' -> 'ghost': target 'ghost' is not a node"]
    assert versions_of(local_endpoint, "cli-strict") == before


# --- the gateway -------------------------------------------------------------------------------------------


def test_openapi_document_lists_the_declared_routes(local_endpoint: LocalEndpoint) -> None:
    status, document = api(local_endpoint, "GET", "/openapi.json")
    assert status == 200
    served = {
        (method.upper(), path) for path, operations in document["paths"].items() for method in operations
    }
    declared = {
        (route.method, route.path)
        for route in declaration.MANAGEMENT_HTTP_API.routes
        if route.path not in ("/openapi.json", "/console")  # the document itself, and a page, not an API
    }
    assert served == declared


def test_unmatched_routes_are_404_and_bad_tenants_403(local_endpoint: LocalEndpoint) -> None:
    not_found = {"message": "Not Found"}
    for method, path in [
        ("GET", ""),
        ("GET", "/"),
        ("GET", "/nope"),
        ("DELETE", "/workflows"),
        ("PUT", "/workflows/cli-strict"),
        ("POST", "/workflows/cli-strict"),
        ("GET", "/workflows/cli-strict/versions/1/extra"),
        ("GET", "/workflows//versions"),
        ("GET", "/workflows/"),
    ]:
        body = {} if method in ("POST", "PUT") else None
        assert api(local_endpoint, method, path, body) == (404, not_found), (method, path)
    assert api(local_endpoint, "GET", "/nope", tenant="Not_Valid") == (404, not_found)  # routing comes first

    forbidden = {"message": "Forbidden"}
    for tenant in ("Upper", "under_score", "-leading", "x" * 64):
        assert api(local_endpoint, "GET", "/workflows", tenant=tenant) == (403, forbidden), tenant
    principal = {"X-Segflow-Principal": "\x01"}
    assert api(local_endpoint, "GET", "/workflows", headers=principal) == (403, forbidden)

    status, published = api(
        local_endpoint,
        "POST",
        "/workflows",
        {"definition": transform_workflow("cli-who", 1)},
        tenant="acme",
        headers={"X-Segflow-Principal": "ada@example.com"},
    )
    assert status == 201
    assert (published["workflow"]["tenant_id"], published["version"]["created_by"]) == (
        "acme",
        "ada@example.com",
    )
