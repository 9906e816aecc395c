"""Reading another tenant's execution: the CLI and the management API answer as for a missing execution.

Tenant A runs a workflow whose output carries A's data. As tenant B, and as a caller naming no tenant (the
default one), ``segflow status``, ``events`` and ``checkpoints`` on A's execution, and the API's read routes,
fail exactly as for an execution that does not exist and show none of A's data; the server decides the
tenant, not a check in the CLI. As A they work. A stack without the management API is not read around.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from segflow import declaration
from segflow.domain.ids import execution_id_of

from segflow_cli.main import main
from tests.cli.conftest import LocalEndpoint, run_segflow, start_local_endpoint
from tests.support.http_server import start_http_server
from tests.support.workflows import chain_edges, transform, workflow

pytestmark = pytest.mark.e2e

SECRET = "A-SSN-7781-0042"
NODE = "a_private_node"
WORKFLOW_ID = "iso_a_private"
READS = ("status", "events", "checkpoints")
# Tenant B, and a caller naming no tenant (the default one): neither is A.
NOT_A = {"tenant-b": ("--tenant", "tenant-b"), "no-tenant": ()}


@pytest.fixture(scope="module")
def endpoint() -> Iterator[LocalEndpoint]:
    with start_local_endpoint("isolation-reads") as local:
        yield local


@pytest.fixture(scope="module")
def a_run(endpoint: LocalEndpoint, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Tenant A's succeeded execution (its ARN); its node output and execution output hold SECRET."""
    path: Path = tmp_path_factory.mktemp("a") / "private.json"
    nodes = [
        transform(NODE, {"ssn": "{{ input.ssn }}"}),
        transform("a_after", {"seen": f"{{{{ nodes.{NODE}.ssn }}}}"}),
    ]
    path.write_text(json.dumps(workflow(WORKFLOW_ID, nodes, chain_edges([NODE, "a_after"]))))
    run = run_segflow(
        "run",
        str(path),
        "--tenant",
        "tenant-a",
        "--input",
        json.dumps({"ssn": SECRET}),
        "--json",
        "--endpoint",
        endpoint.url,
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["status"] == "SUCCEEDED" and SECRET in run.stdout, result
    return str(result["execution_arn"])


def missing_arn_like(arn: str) -> str:
    """An ARN of the same shape (the same tenant's name) that names no execution."""
    machine, name = arn.rsplit(":", 1)
    return f"{machine}:{name.split('.', 1)[0]}.iso-never-started-0000"


def leaks(text: str, named: str = "") -> list[str]:
    """A's data in ``text``, other than the execution name the caller gave (``named``)."""
    text = text.replace(named, "") if named else text
    return [marker for marker in (SECRET, NODE, WORKFLOW_ID) if marker in text]


def api(endpoint: LocalEndpoint, path: str, tenant: str | None) -> tuple[int, dict[str, Any]]:
    headers = {"X-Segflow-Tenant": tenant} if tenant else {}
    url = endpoint.outputs[declaration.OUTPUT_MANAGEMENT_API_URL].rstrip("/") + path
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


@pytest.mark.parametrize("command", READS)
@pytest.mark.parametrize("caller", NOT_A, ids=list(NOT_A))
def test_the_cli_reads_an_execution_only_for_its_tenant(
    endpoint: LocalEndpoint, a_run: str, command: str, caller: str
) -> None:
    # As A: the command shows A's execution.
    owner = run_segflow(command, a_run, "--tenant", "tenant-a", "--json", "--endpoint", endpoint.url)
    assert owner.returncode == 0, owner.stderr
    assert leaks(owner.stdout), "the owner sees its execution's data"

    # As anyone else: refused exactly as an execution that does not exist, with none of A's data.
    missing = missing_arn_like(a_run)
    for flags in ((), ("--json",)):
        absent = run_segflow(command, missing, *NOT_A[caller], *flags, "--endpoint", endpoint.url)
        other = run_segflow(command, a_run, *NOT_A[caller], *flags, "--endpoint", endpoint.url)
        assert other.returncode == absent.returncode == 2, (other.stdout, other.stderr)
        assert other.stdout == "" and leaks(other.stderr, a_run) == []
        assert other.stderr.replace(a_run, "<arn>") == absent.stderr.replace(missing, "<arn>")
        assert f"error: no execution {a_run}" in other.stderr


def test_the_api_reads_an_execution_only_for_its_tenant(endpoint: LocalEndpoint, a_run: str) -> None:
    execution_id = execution_id_of(a_run)
    missing_id = execution_id_of(missing_arn_like(a_run))
    for suffix in ("", "/events", "/checkpoints", f"/nodes/{NODE}", "/output", "/workflow"):
        status, owned = api(endpoint, f"/executions/{execution_id}{suffix}", "tenant-a")
        assert status == 200, (suffix, owned)
        assert leaks(json.dumps(owned)), (suffix, owned)
        for tenant in ("tenant-b", None):
            absent_status, absent = api(endpoint, f"/executions/{missing_id}{suffix}", tenant)
            status, answer = api(endpoint, f"/executions/{execution_id}{suffix}", tenant)
            assert status == absent_status == 404, (suffix, tenant, answer)
            assert answer["code"] == "NotFound" and leaks(json.dumps(answer), execution_id) == []
            assert json.dumps(answer).replace(execution_id, "<id>") == json.dumps(absent).replace(
                missing_id, "<id>"
            )


def test_the_api_pages_the_log_for_its_tenant(endpoint: LocalEndpoint, a_run: str) -> None:
    execution_id = execution_id_of(a_run)
    status, whole = api(endpoint, f"/executions/{execution_id}/events", "tenant-a")
    assert status == 200 and whole["next_after"] is None
    seqs = [event["seq"] for event in whole["events"]]
    assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) >= 4
    status, first = api(endpoint, f"/executions/{execution_id}/events?limit=2", "tenant-a")
    assert [event["seq"] for event in first["events"]] == [1, 2] and first["next_after"] == 2
    status, rest = api(endpoint, f"/executions/{execution_id}/events?after=2", "tenant-a")
    assert [event["seq"] for event in rest["events"]] == seqs[2:]
    status, other = api(endpoint, f"/executions/{execution_id}/events?after=2&limit=2", "tenant-b")
    assert status == 404 and leaks(json.dumps(other), execution_id) == []


def test_without_the_management_api_nothing_is_read(capsys: pytest.CaptureFixture[str]) -> None:
    """A stack without the API (deployed before it): the CLI says so and reads no table around it."""
    server = start_http_server()
    try:
        region, account = "us-east-1", "000000000000"
        outputs = {
            declaration.OUTPUT_STATE_MACHINE_ARN: f"arn:aws:states:{region}:{account}:stateMachine:wf",
            declaration.OUTPUT_BUCKET_NAME: "data",
            declaration.OUTPUT_EXECUTIONS_TABLE_NAME: "executions",
            declaration.OUTPUT_EVENTS_TABLE_NAME: "events",
        }
        server.route("GET", "/_segflow/outputs", body=outputs)
        arn = f"arn:aws:states:{region}:{account}:execution:wf:someone"
        for command in READS:
            assert main([command, arn, "--endpoint", server.url]) == 1
            assert "no management API output (ManagementApiUrl)" in capsys.readouterr().err
        assert {request.path for request in server.requests} == {"/_segflow/outputs"}
    finally:
        server.server.shutdown()
