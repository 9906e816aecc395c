"""How a stage is cut into batches, each run by one ExecuteSegment invocation, when its plan is stored.

A stage of one segment, or of pure segments only, is one batch (one Task runs it, its segments one after
another). A stage with side effects is cut, in segment id order, into batches of at most
:data:`~segflow.domain.limits.BATCH_MAX_SEGMENTS` segments whose worst case fits one invocation: each node may
take its ``timeout_seconds`` or its type's ``blocks_for`` (:func:`~segflow.nodes.base.time_needed`), the nodes
of a type run at most ``max_concurrency`` (and the batch's thread count) at once, and a segment runs its nodes
one after another. A batch of one segment is always allowed: a node longer than an invocation still runs
(:mod:`segflow.engine.segment_runner` decides what starts). Each batch is a contiguous range of the stage's
sorted segment ids, so one invocation finds its segments' records with one range query.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from segflow.domain.limits import (
    BATCH_MAX_CONCURRENT_SEGMENTS,
    BATCH_MAX_SEGMENTS,
    EXECUTE_SEGMENT_TIMEOUT_SECONDS,
    SEGMENT_YIELD_MARGIN_MS,
)
from segflow.domain.plan import SegmentNode, SegmentPlan, StagePlan
from segflow.nodes import registry
from segflow.nodes.base import NodeType, time_needed

# What a batch may take at its worst: the invocation's time before its segments must yield.
BATCH_SECONDS = EXECUTE_SEGMENT_TIMEOUT_SECONDS - SEGMENT_YIELD_MARGIN_MS / 1000


def _node_type(node: SegmentNode) -> NodeType | None:
    return registry.lookup(node.type, node.subtype)


@dataclass
class _Load:
    """A batch being filled: each node type's seconds of work, how many run at once, the longest segment."""

    segments: int = 0
    work: dict[str, float] = field(default_factory=dict)
    width: dict[str, int] = field(default_factory=dict)
    longest: float = 0.0

    def seconds(self) -> float:
        """The batch's worst case: each type's work spread over its width, then its longest segment again
        (list scheduling's bound: the last segment may start when the others are nearly done)."""
        return sum(self.work[key] / self.width[key] for key in self.work) + self.longest

    def add(self, costs: list[tuple[NodeType, float]]) -> None:
        self.segments += 1
        for node_type, seconds in costs:
            self.work[node_type.key] = self.work.get(node_type.key, 0.0) + seconds
            self.width[node_type.key] = min(
                BATCH_MAX_CONCURRENT_SEGMENTS, node_type.max_concurrency or BATCH_MAX_CONCURRENT_SEGMENTS
            )
        self.longest = max(self.longest, sum(seconds for _, seconds in costs))


def segment_costs(
    segment: SegmentPlan, node_type_of: Callable[[SegmentNode], NodeType | None] = _node_type
) -> list[tuple[NodeType, float]]:
    """The segment's nodes that may block its invocation, with the longest each may take."""
    nodes = segment.body.nodes if segment.body is not None else segment.config.nodes or []
    costs: list[tuple[NodeType, float]] = []
    for node in nodes:
        node_type = node_type_of(node)
        if node_type is None or node_type.placement != "segment":  # waits and approvals pause instead
            continue
        seconds = time_needed(node_type, node.config, node.timeout_seconds)
        if seconds:
            costs.append((node_type, seconds))
    return costs


def stage_batches(
    stage: StagePlan,
    segments: dict[str, SegmentPlan],
    max_segments: int = BATCH_MAX_SEGMENTS,
    budget_seconds: float = BATCH_SECONDS,
) -> list[list[SegmentPlan]]:
    """The stage's batches: one (in the stage's order) when one Task runs it all, else contiguous runs of
    its sorted segment ids."""
    if stage.runs_in_one_invocation:
        return [[segments[segment_id] for segment_id in stage.segment_ids]]
    batches: list[list[SegmentPlan]] = []
    current: list[SegmentPlan] = []
    load = _Load()
    for segment_id in sorted(stage.segment_ids):
        segment = segments[segment_id]
        costs = segment_costs(segment)
        trial = _Load(load.segments, dict(load.work), dict(load.width), load.longest)
        trial.add(costs)
        if current and (trial.segments > max_segments or trial.seconds() > budget_seconds):
            batches.append(current)
            current, load = [], _Load()
            load.add(costs)
        else:
            load = trial
        current.append(segment)
    batches.append(current)
    return batches
