"""``segflow deployments``: the deployment log after runs of deploy/model on a local endpoint (the server's
SageMaker emulation, probe answers queued through moto's endpoint-results API)."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
from segflow.domain.ids import execution_id_of

from tests.cli.conftest import LocalEndpoint, run_segflow
from tests.support.sagemaker import register_versions, registry_source
from tests.support.workflows import deploy_model, workflow

pytestmark = pytest.mark.e2e


def queue_answers(endpoint: LocalEndpoint, *answers: object) -> None:
    body = {"results": [{"Body": json.dumps(a), "ContentType": "application/json"} for a in answers]}
    request = urllib.request.Request(
        f"{endpoint.url}/moto-api/static/sagemaker/endpoint-results",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201


def run_deploy(endpoint: LocalEndpoint, tmp_path: Path, version: int, **config: object) -> dict:
    node = deploy_model(
        "ship", "scorer", version, "staging", source=registry_source("scorer", version), **config
    )
    path = tmp_path / f"ship-{version}.json"
    path.write_text(json.dumps(workflow(f"ship-scorer-{version}", [node], [])))
    run = run_segflow("run", str(path), "--endpoint", endpoint.url, "--json")
    return json.loads(run.stdout)


def test_deployments_lists_each_deployment_with_its_transitions(
    local_endpoint: LocalEndpoint, tmp_path: Path
) -> None:
    register_versions(local_endpoint.client("sagemaker"), "scorer", 2)
    assert run_deploy(local_endpoint, tmp_path, 1)["status"] == "SUCCEEDED"
    queue_answers(local_endpoint, {"label": "wrong"})
    probe = {"body": {"x": 1}, "expected": {"label": "spam"}}
    failed = run_deploy(
        local_endpoint, tmp_path, 2, strategy="canary", canary={"size_percent": 25}, health_probe=probe
    )
    assert failed["status"] == "FAILED"

    listed = run_segflow("deployments", "--model", "scorer", "--endpoint", local_endpoint.url, "--json")
    assert listed.returncode == 0, listed.stderr
    newest, first = json.loads(listed.stdout)
    assert (newest["version"], newest["status"], newest["previous_version"]) == ("2", "rolled_back", "1")
    assert (first["version"], first["status"]) == ("1", "succeeded")
    assert newest["started_by"] and newest["execution_id"] == execution_id_of(failed["execution_arn"])

    text = run_segflow("deployments", "--verbose", "--endpoint", local_endpoint.url)
    lines = text.stdout.splitlines()
    assert lines[0].split()[:3] == ["started", "(UTC)", "model"]
    assert "rolled_back" in lines[1] and "succeeded" in lines[2]
    assert any("health_check_failed" in line and "wrong" in line for line in lines)

    other = run_segflow("deployments", "--tenant", "other-team", "--endpoint", local_endpoint.url)
    assert other.stdout.strip() == "no deployments", "another tenant's deployments stay invisible"
