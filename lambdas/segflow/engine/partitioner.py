"""The partitioner: workflow graph -> segments -> stages, in one linear pass.

A segment is a run of nodes one Lambda invocation executes in order. A node joins its predecessor's segment
when it has exactly one incoming edge, that predecessor has exactly one outgoing edge and ends the segment,
the node does not need to wait outside a Lambda, and the segment config stays within its byte budget.
Everything else starts a new segment: forks, joins (aggregators), waits.

Stages: a segment's stage is one more than the latest stage it depends on, so segments in one stage never
depend on each other and run concurrently (a stage of several segments is the seed's ``parallel_group``).
A stage whose nodes are all pure is marked so: its segments gain nothing from running in parallel Lambdas,
and run one after another in one invocation instead. Any other stage runs as a Map, whose collected result
bounds its width (``MAP_STAGE_MAX_SEGMENTS``): a wider stage is refused here, before anything has run.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import TypeAdapter

from segflow.domain.limits import (
    MAP_STAGE_MAX_SEGMENTS,
    NODE_CONFIG_INLINE_MAX_BYTES,
    SEGMENT_CONFIG_MAX_BYTES,
    SEGMENT_SOURCES_MAX,
)
from segflow.domain.plan import (
    IncomingEdge,
    PartitionPlan,
    SegmentBody,
    SegmentConfig,
    SegmentNode,
    SegmentPlan,
    SegmentType,
    StagePlan,
    compact_json,
)
from segflow.dsl.gc_pause import gc_paused
from segflow.dsl.graph import WorkflowGraph
from segflow.dsl.models import EdgeSpec, NodeSpec
from segflow.dsl.validation import ValidationIssue, WorkflowValidationError
from segflow.nodes.base import NodeType
from segflow.nodes.routing import route_labels

# Bytes of a segment config without its nodes and reads (ids, type, stage, counts, keys).
_SEGMENT_OVERHEAD_BYTES = 220


def _compact_chunks() -> Callable[[Any, int], Sequence[str]]:
    """:func:`compact_json` in pieces to join, by an encoder made once, not at every call (the C encoder when
    there is one): the partitioner measures every node."""
    c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
    if c_make_encoder is None:
        return lambda value, _level: (compact_json(value),)
    chunks: Callable[[Any, int], Sequence[str]] = c_make_encoder(
        None, str, json.encoder.encode_basestring, None, ":", ",", False, False, True
    )
    return chunks


_chunks = _compact_chunks()


def _encoded(value: Any) -> str:
    return "".join(_chunks(value, 0))


_NODES = TypeAdapter(list[SegmentNode])
_CONFIGS = TypeAdapter(list[SegmentConfig])
_PLANS = TypeAdapter(list[SegmentPlan])


def _byte_length(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode())


class _OpenSegment:
    __slots__ = (
        "bytes",
        "dependencies",
        "has_end",
        "node_bytes",
        "node_ids",
        "oversized",
        "pure",
        "read_set",
        "reads",
        "segment_id",
        "segment_type",
        "sources",
        "stage",
        "wires",
    )

    def __init__(
        self, segment_id: str, segment_type: SegmentType, stage: int, dependencies: list[str]
    ) -> None:
        self.segment_id = segment_id
        self.segment_type = segment_type
        self.stage = stage
        self.dependencies = dependencies
        self.node_ids: list[str] = []
        self.wires: list[dict[str, Any]] = []  # each node as its SegmentNode dumps (None fields left out)
        self.reads: list[str] = []
        self.read_set: set[str] = set()
        self.bytes = _SEGMENT_OVERHEAD_BYTES  # the budget's estimate, in characters as it always was
        self.node_bytes = 0  # exact: the nodes' compact JSON in bytes
        self.oversized = False
        self.pure = True
        self.has_end = False
        # The other segments its nodes' incoming edges and reads come from (where the runner finds their
        # records); None once there are more than SEGMENT_SOURCES_MAX (the runner then reads them all).
        self.sources: dict[str, None] | None = {}

    def add_source(self, source: _OpenSegment) -> None:
        if source is self or self.sources is None or source.segment_id in self.sources:
            return
        if len(self.sources) == SEGMENT_SOURCES_MAX:
            self.sources = None
            return
        self.sources[source.segment_id] = None

    def source_list(self) -> list[str] | None:
        return None if self.sources is None else list(self.sources)


def _wire(
    node: NodeSpec, node_type: NodeType, incoming: list[EdgeSpec], outgoing: list[EdgeSpec]
) -> dict[str, Any]:
    """``segment_node(...).model_dump(exclude_none=True)``, built directly: same keys, same order."""
    wire: dict[str, Any] = {"node_id": node.node_id, "type": node.type}
    if node.action_type is not None:
        wire["action_type"] = node.action_type
    if node.target_type is not None:
        wire["target_type"] = node.target_type
    if node.label is not None:
        wire["label"] = node.label
    wire["config"] = node.config
    if node.retry is not None:
        wire["retry"] = node.retry.model_dump()
    if node.timeout_seconds is not None:
        wire["timeout_seconds"] = node.timeout_seconds
    wire["incoming"] = [
        {"source": edge.source}
        if edge.condition is None
        else {"source": edge.source, "condition": edge.condition}
        for edge in incoming
    ]
    if node_type.routes:
        wire["route_labels"] = route_labels(edge.condition for edge in outgoing)
    return wire


def segment_node(
    node: NodeSpec, node_type: NodeType, incoming: list[IncomingEdge], labels: list[str]
) -> SegmentNode:
    """A node as its segment carries it: its definition, its incoming edges and (a judgment) its routes."""
    return SegmentNode(
        node_id=node.node_id,
        type=node.type,
        action_type=node.action_type,
        target_type=node.target_type,
        label=node.label,
        config=node.config,
        retry=node.retry.model_dump() if node.retry else None,
        timeout_seconds=node.timeout_seconds,
        incoming=incoming,
        route_labels=labels if node_type.routes else None,
    )


def partition(
    graph: WorkflowGraph,
    body_key_for: Callable[[str], str] | None = None,
    segment_budget_bytes: int = SEGMENT_CONFIG_MAX_BYTES,
    map_stage_max_segments: int = MAP_STAGE_MAX_SEGMENTS,
) -> PartitionPlan:
    """Partition a validated graph; ``body_key_for`` names the S3 key of an oversized segment's body.

    Raises :class:`WorkflowValidationError` for a stage with side effects wider than one Map may run."""
    with gc_paused():
        segments = _segments(graph, segment_budget_bytes)
        return _plan(graph, segments, body_key_for, segment_budget_bytes, map_stage_max_segments)


def _open_segment(
    node_id: str,
    node_type: NodeType,
    into: list[EdgeSpec],
    segment_of: dict[str, _OpenSegment],
    number: int,
) -> _OpenSegment:
    """A new segment starting at ``node_id``: one stage after the latest segment it depends on."""
    dependencies: dict[str, None] = {}  # ordered and deduplicated: a join of 100k branches stays linear
    stage = 0
    for edge in into:
        dependency = segment_of[edge.source]
        dependencies[dependency.segment_id] = None
        if dependency.stage >= stage:
            stage = dependency.stage + 1
    kind: SegmentType = "linear"
    if node_type.placement == "wait":
        kind = "wait"
    elif node_type.aggregates:
        kind = "aggregator"
    return _OpenSegment(f"s{number:05d}", kind, stage, list(dependencies))


def _segments(graph: WorkflowGraph, segment_budget_bytes: int) -> list[_OpenSegment]:
    """Every node in its segment, in one pass in topological order."""
    nodes, node_types, references = graph.nodes, graph.node_types, graph.references
    incoming, outgoing = graph.incoming, graph.outgoing
    segment_of: dict[str, _OpenSegment] = {}
    segments: list[_OpenSegment] = []
    no_reads: set[str] = set()
    chunks = _chunks

    for node_id in graph.order:
        node_type = node_types[node_id]
        into, out = incoming[node_id], outgoing[node_id]
        wire = _wire(nodes[node_id], node_type, into, out)
        text = "".join(chunks(wire, 0))
        entry_bytes = len(text)
        reads = references.get(node_id, no_reads)
        if node_type.aggregates:
            reads = reads | {edge.source for edge in into}
        segment = None
        # A node continues its predecessor's segment when it is that segment's last node's only successor
        # and its only predecessor, does not wait outside a Lambda, and is not an aggregator.
        if len(into) == 1 and node_type.placement != "wait" and not node_type.aggregates:
            source = into[0].source
            candidate = segment_of[source]
            if len(outgoing[source]) == 1 and candidate.node_ids[-1] == source and not candidate.oversized:
                added = entry_bytes
                for read in reads:
                    if read not in candidate.read_set and segment_of.get(read) is not candidate:
                        added += len(read) + 3
                if candidate.bytes + added <= segment_budget_bytes:
                    segment = candidate
        if segment is None:
            segment = _open_segment(node_id, node_type, into, segment_of, len(segments) + 1)
            segments.append(segment)
        segment.node_ids.append(node_id)
        segment.wires.append(wire)
        segment.bytes += entry_bytes
        segment.node_bytes += entry_bytes if text.isascii() else len(text.encode())
        if entry_bytes > NODE_CONFIG_INLINE_MAX_BYTES:
            segment.oversized = True
        if not node_type.pure:
            segment.pure = False
        if not out:
            segment.has_end = True
        segment_of[node_id] = segment
        for edge in into:
            segment.add_source(segment_of[edge.source])
        for read in reads:
            read_from = segment_of.get(read)
            if read_from is not None:
                segment.add_source(read_from)
        for read in sorted(reads) if len(reads) > 1 else reads:
            if segment_of.get(read) is not segment and read not in segment.read_set:
                segment.read_set.add(read)
                segment.reads.append(read)
                segment.bytes += len(read) + 3
    return segments


def _wire_bytes(segment: _OpenSegment) -> int:
    """Bytes of the segment's config as compact JSON (``SegmentConfig.wire()``) with its nodes inline: its
    other fields as they are encoded, and the nodes' own bytes added up, not encoded again."""
    count = len(segment.node_ids)
    # The partitioner's own values, plain ASCII: written out as json.dumps would.
    header = (
        f'{{"segment_id":"{segment.segment_id}","segment_type":"{segment.segment_type}",'
        f'"stage":{segment.stage},"node_count":{count},"has_end":{"true" if segment.has_end else "false"},'
        '"nodes":[],"reads":[]}'
    )
    reads = _byte_length(_encoded(segment.reads)) - 2 if segment.reads else 0  # inside the brackets
    sources = segment.source_list()
    sources_bytes = 0 if sources is None else len(',"sources":') + _byte_length(_encoded(sources))
    return len(header) + reads + sources_bytes + segment.node_bytes + count - 1


