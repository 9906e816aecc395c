"""Lambda handlers of the baselines. Node work is always segflow's own: the real ``ExecuteSegment`` handler
(choice loop, one state per node) or segflow's ``SegmentRunner`` over the state (fat statebag).

Each handler does only what its design needs: no stage files, no reference copies, no records a design does
not read. They use the same shared boto3 clients as segflow's handlers, so their requests are counted alike.
"""

from __future__ import annotations

import json
import sys
import threading
from typing import Any

from segflow.adapters import factory
from segflow.adapters.clients import client
from segflow.contracts import ExecutionRequest, StateBag
from segflow.domain import s3_layout
from segflow.domain.plan import IncomingEdge, PartitionPlan, SegmentConfig, SegmentNode, compact_json
from segflow.domain.records import ExecutionRecord, NodeRecord
from segflow.dsl.models import NodeSpec
from segflow.dsl.templates import references_in
from segflow.dsl.validation import WorkflowValidationError, executable_issues, validate_workflow
from segflow.engine.partitioner import partition, segment_node
from segflow.engine.segment_runner import SegmentRunner
from segflow.nodes import registry
from segflow.nodes.routing import route_labels

from segflow_local.memory_stores import MemoryCheckpoints, MemoryExecutionRecords, MemoryOutputs


def _put_json(key: str, value: Any) -> None:
    bucket = factory.manifests().bucket
    client("s3").put_object(
        Bucket=bucket, Key=key, Body=compact_json(value).encode(), ContentType="application/json"
    )


def _request_documents(request: ExecutionRequest) -> tuple[dict[str, Any], Any]:
    """The submitted workflow and the execution input (read from S3 when it came by reference)."""
    manifests = factory.manifests()
    assert hasattr(request.workflow, "s3_key"), "the baselines run ad-hoc (uploaded) workflows"
    workflow = manifests.read_submission(request.tenant_id, request.workflow.s3_key)  # type: ignore[union-attr]
    execution_input: Any = request.input or {}
    if request.input_ref is not None:
        execution_input = manifests.read_submission(request.tenant_id, request.input_ref.s3_key)
    return workflow, execution_input


def _validated_plan(workflow: dict[str, Any], prefix: str) -> PartitionPlan:
    graph = validate_workflow(workflow)
    issues = executable_issues(graph)
    if issues:
        raise WorkflowValidationError(issues)
    return partition(graph, body_key_for=lambda segment_id: s3_layout.body_key(prefix, segment_id))


def _create_execution(
    request: ExecutionRequest,
    execution_id: str,
    started_at: str,
    execution_input: Any,
    workflow_id: str,
    name: str,
    prefix: str,
    counts: tuple[int, int, int],
) -> StateBag:
    """The execution's record and stored input, which segflow's ExecuteSegment and FinalizeExecution read."""
    tenant = request.tenant_id
    nodes, segments, stages = counts
    stored = factory.node_outputs().save_execution_data(tenant, execution_id, "input", execution_input)
    factory.execution_records().create_execution(
        ExecutionRecord(
            tenant_id=tenant,
            execution_id=execution_id,
            workflow_id=workflow_id,
            workflow_name=name,
            workflow_key=getattr(request.workflow, "s3_key", ""),
            started_at=started_at,
            node_count=nodes,
            segment_count=segments,
            stage_count=stages,
            manifest_prefix=prefix,
            input_json=stored.inline_json,
            input_key=stored.s3_key,
        )
    )
    return StateBag(
        tenant_id=tenant,
        workflow_id=workflow_id,
        execution_id=execution_id,
        started_at=started_at,
        manifest_prefix=prefix,
        stage_count=stages,
        segment_count=segments,
        node_count=nodes,
    )


# --- choice loop --------------------------------------------------------------------------------------------


