"""End to end across processes: ``segflow local up`` in one, ``segflow run`` / ``status`` in others.

The execution history read back from the endpoint shows what Step Functions carried between states: every
payload stays within segflow's budget, none carries the workflow config or the partition map, and each
ExecuteSegment receives exactly its own segment_config.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from segflow import declaration
from segflow.domain.limits import STATE_PAYLOAD_BUDGET_BYTES
from segflow.dsl.validation import validate_workflow
from segflow.engine.batching import BATCH_SECONDS
from segflow.engine.partitioner import partition

from tests.cli.conftest import LocalEndpoint, run_segflow
from tests.support.history import full_history, lambda_inputs
from tests.support.http_server import start_http_server

pytestmark = pytest.mark.e2e

SEGMENT_ID = re.compile(r"\bs\d{5}\b")
# A segment config names the segments it reads from (``sources``: where its runner finds their records): ids,
# not their configs.
SOURCES = re.compile(r'"sources":\s*\[[^\]]*\]')


def segment_ids(text: str) -> set[str]:
    """The segments a payload carries (their ids as sources left out)."""
    return set(SEGMENT_ID.findall(SOURCES.sub("", text)))


TEN_NODES_INPUT = {"amount": 250, "customer": "acme"}


# --- helpers -----------------------------------------------------------------------------------------------


def history(endpoint: LocalEndpoint, execution_arn: str) -> list[dict[str, Any]]:
    return full_history(endpoint.client("stepfunctions"), execution_arn)


@dataclass(frozen=True)
class Payload:
    event_type: str
    state: str
    field: str  # input or output
    text: str


def payloads(events: list[dict[str, Any]]) -> Iterator[Payload]:
    """Every input and output the history records (state entered/exited, Lambda scheduled/succeeded, ...)."""
    for event in events:
        for key, details in event.items():
            if not key.endswith("EventDetails") or not isinstance(details, dict):
                continue
            for field in ("input", "output"):
                if isinstance(details.get(field), str):
                    yield Payload(event["type"], details.get("name", ""), field, details[field])


def segment_plan(workflow: dict[str, Any]) -> tuple[dict[str, int], dict[str, str]]:
    """(segment id -> stage, node id -> segment id): the partition the engine computes for this workflow."""
    plan = partition(validate_workflow(workflow), body_key_for=lambda segment_id: f"bodies/{segment_id}.json")
    stage_of = {segment.segment_id: segment.stage for segment in plan.segments}
    segment_of = {node_id: segment.segment_id for segment in plan.segments for node_id in segment.node_ids}
    return stage_of, segment_of


def run_json(endpoint: LocalEndpoint, workflow: Path, *args: str) -> tuple[int, dict[str, Any]]:
    result = run_segflow("run", str(workflow), "--endpoint", endpoint.url, "--json", *args)
    assert result.stdout.strip(), result.stderr
    return result.returncode, json.loads(result.stdout)


def stored_state(endpoint: LocalEndpoint) -> tuple[set[str], set[tuple[str, str]], set[str]]:
    """Every S3 key, DynamoDB key and execution the deployment holds."""
    outputs = endpoint.outputs
    s3 = endpoint.client("s3")
    bucket = outputs[declaration.OUTPUT_BUCKET_NAME]
    keys = {
        item["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for item in page.get("Contents", [])
    }
    dynamodb = endpoint.client("dynamodb")
    items = {
        (item["pk"]["S"], item["sk"]["S"])
        for page in dynamodb.get_paginator("scan").paginate(
            TableName=outputs[declaration.OUTPUT_EXECUTIONS_TABLE_NAME]
        )
        for item in page["Items"]
    }
    sfn = endpoint.client("stepfunctions")
    executions = {
        execution["executionArn"]
        for execution in sfn.list_executions(stateMachineArn=outputs[declaration.OUTPUT_STATE_MACHINE_ARN])[
            "executions"
        ]
    }
    return keys, items, executions


# --- the endpoint ------------------------------------------------------------------------------------------


def test_ready_line_and_outputs(local_endpoint: LocalEndpoint) -> None:
    assert local_endpoint.ready_line == f"segflow local AWS listening on {local_endpoint.url} (stage clitest)"
    assert set(local_endpoint.outputs) == set(declaration.STACK_OUTPUTS)  # the stack's outputs, every one
    assert (
        local_endpoint.outputs[declaration.OUTPUT_MANAGEMENT_API_URL] == f"{local_endpoint.url}/_segflow/api"
    )
    assert local_endpoint.outputs[declaration.OUTPUT_STATE_MACHINE_ARN].endswith(
        ":stateMachine:segflow-clitest-WorkflowStateMachine"
    )


def test_lambda_invoke_api(local_endpoint: LocalEndpoint) -> None:
    lambda_client = local_endpoint.client("lambda")
    name = "segflow-clitest-AdvanceStage"
    arn = f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
    forms: list[tuple[str, dict[str, str]]] = [
        (name, {}),
        (arn, {}),
        (f"{arn}:$LATEST", {}),
        (f"123456789012:function:{name}", {}),
        (name, {"Qualifier": "$LATEST"}),
    ]
    for function_name, extra in forms:
        response = lambda_client.invoke(FunctionName=function_name, Payload=b"{}", **extra)
        assert response["StatusCode"] == 200
        assert response["FunctionError"] == "Unhandled"  # the handler rejects the empty event
        error = json.loads(response["Payload"].read())
        assert error["errorType"] == "ValidationError"
        assert set(error) == {"errorType", "errorMessage", "stackTrace"}

    assert lambda_client.invoke(FunctionName=name, InvocationType="DryRun")["StatusCode"] == 204
    assert lambda_client.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")["StatusCode"] == 202
    with pytest.raises(ClientError) as missing:
        lambda_client.invoke(FunctionName="segflow-clitest-Nope", Payload=b"{}")
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"


# --- run, history, status ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ten_node_run(local_endpoint: LocalEndpoint, data_dir: Path) -> dict[str, Any]:
    started = time.monotonic()
    code, result = run_json(
        local_endpoint, data_dir / "ten_nodes.json", "--input", json.dumps(TEN_NODES_INPUT)
    )
    result["seconds"] = time.monotonic() - started
    result["exit_code"] = code
    return result


def test_run_json(ten_node_run: dict[str, Any]) -> None:
    assert ten_node_run["exit_code"] == 0
    assert ten_node_run["status"] == "SUCCEEDED"
    assert ten_node_run["output"] == {"report": {"customer": "acme", "branches": 3}}
    assert ten_node_run["execution_arn"].startswith("arn:aws:states:us-east-1:123456789012:execution:")


def test_history_carries_pointers_and_own_segments_only(
    local_endpoint: LocalEndpoint, ten_node_run: dict[str, Any], data_dir: Path
) -> None:
    workflow = json.loads((data_dir / "ten_nodes.json").read_text())
    stage_of, segment_of = segment_plan(workflow)
    events = history(local_endpoint, ten_node_run["execution_arn"])
    assert events[-1]["type"] == "ExecutionSucceeded"
    seen = list(payloads(events))
    assert len(seen) > 20

    for payload in seen:
        where = f"{payload.event_type} {payload.state} {payload.field}"
        assert len(payload.text.encode()) <= STATE_PAYLOAD_BUDGET_BYTES, where
        assert '"edges"' not in payload.text, where
        assert "partition_map" not in payload.text, where
        stages = {stage_of[segment_id] for segment_id in segment_ids(payload.text)}
        assert len(stages) <= 1, f"{where} holds segments of stages {sorted(stages)}"

    # Each ExecuteSegment invocation gets exactly its own segment_config (a stage of one segment, or of pure
    # nodes only, runs as a Task that may go on to the next such stages, reading their configs itself).
    # RunFirstStage hands over InitializeStateBag's cursor, whose segment_config is the first stage's.
    segment_inputs = lambda_inputs(events, "ExecuteSegment")
    configs = [event.get("segment_config") or event["cursor"]["segment_config"] for event in segment_inputs]
    assert {config["segment_id"] for config in configs} <= set(stage_of)
    for event, config in zip(segment_inputs, configs, strict=True):
        carrying = {"cursor", "statebag"} if "cursor" in event else {"segment_config", "statebag"}
        assert set(event) - {"advance", "stage_segments", "history_events"} == carrying
        own = config["segment_id"]
        assert segment_ids(json.dumps(event)) == {own}
        node_ids = {node["node_id"] for node in config["nodes"]}
        assert node_ids == {node for node, segment in segment_of.items() if segment == own}

    # A node's config travels only with its own segment (the Map items of its stage included); the judge's
    # segment is the first one, handed to RunFirstStage. Middle's stage is pure: the Task reads it from S3.
    assert [p for p in seen if "MARKER-JUDGE-CONFIG" in p.text]
    for marker, node in (("MARKER-JUDGE-CONFIG", "judge"), ("MARKER-MIDDLE-CONFIG", "middle")):
        carriers = [p for p in seen if marker in p.text]
        for payload in carriers:
            assert segment_of[node] in payload.text, f"{marker} in {payload.event_type} {payload.state}"


def test_status_shows_the_node_table(local_endpoint: LocalEndpoint, ten_node_run: dict[str, Any]) -> None:
    result = run_segflow("status", ten_node_run["execution_arn"], "--endpoint", local_endpoint.url)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "status     SUCCEEDED" in lines
    assert lines[0] == f"execution  {ten_node_run['execution_arn']}"
    assert any(line.startswith("started    ") for line in lines)
    assert any(line.startswith("stopped    ") for line in lines)
    node_ids = {"fetch", "judge", "big", "small", "pause", "left", "middle", "right", "join", "report"}
    rows = {line.split()[0]: line for line in lines if line and line.split()[0] in node_ids}
    assert len(rows) == 10
    assert "✓ succeeded" in rows["fetch"] and "data query" in rows["fetch"]
    assert "↷ skipped" in rows["small"]
    assert re.search(r"✓ succeeded\s+1\.\d s", rows["pause"])
    assert "10/10 done · 1 skipped" in lines


def test_status_json(local_endpoint: LocalEndpoint, ten_node_run: dict[str, Any]) -> None:
    result = run_segflow("status", ten_node_run["execution_arn"], "--endpoint", local_endpoint.url, "--json")
    document = json.loads(result.stdout)
    assert document["status"] == "SUCCEEDED"
    assert document["workflow_id"] == "cli-ten-nodes"
    assert document["output"] == {"report": {"customer": "acme", "branches": 3}}
    assert [node["status"] for node in document["nodes"]].count("succeeded") == 9


def test_run_prints_progress_lines(local_endpoint: LocalEndpoint, data_dir: Path) -> None:
    result = run_segflow(
        "run",
        str(data_dir / "branching.json"),
        "--input-file",
        str(data_dir / "branching.input.json"),
        "--endpoint",
        local_endpoint.url,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"run cli-branching on {local_endpoint.url}"
    assert lines[1].startswith("execution arn:aws:states:")
    assert any(re.fullmatch(r"  ✓ fetch \(data query\) — succeeded \((<1|\d+) ms\)", line) for line in lines)
    assert "  ↷ small (transform) — skipped" in lines
    assert "  ◷ pause (wait) — waiting" in lines  # a one-second wait is always seen waiting
    assert any(line.startswith("  ✓ join (action) — succeeded") for line in lines)
    summary = next(line for line in lines if line.startswith("SUCCEEDED in "))
    assert summary.endswith("8/8 done · 1 skipped")
    output = json.loads("\n".join(lines[lines.index(summary) + 1 :]))
    assert output["join"]["branches"] == ["left", "right"]


def test_failed_run(local_endpoint: LocalEndpoint, data_dir: Path) -> None:
    code, result = run_json(local_endpoint, data_dir / "failing.json")
    assert code == 1
    assert result["status"] == "FAILED"
    assert result["output"] is None
    assert "node 'call' failed with ConnectionFailed" in result["cause"]

    status = run_segflow("status", result["execution_arn"], "--endpoint", local_endpoint.url)
    lines = status.stdout.splitlines()
    assert "status     FAILED" in lines
    call = next(line for line in lines if line.startswith("call "))
    assert "✗ failed" in call and "ConnectionFailed" in call
    assert next(line for line in lines if line.startswith("after ")).split()[-1] == "not_run"
    assert any(line.startswith("error      ") for line in lines)
    assert any(line.startswith("cause      node 'call' failed with ConnectionFailed") for line in lines)


def test_invalid_workflow_writes_nothing(local_endpoint: LocalEndpoint, data_dir: Path) -> None:
    before = stored_state(local_endpoint)
    result = run_segflow("run", str(data_dir / "invalid.json"), "--endpoint", local_endpoint.url)
    assert result.returncode == 2
    assert "error: edge 'later' -> 'ghost': target 'ghost' is not a node" in result.stderr.splitlines()
    assert stored_state(local_endpoint) == before


def test_wide_stage_runs_through_the_distributed_map(local_endpoint: LocalEndpoint, tmp_path: Path) -> None:
    """60 parallel API calls that may each take all an invocation has are 60 batches, too many for their Map
    items to travel inline: the Map reads them from S3."""
    server = start_http_server()
    server.route("POST", "/echo")
    nodes: list[dict[str, Any]] = [{"node_id": "root", "type": "transform", "config": {"output": {"n": 1}}}]
    edges = []
    for index in range(60):
        nodes.append(
            {
                "node_id": f"b{index:02d}",
                "type": "action",
                "action_type": "api_call",
                "config": {"url": server.url + "/echo", "body": index, "timeout_seconds": BATCH_SECONDS},
            }
        )
        edges.append({"source": "root", "target": f"b{index:02d}"})
        edges.append({"source": f"b{index:02d}", "target": "join"})
    nodes.append({"node_id": "join", "type": "aggregator", "config": {"mode": "list"}})
    path = tmp_path / "wide.json"
    path.write_text(json.dumps({"workflow_id": "cli-wide", "nodes": nodes, "edges": edges}))

    try:
        code, result = run_json(local_endpoint, path)
    finally:
        server.server.shutdown()
    assert (code, result["status"]) == (0, "SUCCEEDED")
    assert result["output"]["join"]["count"] == 60
    events = history(local_endpoint, result["execution_arn"])
    entered = [event["stateEnteredEventDetails"] for event in events if "stateEnteredEventDetails" in event]
    assert "RunStageFromS3" in {details["name"] for details in entered}


def test_echo_api_answers_api_calls(local_endpoint: LocalEndpoint, data_dir: Path) -> None:
    execution_input = {"order_id": "A-7", "api_url": f"{local_endpoint.url}/_segflow/echo"}
    code, result = run_json(
        local_endpoint, data_dir / "echo_call.json", "--input", json.dumps(execution_input)
    )
    assert (code, result["status"]) == (0, "SUCCEEDED"), result
    answer = result["output"]["submit"]
    assert answer["status"] == 200
    assert answer["body"] == {
        "echo": {"order": {"id": "A-7", "qty": 2}},
        "path": "/_segflow/echo/orders?dry=yes",
        "method": "POST",
    }