def _plan(
    graph: WorkflowGraph,
    segments: list[_OpenSegment],
    body_key_for: Callable[[str], str] | None,
    segment_budget_bytes: int,
    map_stage_max_segments: int,
) -> PartitionPlan:
    carried = _NODES.validate_python([wire for segment in segments for wire in segment.wires])
    offset = 0
    stages: list[list[str]] = []
    impure_stages: set[int] = set()
    configs: list[dict[str, Any]] = []
    bodies: list[SegmentBody | None] = []
    for segment in segments:
        while len(stages) <= segment.stage:
            stages.append([])
        stages[segment.stage].append(segment.segment_id)
        if not segment.pure:
            impure_stages.add(segment.stage)
        segment_nodes = carried[offset : offset + len(segment.node_ids)]
        offset += len(segment_nodes)
        config: dict[str, Any] = {
            "segment_id": segment.segment_id,
            "segment_type": segment.segment_type,
            "stage": segment.stage,
            "node_count": len(segment_nodes),
            "has_end": segment.has_end,
            "nodes": segment_nodes,
            "reads": segment.reads,
            "sources": segment.source_list(),
        }
        body = None
        if segment.oversized or _wire_bytes(segment) > segment_budget_bytes:
            if body_key_for is None:
                raise ValueError(f"segment {segment.segment_id} needs an S3 body but no body key was given")
            body = SegmentBody(nodes=segment_nodes, reads=segment.reads)
            config.update(nodes=None, reads=[], body_key=body_key_for(segment.segment_id))
        configs.append(config)
        bodies.append(body)
    # Each list validated in one call, as each item would be alone.
    plans = _PLANS.validate_python(
        [
            {
                "segment_id": segment.segment_id,
                "segment_type": segment.segment_type,
                "stage": segment.stage,
                "node_ids": segment.node_ids,
                "dependencies": segment.dependencies,
                "has_end": segment.has_end,
                "config": config,
                "body": body,
            }
            for segment, config, body in zip(segments, _CONFIGS.validate_python(configs), bodies, strict=True)
        ]
    )
    too_wide = [
        ValidationIssue(
            "workflow",
            f"stage {index} runs {len(stages[index])} segments with side effects at once; at most "
            f"{map_stage_max_segments} (one Map runs them, and its result must stay under Step Functions' "
            "256 KB limit)",
        )
        for index in sorted(impure_stages)
        if len(stages[index]) > map_stage_max_segments
    ]
    if too_wide:
        raise WorkflowValidationError(too_wide)
    return PartitionPlan(
        workflow_id=graph.workflow_id,
        node_count=len(graph.nodes),
        segments=plans,
        stages=[
            StagePlan(stage=index, segment_ids=ids, pure=index not in impure_stages)
            for index, ids in enumerate(stages)
        ],
        sinks=graph.sinks(),
    )
