"""``segflow resume``, ``segflow checkpoints`` and ``POST /executions/{id}/resume`` on a local endpoint."""

from __future__ import annotations

import json
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from segflow.domain.ids import execution_id_of

from tests.cli.conftest import LocalEndpoint, run_segflow
from tests.cli.test_versions_api import api
from tests.support.http_server import LocalHttpServer, start_http_server

pytestmark = pytest.mark.e2e


@pytest.fixture()
def server() -> Iterator[LocalHttpServer]:
    server = start_http_server()
    yield server
    server.server.shutdown()


def flaky_workflow(server: LocalHttpServer, tmp_path: Path, workflow_id: str) -> Path:
    server.route("POST", "/notify", body={"notified": True})
    server.route("POST", "/charge", status=500, body={"error": "down"})
    no_retry = {"max_attempts": 1}
    nodes: list[dict[str, Any]] = [
        {"node_id": "load", "type": "transform", "config": {"output": {"amount": "{{ input.amount }}"}}},
        {"node_id": "notify", "type": "action", "action_type": "api_call", "retry": no_retry,
         "config": {"url": server.url + "/notify", "body": {"amount": "{{ nodes.load.amount }}"}}},
        {"node_id": "charge", "type": "action", "action_type": "api_call", "retry": no_retry,
         "config": {"url": server.url + "/charge", "body": {"amount": "{{ nodes.load.amount }}"}}},
        {"node_id": "report", "type": "transform", "config": {"output": {"paid": "{{ nodes.charge.body }}"}}},
    ]  # fmt: skip
    chain = ["load", "notify", "charge", "report"]
    edges = [{"source": a, "target": b} for a, b in pairwise(chain)]
    path = tmp_path / f"{workflow_id}.json"
    path.write_text(json.dumps({"workflow_id": workflow_id, "nodes": nodes, "edges": edges}))
    return path


def failed_run(endpoint: LocalEndpoint, path: Path) -> str:
    result = run_segflow("run", str(path), "--input", '{"amount": 42}', "--endpoint", endpoint.url, "--json")
    outcome = json.loads(result.stdout)
    assert (result.returncode, outcome["status"]) == (1, "FAILED"), result.stderr
    return str(outcome["execution_arn"])


def test_resume_completes_a_failed_execution_and_checkpoints_show_what_it_reused(
    local_endpoint: LocalEndpoint, server: LocalHttpServer, tmp_path: Path
) -> None:
    # Given an execution that failed at 'charge'
    failed_arn = failed_run(local_endpoint, flaky_workflow(server, tmp_path, "cli-resume"))
    before = run_segflow("checkpoints", failed_arn, "--endpoint", local_endpoint.url, "--json")
    assert [(c["node_id"], c["status"]) for c in json.loads(before.stdout)["checkpoints"]] == [
        ("load", "succeeded"),
        ("notify", "succeeded"),
        ("charge", "failed"),
    ]

    # When the API is fixed and the execution is resumed
    server.route("POST", "/charge", body={"charged": 42})
    result = run_segflow("resume", failed_arn, "--endpoint", local_endpoint.url)

    # Then the new execution succeeds, live progress shown, and only charge and report ran again
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("resume cli-resume-") and "(FAILED) after its last completed node" in lines[0]
    new_arn = lines[1].removeprefix("execution ")
    assert any(line.startswith("SUCCEEDED in ") for line in lines)
    assert len(server.requests_to("/notify")) == 1 and len(server.requests_to("/charge")) == 2
    after = json.loads(run_segflow("checkpoints", new_arn, "--endpoint", local_endpoint.url, "--json").stdout)
    reused = {c["node_id"]: c["reused_from"] for c in after["checkpoints"]}
    old_id = execution_id_of(failed_arn)
    assert reused == {"load": old_id, "notify": old_id, "charge": None, "report": None}
    table = run_segflow("checkpoints", new_arn, "--endpoint", local_endpoint.url).stdout
    assert f"(reused from {old_id})" in table

    # and a succeeded execution does not resume
    refused = run_segflow("resume", new_arn, "--endpoint", local_endpoint.url)
    assert refused.returncode == 2 and "SUCCEEDED" in refused.stderr
    # nor does a failure resume twice: the second resume is refused, naming the first
    twice = run_segflow("resume", failed_arn, "--endpoint", local_endpoint.url)
    assert twice.returncode == 2, twice.stderr
    assert "resumed already" in twice.stderr and execution_id_of(new_arn) in twice.stderr
    assert len(server.requests_to("/charge")) == 2


def test_the_management_api_resumes_from_a_node(
    local_endpoint: LocalEndpoint, server: LocalHttpServer, tmp_path: Path
) -> None:
    failed_arn = failed_run(local_endpoint, flaky_workflow(server, tmp_path, "api-resume"))
    failed_id = execution_id_of(failed_arn)
    server.route("POST", "/charge", body={"charged": 42})

    status, body = api(local_endpoint, "POST", f"/executions/{failed_id}/resume", {"from_node": "nope"})
    assert status == 400 and "'nope'" in body["message"]
    status, body = api(local_endpoint, "POST", f"/executions/{failed_id}/resume", {}, tenant="someone-else")
    assert status == 404

    status, body = api(local_endpoint, "POST", f"/executions/{failed_id}/resume", {"from_node": "notify"})
    assert status == 201, body
    assert body["resumed_from"] == failed_id and body["workflow_id"] == "api-resume"
    status, again = api(local_endpoint, "POST", f"/executions/{failed_id}/resume", {"from_node": "notify"})
    assert (status, again["code"]) == (409, "AlreadyResumed") and body["execution_id"] in again["message"]
    watched = run_segflow("status", body["execution_arn"], "--endpoint", local_endpoint.url, "--json")
    deadline_runs = 0
    while json.loads(watched.stdout)["status"] == "RUNNING" and deadline_runs < 60:
        deadline_runs += 1
        watched = run_segflow("status", body["execution_arn"], "--endpoint", local_endpoint.url, "--json")
    assert json.loads(watched.stdout)["status"] == "SUCCEEDED"
    assert len(server.requests_to("/notify")) == 2  # replayed from notify, as asked
