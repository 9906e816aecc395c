"""The baselines' state machines, each the best its design allows, for the same workflows segflow runs.

- **choice loop** (one definition for every workflow): ``Initialize`` writes the manifest, then a loop of
  ``ExecuteSegment(segment_index)`` -- a Task that returns the next index -- and one ``Choice`` that loops
  while the index is below the segment count. Two transitions per segment (the predecessor engine spent five).
  Segments run one at a time, in manifest order, which respects every dependency (the manifest lists a
  segment after all the segments it depends on; the benchmark checks it).
- **fat statebag** (one definition per workflow): ``Initialize`` puts the workflow config and the partition
  map in the state; each stage is a Task (one segment) or an inline Map over the stage's segment ids (several
  segments); every segment task receives the whole state and its outputs are appended to it (``ResultPath``).
- **one state per node** (one definition per workflow): each node is its own Task, carrying its one-node
  ``segment_config`` in ``Parameters``; a level of independent nodes is a Parallel state with one branch per
  node. Outputs go to DynamoDB/S3 through segflow's runner, as in segflow.
"""

from __future__ import annotations

import json
from typing import Any

from segflow.domain.plan import PartitionPlan, SegmentConfig

from bench.baselines.handlers import stage_key

LAMBDA_RETRY = [
    {
        "ErrorEquals": [
            "Lambda.ServiceException",
            "Lambda.AWSLambdaException",
            "Lambda.SdkClientException",
            "Lambda.TooManyRequestsException",
        ],
        "IntervalSeconds": 1,
        "MaxAttempts": 3,
        "BackoffRate": 2,
    }
]
INLINE_MAP_MAX_CONCURRENCY = 40

_START_PARAMETERS = {
    "request.$": "$",
    "execution_id.$": "$$.Execution.Name",
    "started_at.$": "$$.Execution.StartTime",
}


def _task(resource: str, **fields: Any) -> dict[str, Any]:
    return {"Type": "Task", "Resource": resource, "Retry": LAMBDA_RETRY, **fields}


