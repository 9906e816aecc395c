"""Operating executions from the command line against one ``segflow local up --examples``: every example runs
as the README runs it; executions are listed, stopped, their outputs read whole; a closed pipe, a typo or a
deep document ends a command without a traceback."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from segflow.contracts import DEFAULT_TENANT

from tests.cli.conftest import (
    LocalEndpoint,
    run_segflow,
    segflow_command,
    start_local_endpoint,
    subprocess_env,
)
from tests.support.waiting import wait_for

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"
EXAMPLES = sorted(p.stem for p in EXAMPLES_DIR.glob("*.json") if not p.name.endswith(".input.json"))
# Waits for a person: success so far is the approval node waiting.
WAITING_EXAMPLES = {"approval"}
# Its story is a broken model version rolled back: the canary node fails the execution, saying why.
FAILING_BY_DESIGN = {"model_rollback": "HealthCheckFailed"}


@pytest.fixture(scope="module")
def endpoint() -> Iterator[LocalEndpoint]:
    with start_local_endpoint("opstest", "--examples", str(EXAMPLES_DIR)) as endpoint:
        yield endpoint


def segflow_at(endpoint: LocalEndpoint, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return run_segflow(*args, timeout=timeout, SEGFLOW_ENDPOINT=endpoint.url)


def json_of(result: subprocess.CompletedProcess[str]) -> Any:
    assert "Traceback" not in result.stderr, result.stderr
    return json.loads(result.stdout)


def api_get(endpoint: LocalEndpoint, path: str) -> Any:
    request = urllib.request.Request(
        f"{endpoint.url}/_segflow/api{path}", headers={"X-Segflow-Tenant": DEFAULT_TENANT}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def status_of(endpoint: LocalEndpoint, execution: str) -> dict[str, Any]:
    result = segflow_at(endpoint, "status", execution, "--json")
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = json_of(result)
    return document


def node_status(document: dict[str, Any], node_id: str) -> str | None:
    return next((node["status"] for node in document["nodes"] if node["node_id"] == node_id), None)


def test_local_up_says_where_everything_is(endpoint: LocalEndpoint) -> None:
    assert endpoint.ready_line.startswith(f"segflow local AWS listening on {endpoint.url}")
    assert endpoint.process.stdout is not None
    lines = [endpoint.process.stdout.readline().strip() for _ in range(6)]
    text = "\n".join(lines)
    assert f"{endpoint.url}/_segflow/api" in text
    assert f"{endpoint.url}/_segflow/api/console" in text
    assert "ws://127.0.0.1:" in text
    assert f"export SEGFLOW_ENDPOINT={endpoint.url}" in text


def test_every_example_runs_as_the_readme_runs_it(endpoint: LocalEndpoint) -> None:
    """One run each, in the README's order (the model examples' answers are queued in that order)."""
    problems = []
    for name in EXAMPLES:
        timeout = "3" if name in WAITING_EXAMPLES else "90"
        result = segflow_at(
            endpoint,
            "run",
            str(EXAMPLES_DIR / f"{name}.json"),
            "--input-file",
            str(EXAMPLES_DIR / f"{name}.input.json"),
            "--json",
            "--timeout",
            timeout,
        )
        assert "Traceback" not in result.stderr, (name, result.stderr)
        assert result.stderr.startswith("execution arn:"), (name, result.stderr)
        document = json.loads(result.stdout)
        if name in WAITING_EXAMPLES:
            execution = document["execution_arn"]
            wait_for(
                lambda execution=execution: (
                    node_status(status_of(endpoint, execution), "sign_off") == "waiting"
                ),
                f"{name}: the approval waits",
                timeout=60,
            )
        elif name in FAILING_BY_DESIGN:
            if document["status"] != "FAILED" or FAILING_BY_DESIGN[name] not in str(document.get("cause")):
                problems.append(f"{name}: {document['status']} {document.get('cause')}")
        elif result.returncode != 0 or document["status"] != "SUCCEEDED":
            problems.append(f"{name}: {document['status']} {document.get('cause')}")
    assert not problems, "\n".join(problems)


def test_executions_lists_a_run_and_output_prints_a_large_node_output_whole(
    endpoint: LocalEndpoint, tmp_path: Path
) -> None:
    blob = "".join(f"{index:07d}," for index in range(25_000))  # 200 000 bytes: stored in S3, not inline
    workflow = {
        "workflow_id": "big-output",
        "nodes": [
            {"node_id": "make", "type": "transform", "config": {"output": {"blob": "{{ input.blob }}"}}}
        ],
        "edges": [],
    }
    (tmp_path / "big.json").write_text(json.dumps(workflow))
    (tmp_path / "big.input.json").write_text(json.dumps({"blob": blob}))
    run = segflow_at(
        endpoint,
        "run",
        str(tmp_path / "big.json"),
        "--input-file",
        str(tmp_path / "big.input.json"),
        "--json",
    )
    assert run.returncode == 0, run.stdout + run.stderr
    arn = json_of(run)["execution_arn"]
    execution_id = arn.rsplit(":", 1)[1].split(".", 1)[1]

    listed = json_of(segflow_at(endpoint, "executions", "--workflow", "big-output", "--json"))
    assert [e["execution_id"] for e in listed["executions"]] == [execution_id]
    assert listed["executions"][0]["status"] == "SUCCEEDED"
    table = segflow_at(endpoint, "executions", "--status", "SUCCEEDED")
    assert execution_id in table.stdout

    for name in (execution_id, arn):  # an id or the ARN
        output = segflow_at(endpoint, "output", name, "make", "--json")
        assert output.returncode == 0, output.stderr
        assert json_of(output) == {"blob": blob}
    node = api_get(endpoint, f"/executions/{execution_id}/nodes/make")
    assert node["output_ref"] and node["output_url_expires_in"] > 0
    with urllib.request.urlopen(node["output_url"], timeout=30) as response:  # the short-lived link
        assert json.loads(response.read()) == {"blob": blob}
    checkpoints = json_of(segflow_at(endpoint, "checkpoints", execution_id, "--json"))
    assert checkpoints["checkpoints"][0]["output_ref"], "the output was large enough to be kept in S3"
    [checkpoint] = api_get(endpoint, f"/executions/{execution_id}/checkpoints")["checkpoints"]
    assert (checkpoint["checkpoint_id"], checkpoint["instance_id"]) == (f"{execution_id}:1", execution_id)
    assert checkpoint["node_id"] == "make" and checkpoint["timestamp"]
    state = checkpoint["state"]
    assert (state["completed_nodes"], state["current_node"]) == (["make"], "make")
    assert state["outputs"]["make"]["output_ref"] == node["output_ref"]
    assert state["context"]["status"] == "succeeded"

    missing = segflow_at(endpoint, "output", execution_id, "no_such_node")
    assert (missing.returncode, "Traceback" in missing.stderr) == (2, False)
    assert "no_such_node" in missing.stderr


def test_events_into_a_closed_pipe_print_no_traceback(endpoint: LocalEndpoint) -> None:
    listed = json_of(segflow_at(endpoint, "executions", "--status", "SUCCEEDED", "--json"))
    execution_id = listed["executions"][0]["execution_id"]
    command = " ".join([*segflow_command(), "events", execution_id])
    result = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {command} | head -n 1"],
        capture_output=True,
        text=True,
        timeout=60,
        env=subprocess_env(SEGFLOW_ENDPOINT=endpoint.url),
        check=False,
    )
    assert result.stderr == ""
    assert result.returncode == 0
    assert len(result.stdout.splitlines()) == 1


def test_stop_aborts_an_execution_waiting_for_an_approval(endpoint: LocalEndpoint) -> None:
    run = segflow_at(
        endpoint,
        "run",
        str(EXAMPLES_DIR / "approval.json"),
        "--input-file",
        str(EXAMPLES_DIR / "approval.input.json"),
        "--json",
        "--timeout",
        "1",
    )
    execution = json_of(run)["execution_arn"]
    wait_for(
        lambda: node_status(status_of(endpoint, execution), "sign_off") == "waiting", "the approval waits"
    )
    stopped = segflow_at(endpoint, "stop", execution)
    assert stopped.returncode == 0, stopped.stderr
    wait_for(lambda: status_of(endpoint, execution)["status"] == "ABORTED", "the execution is aborted", 30)


def test_version_typo_exit_codes_and_deep_json_need_no_endpoint(tmp_path: Path) -> None:
    version = run_segflow("--version")
    assert (version.returncode, version.stdout.split()[0]) == (0, "segflow")

    typo = run_segflow("stauts", "x")
    assert typo.returncode == 2
    assert "did you mean status?" in typo.stderr

    help_text = run_segflow("--help").stdout
    assert "exit codes:" in help_text
    for code in ("0", "1", "2", "130"):
        assert f"\n  {code} " in help_text

    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    result = run_segflow("run", str(deep))
    assert (result.returncode, "Traceback" in result.stderr) == (2, False)
    assert "too deep to read" in result.stderr

    negative = run_segflow("run", str(EXAMPLES_DIR / "wait.json"), "--timeout", "-1")
    assert negative.returncode == 2
    assert "--timeout" in negative.stderr
