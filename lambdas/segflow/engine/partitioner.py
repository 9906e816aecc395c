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

from collections.abc import Callable

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
from segflow.dsl.graph import WorkflowGraph
from segflow.dsl.models import NodeSpec
from segflow.dsl.validation import ValidationIssue, WorkflowValidationError
from segflow.nodes.base import NodeType
from segflow.nodes.routing import route_labels

# Bytes of a segment config without its nodes and reads (ids, type, stage, counts, keys).
_SEGMENT_OVERHEAD_BYTES = 220


class _OpenSegment:
    def __init__(
        self, segment_id: str, segment_type: SegmentType, stage: int, dependencies: list[str]
    ) -> None:
        self.segment_id = segment_id
        self.segment_type = segment_type
        self.stage = stage
        self.dependencies = dependencies
        self.nodes: list[SegmentNode] = []
        self.reads: list[str] = []
        self.read_set: set[str] = set()
        self.bytes = _SEGMENT_OVERHEAD_BYTES
        self.oversized = False

    @property
    def node_ids(self) -> list[str]:
        return [node.node_id for node in self.nodes]


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


def _segment_node(graph: WorkflowGraph, node_id: str) -> SegmentNode:
    return segment_node(
        graph.nodes[node_id],
        graph.node_types[node_id],
        [IncomingEdge(source=e.source, condition=e.condition) for e in graph.incoming[node_id]],
        route_labels(e.condition for e in graph.outgoing[node_id]),
    )


def _reads_of(graph: WorkflowGraph, node_id: str) -> set[str]:
    reads = set(graph.references.get(node_id, set()))
    if graph.node_types[node_id].aggregates:
        reads |= {edge.source for edge in graph.incoming[node_id]}
    return reads


def _continues_segment(graph: WorkflowGraph, node_id: str, segment_of: dict[str, _OpenSegment]) -> bool:
    incoming = graph.incoming[node_id]
    if len(incoming) != 1 or graph.node_types[node_id].placement == "wait":
        return False
    if graph.node_types[node_id].aggregates:
        return False
    source = incoming[0].source
    if len(graph.outgoing[source]) != 1:
        return False
    segment = segment_of[source]
    return segment.nodes[-1].node_id == source and not segment.oversized


def _sources(segment: _OpenSegment, segment_of: dict[str, _OpenSegment]) -> list[str] | None:
    """The other segments the segment's incoming edges and reads come from (where the runner finds their
    records); None when there are more than SEGMENT_SOURCES_MAX."""
    found: dict[str, None] = {}
    for node_id in [edge.source for node in segment.nodes for edge in node.incoming] + segment.reads:
        source = segment_of[node_id]
        if source is not segment:
            found[source.segment_id] = None
            if len(found) > SEGMENT_SOURCES_MAX:
                return None
    return list(found)


def partition(
    graph: WorkflowGraph,
    body_key_for: Callable[[str], str] | None = None,
    segment_budget_bytes: int = SEGMENT_CONFIG_MAX_BYTES,
    map_stage_max_segments: int = MAP_STAGE_MAX_SEGMENTS,
) -> PartitionPlan:
    """Partition a validated graph; ``body_key_for`` names the S3 key of an oversized segment's body.

    Raises :class:`WorkflowValidationError` for a stage with side effects wider than one Map may run."""
    segment_of: dict[str, _OpenSegment] = {}
    segments: list[_OpenSegment] = []

    def open_segment(node_id: str) -> _OpenSegment:
        dependencies: dict[str, None] = {}  # ordered and deduplicated: a join of 100k branches stays linear
        stage = 0
        for edge in graph.incoming[node_id]:
            dependency = segment_of[edge.source]
            dependencies[dependency.segment_id] = None
            stage = max(stage, dependency.stage + 1)
        node_type = graph.node_types[node_id]
        kind: SegmentType = (
            "wait" if node_type.placement == "wait" else "aggregator" if node_type.aggregates else "linear"
        )
        segment = _OpenSegment(f"s{len(segments) + 1:05d}", kind, stage, list(dependencies))
        segments.append(segment)
        return segment

    for node_id in graph.order:
        entry = _segment_node(graph, node_id)
        entry_bytes = len(compact_json(entry.model_dump(exclude_none=True)))
        reads = _reads_of(graph, node_id)
        segment = None
        if _continues_segment(graph, node_id, segment_of):
            candidate = segment_of[graph.incoming[node_id][0].source]
            new_reads = {
                r for r in reads if r not in candidate.read_set and segment_of.get(r) is not candidate
            }
            added = entry_bytes + sum(len(r) + 3 for r in new_reads)
            if candidate.bytes + added <= segment_budget_bytes:
                segment = candidate
        if segment is None:
            segment = open_segment(node_id)
        segment.nodes.append(entry)
        segment.bytes += entry_bytes
        if entry_bytes > NODE_CONFIG_INLINE_MAX_BYTES:
            segment.oversized = True
        segment_of[node_id] = segment
        for read in sorted(reads):
            if segment_of.get(read) is not segment and read not in segment.read_set:
                segment.read_set.add(read)
                segment.reads.append(read)
                segment.bytes += len(read) + 3

    stages: list[list[str]] = []
    impure_stages: set[int] = set()
    plans: list[SegmentPlan] = []
    for segment in segments:
        while len(stages) <= segment.stage:
            stages.append([])
        stages[segment.stage].append(segment.segment_id)
        if not all(graph.node_types[node.node_id].pure for node in segment.nodes):
            impure_stages.add(segment.stage)
        has_end = any(not graph.outgoing[node.node_id] for node in segment.nodes)
        config = SegmentConfig(
            segment_id=segment.segment_id,
            segment_type=segment.segment_type,
            stage=segment.stage,
            node_count=len(segment.nodes),
            has_end=has_end,
            nodes=segment.nodes,
            reads=segment.reads,
            sources=_sources(segment, segment_of),
        )
        body = None
        too_big = segment.oversized or len(compact_json(config.wire()).encode()) > segment_budget_bytes
        if too_big:
            if body_key_for is None:
                raise ValueError(f"segment {segment.segment_id} needs an S3 body but no body key was given")
            body = SegmentBody(nodes=segment.nodes, reads=segment.reads)
            config = config.model_copy(
                update={"nodes": None, "reads": [], "body_key": body_key_for(segment.segment_id)}
            )
        plans.append(
            SegmentPlan(
                segment_id=segment.segment_id,
                segment_type=segment.segment_type,
                stage=segment.stage,
                node_ids=segment.node_ids,
                dependencies=segment.dependencies,
                has_end=has_end,
                config=config,
                body=body,
            )
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