def _chain(states: list[tuple[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Link states in order: each one's Next is the following state, the last one ends."""
    linked: dict[str, dict[str, Any]] = {}
    for index, (name, state) in enumerate(states):
        if index + 1 < len(states):
            state["Next"] = states[index + 1][0]
        else:
            state["End"] = True
        linked[name] = state
    return linked


def choice_loop(arns: dict[str, str]) -> dict[str, Any]:
    return {
        "Comment": "Baseline: one ExecuteSegment task in a Choice-driven loop over segment indexes.",
        "StartAt": "Initialize",
        "States": {
            "Initialize": _task(
                arns["ChoiceLoopInitialize"], Parameters=_START_PARAMETERS, Next="ExecuteSegment"
            ),
            "ExecuteSegment": _task(
                arns["ChoiceLoopSegment"],
                Parameters={"statebag.$": "$.statebag", "segment_index.$": "$.index"},
                ResultPath="$.index",
                Next="MoreSegments",
            ),
            "MoreSegments": {
                "Type": "Choice",
                "Choices": [
                    {
                        "Variable": "$.index",
                        "NumericLessThanPath": "$.statebag.segment_count",
                        "Next": "ExecuteSegment",
                    }
                ],
                "Default": "FinalizeExecution",
            },
            "FinalizeExecution": _task(
                arns["FinalizeExecution"],
                Parameters={"statebag.$": "$.statebag", "outcome": "SUCCEEDED"},
                End=True,
            ),
        },
    }


def fat_statebag(plan: PartitionPlan, arns: dict[str, str]) -> dict[str, Any]:
    states: list[tuple[str, dict[str, Any]]] = [
        ("Initialize", _task(arns["FatInitialize"], Parameters={**_START_PARAMETERS}))
    ]
    for stage in plan.stages:
        if len(stage.segment_ids) == 1:
            segment_id = stage.segment_ids[0]
            states.append(
                (
                    f"Segment_{segment_id}",
                    _task(
                        arns["FatSegment"],
                        Parameters={"state.$": "$", "segment_id": segment_id},
                        ResultPath=f"$.outputs.{segment_id}",
                    ),
                )
            )
            continue
        states.append(
            (
                f"Stage_{stage.stage:05d}",
                {
                    "Type": "Map",
                    "ItemsPath": f"$.partition.stages.{stage_key(stage.stage)}.branches",
                    "MaxConcurrency": INLINE_MAP_MAX_CONCURRENCY,
                    "ItemSelector": {"state.$": "$", "segment_id.$": "$$.Map.Item.Value"},
                    "ItemProcessor": {
                        "ProcessorConfig": {"Mode": "INLINE"},
                        "StartAt": "Segment",
                        "States": {"Segment": _task(arns["FatSegment"], End=True)},
                    },
                    "ResultPath": f"$.outputs.{stage_key(stage.stage)}",
                },
            )
        )
    states.append(("Finalize", _task(arns["FatFinalize"], Parameters={"state.$": "$"})))
    return {
        "Comment": "Baseline: the workflow config, partition map and outputs carried in the state.",
        "StartAt": "Initialize",
        "States": _chain(states),
    }


def per_node(
    plan: PartitionPlan, workflow: dict[str, Any], arns: dict[str, str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The definition, and the compiled facts its Initialize task receives.

    ``plan`` must have one node per segment (``partition(..., segment_budget_bytes=0)``); its stages are then
    the levels of the graph. A node whose config went to an S3 body is inlined again: compiled, it lives in
    the definition.
    """

    def node_task(config: SegmentConfig, body_nodes: Any, reads: list[str]) -> dict[str, Any]:
        inline = config.model_copy(update={"nodes": body_nodes, "reads": reads, "body_key": None})
        return _task(
            arns["ExecuteSegment"],
            Parameters={"statebag.$": "$.statebag", "segment_config": inline.wire()},
            ResultPath=None,
        )

    by_id = {segment.segment_id: segment for segment in plan.segments}

    def task_for(segment_id: str) -> tuple[str, dict[str, Any]]:
        segment = by_id[segment_id]
        body_nodes = segment.body.nodes if segment.body else segment.config.nodes
        reads = segment.body.reads if segment.body else segment.config.reads
        return f"N_{segment.node_ids[0]}"[:80], node_task(segment.config, body_nodes, reads)

    compiled = {
        "workflow_id": plan.workflow_id,
        "name": workflow.get("name", plan.workflow_id),
        "node_count": plan.node_count,
        "stage_count": len(plan.stages),
        "sinks": plan.sinks,
    }
    states: list[tuple[str, dict[str, Any]]] = [
        (
            "Initialize",
            _task(
                arns["PerNodeInitialize"],
                Parameters={**_START_PARAMETERS, "compiled": compiled},
            ),
        )
    ]
    for stage in plan.stages:
        if len(stage.segment_ids) == 1:
            states.append(task_for(stage.segment_ids[0]))
            continue
        branches = []
        for segment_id in stage.segment_ids:
            name, task = task_for(segment_id)
            task["End"] = True
            branches.append({"StartAt": name, "States": {name: task}})
        states.append(
            (f"Level_{stage.stage:05d}", {"Type": "Parallel", "Branches": branches, "ResultPath": None})
        )
    states.append(
        (
            "FinalizeExecution",
            _task(arns["FinalizeExecution"], Parameters={"statebag.$": "$.statebag", "outcome": "SUCCEEDED"}),
        )
    )
    definition = {
        "Comment": "Baseline: every node compiled to its own Task state.",
        "StartAt": "Initialize",
        "States": _chain(states),
    }
    return definition, compiled


def definition_bytes(definition: dict[str, Any]) -> int:
    return len(json.dumps(definition, separators=(",", ":")).encode())