def choice_loop_initialize(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Validate and partition; write the manifest the loop indexes into (plus sinks and oversized bodies)."""
    request = ExecutionRequest.model_validate(event["request"])
    execution_id, started_at = event["execution_id"], event["started_at"]
    workflow, execution_input = _request_documents(request)
    prefix = s3_layout.execution_manifest_prefix(request.tenant_id, workflow["workflow_id"], execution_id)
    plan = _validated_plan(workflow, prefix)
    _put_json(f"{prefix}manifest.json", [segment.manifest_entry() for segment in plan.segments])
    _put_json(f"{prefix}sinks.json", plan.sinks)
    for segment in plan.segments:
        if segment.body is not None and segment.config.body_key:
            _put_json(segment.config.body_key, segment.body.model_dump(exclude_none=True))
    statebag = _create_execution(
        request,
        execution_id,
        started_at,
        execution_input,
        plan.workflow_id,
        workflow.get("name", ""),
        prefix,
        (plan.node_count, len(plan.segments), len(plan.stages)),
    )
    return {"statebag": statebag.model_dump(exclude_none=True), "index": 0}


# The loop's invocations are sequential, so Lambda serves them from one warm container: the manifest is read
# and parsed once per container, not once per segment.
_manifest_cache: dict[str, list[dict[str, Any]]] = {}
_manifest_lock = threading.Lock()


def _manifest(prefix: str) -> list[dict[str, Any]]:
    key = f"{prefix}manifest.json"
    with _manifest_lock:
        entries = _manifest_cache.get(key)
    if entries is None:
        entries = factory.manifests().read_json(key)
        with _manifest_lock:
            _manifest_cache.clear()  # one execution's manifest at a time, as one container would hold
            _manifest_cache[key] = entries
    return entries


def choice_loop_segment(event: dict[str, Any], context: Any) -> int:
    """segflow's ExecuteSegment on the manifest entry ``segment_index``; returns the next index."""
    from segflow.handlers.execute_segment import handler

    index = int(event["segment_index"])
    entry = _manifest(event["statebag"]["manifest_prefix"])[index]
    result = handler({"statebag": event["statebag"], "segment_config": entry["segment_config"]}, context)
    return index + 1 if result.get("status") == "succeeded" else index


# --- one state per node -------------------------------------------------------------------------------------


def per_node_initialize(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The workflow is compiled into the state machine: only the record, input and sinks are written."""
    request = ExecutionRequest.model_validate(event["request"])
    execution_id, started_at = event["execution_id"], event["started_at"]
    compiled = event["compiled"]
    execution_input: Any = request.input or {}
    if request.input_ref is not None:
        execution_input = factory.manifests().read_submission(request.tenant_id, request.input_ref.s3_key)
    prefix = s3_layout.execution_manifest_prefix(request.tenant_id, compiled["workflow_id"], execution_id)
    _put_json(f"{prefix}sinks.json", compiled["sinks"])
    statebag = _create_execution(
        request,
        execution_id,
        started_at,
        execution_input,
        compiled["workflow_id"],
        compiled["name"],
        prefix,
        (compiled["node_count"], compiled["node_count"], compiled["stage_count"]),
    )
    return {"statebag": statebag.model_dump(exclude_none=True)}


# --- fat statebag -------------------------------------------------------------------------------------------


def stage_key(stage: int) -> str:
    return f"stage_{stage:05d}"


def fat_initialize(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The whole state from here on: workflow config, partition map, input, and the outputs so far."""
    request = ExecutionRequest.model_validate(event["request"])
    workflow, execution_input = _request_documents(request)
    plan = _validated_plan(workflow, "inline/")
    partition_map = plan.partition_map()
    # Keyed by stage: a Map's ItemsPath then names its stage (moto mis-reads ``stages[3].branches``).
    partition_map["stages"] = {stage_key(stage["stage"]): stage for stage in partition_map["stages"]}
    return {
        "execution": {
            "tenant_id": request.tenant_id,
            "execution_id": event["execution_id"],
            "started_at": event["started_at"],
        },
        "workflow": workflow,
        "partition": partition_map,
        "input": execution_input,
        "outputs": {},
    }


def _outcomes_in(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every node outcome appended so far: ``outputs.<segment>`` holds a dict, ``outputs.<stage>`` a list."""
    outcomes: dict[str, dict[str, Any]] = {}
    for appended in state.get("outputs", {}).values():
        for part in appended if isinstance(appended, list) else [appended]:
            outcomes.update(part)
    return outcomes


def _segment_from_state(state: dict[str, Any], segment_id: str) -> SegmentConfig:
    """The segment's nodes, as the partitioner would have built them, from the config carried in the state."""
    entry = next(s for s in state["partition"]["segments"] if s["segment_id"] == segment_id)
    wanted = set(entry["node_ids"])
    raw_nodes = {n["node_id"]: n for n in state["workflow"]["nodes"] if n["node_id"] in wanted}
    incoming: dict[str, list[IncomingEdge]] = {node_id: [] for node_id in wanted}
    conditions: dict[str, list[str | None]] = {node_id: [] for node_id in wanted}
    for edge in state["workflow"].get("edges", []):
        if edge["target"] in wanted:
            incoming[edge["target"]].append(
                IncomingEdge(source=edge["source"], condition=edge.get("condition"))
            )
        if edge["source"] in wanted:
            conditions[edge["source"]].append(edge.get("condition"))
    nodes: list[SegmentNode] = []
    reads: list[str] = []
    for node_id in entry["node_ids"]:
        spec = NodeSpec.model_validate(raw_nodes[node_id])
        node_type = registry.lookup(spec.type, spec.subtype)
        assert node_type is not None, f"node type {spec.type!r} is unknown"
        nodes.append(segment_node(spec, node_type, incoming[node_id], route_labels(conditions[node_id])))
        needed = references_in(spec.config)
        if node_type.aggregates:
            needed |= {edge.source for edge in incoming[node_id]}
        reads.extend(sorted(needed - wanted - set(reads)))
    return SegmentConfig(
        segment_id=segment_id,
        segment_type=entry["segment_type"],
        stage=entry["stage"],
        node_count=len(nodes),
        has_end=entry["has_end"],
        nodes=nodes,
        reads=reads,
    )


def fat_segment(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Run one segment over the state it received; return its nodes' outcomes (appended by ResultPath)."""
    state, segment_id = event["state"], event["segment_id"]
    execution = state["execution"]
    tenant, execution_id = execution["tenant_id"], execution["execution_id"]
    segment = _segment_from_state(state, segment_id)
    prior = {
        node_id: NodeRecord(
            node_id=node_id,
            segment_id="",
            stage=0,
            type="",
            status=outcome["status"],
            route=outcome.get("route"),
            output_json=json.dumps(outcome["output"]) if "output" in outcome else None,
        )
        for node_id, outcome in _outcomes_in(state).items()
    }
    record = ExecutionRecord(
        tenant_id=tenant,
        execution_id=execution_id,
        workflow_id=state["workflow"]["workflow_id"],
        workflow_name=state["workflow"].get("name", ""),
        started_at=execution["started_at"],
        input_json=json.dumps(state["input"]),
    )
    # The state is the store: earlier outcomes arrive in the task's input, this segment's leave in its result,
    # every output inline; there is no event log.
    records = MemoryExecutionRecords()
    records.create_execution(record)
    records.put_nodes(tenant, execution_id, list(prior.values()))
    statebag = StateBag(
        tenant_id=tenant,
        workflow_id=record.workflow_id,
        execution_id=execution_id,
        started_at=execution["started_at"],
        manifest_prefix="",
        stage_count=state["partition"]["stage_count"],
        segment_count=state["partition"]["segment_count"],
        node_count=state["partition"]["node_count"],
    )
    runner = SegmentRunner(
        records,
        MemoryOutputs(inline_max_bytes=sys.maxsize),
        context.get_remaining_time_in_millis,
        journal=MemoryCheckpoints(records),
    )
    runner.run(statebag, segment, segment.nodes or [], segment.reads)
    written = {r.node_id: r for r in records.list_nodes(tenant, execution_id) if r.node_id not in prior}
    appended: dict[str, Any] = {}
    for node_id, node in written.items():
        outcome: dict[str, Any] = {"status": node.status}
        if node.route is not None:
            outcome["route"] = node.route
        if node.output_json is not None:
            outcome["output"] = json.loads(node.output_json)
        appended[node_id] = outcome
    return appended


def fat_finalize(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The execution's output: the outputs of the nodes without successors."""
    state = event["state"]
    has_successor = {edge["source"] for edge in state["workflow"].get("edges", [])}
    outcomes = _outcomes_in(state)
    return {
        "status": "SUCCEEDED",
        "output": {
            node["node_id"]: outcomes[node["node_id"]].get("output")
            for node in state["workflow"]["nodes"]
            if node["node_id"] not in has_successor
            and outcomes.get(node["node_id"], {}).get("status") == "succeeded"
        },
    }
