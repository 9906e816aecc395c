"""What the partitioner produces: segment configs (the Map items), the manifest and the partition map."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

SegmentType = Literal["linear", "aggregator", "wait"]


def compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


class IncomingEdge(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    source: str
    condition: str | None = None


class SegmentNode(BaseModel):
    """A node as its segment carries it: its own definition and its incoming edges, nothing else."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    node_id: str
    type: str
    action_type: str | None = None
    target_type: str | None = None
    label: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    retry: dict[str, Any] | None = None
    timeout_seconds: float | None = None
    incoming: list[IncomingEdge] = Field(default_factory=list)
    route_labels: list[str] | None = Field(default=None, description="Conditions of a judgment's edges.")

    @property
    def subtype(self) -> str | None:
        return self.action_type or self.target_type


class SegmentBody(BaseModel):
    """The bulky part of a segment config, kept in S3 when the config would exceed its budget."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    nodes: list[SegmentNode]
    reads: list[str] = Field(default_factory=list)


class SegmentConfig(BaseModel):
    """One Map item: everything ExecuteSegment needs to run one segment, and nothing about the others."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    segment_id: str
    segment_type: SegmentType
    stage: int
    node_count: int
    has_end: bool = False
    nodes: list[SegmentNode] | None = None
    reads: list[str] = Field(default_factory=list, description="Outputs of earlier nodes this segment needs.")
    body_key: str | None = Field(default=None, description="S3 key of the SegmentBody when not inline.")
    sources: list[str] | None = Field(
        default=None,
        description="The other segments its incoming edges and reads come from (where their records are); "
        "None: too many to name, or not known.",
    )

    def wire(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True, exclude_defaults=False)


class SegmentPlan(BaseModel):
    """A segment as the partitioner sees it."""

    model_config = ConfigDict(defer_build=True)

    segment_id: str
    segment_type: SegmentType
    stage: int
    node_ids: list[str]
    dependencies: list[str]
    has_end: bool
    config: SegmentConfig
    body: SegmentBody | None = None

    def manifest_entry(self, wired: dict[str, Any] | None = None) -> dict[str, Any]:
        """The seed's manifest entry shape: {segment_id, segment_type, segment_config, dependencies}
        (``wired``: the config's :meth:`SegmentConfig.wire`, when the caller has it)."""
        return {
            "segment_id": self.segment_id,
            "segment_type": self.segment_type,
            "segment_config": wired if wired is not None else self.config.wire(),
            "dependencies": self.dependencies,
        }


class StagePlan(BaseModel):
    """Segments that may run at the same time. A stage of several segments is a parallel group."""

    model_config = ConfigDict(defer_build=True)

    stage: int
    segment_ids: list[str]
    # Every node of every segment is pure (no side effect, no waiting): running the segments one after
    # another in one invocation gives what a Map would, without its Lambda invocations and transitions.
    pure: bool = False

    @property
    def stage_type(self) -> str:
        return "parallel_group" if len(self.segment_ids) > 1 else "single"

    @property
    def runs_in_one_invocation(self) -> bool:
        return len(self.segment_ids) == 1 or self.pure


class PartitionPlan(BaseModel):
    model_config = ConfigDict(defer_build=True)

    workflow_id: str
    node_count: int
    segments: list[SegmentPlan]
    stages: list[StagePlan]
    sinks: list[str]
    _by_id: dict[str, SegmentPlan] | None = PrivateAttr(default=None)

    def stage_items(self, stage: int) -> list[dict[str, Any]]:
        if self._by_id is None:  # built once: a plan's writer asks for every stage's items in turn
            self._by_id = {segment.segment_id: segment for segment in self.segments}
        return [self._by_id[segment_id].config.wire() for segment_id in self.stages[stage].segment_ids]

    def partition_map(self) -> dict[str, Any]:
        """The reference copy: the whole partition, for debugging and regression only."""
        return {
            "usage": "reference_only",
            "workflow_id": self.workflow_id,
            "node_count": self.node_count,
            "segment_count": len(self.segments),
            "stage_count": len(self.stages),
            "segments": [
                {
                    "segment_id": s.segment_id,
                    "segment_type": s.segment_type,
                    "stage": s.stage,
                    "node_ids": s.node_ids,
                    "dependencies": s.dependencies,
                    "has_end": s.has_end,
                }
                for s in self.segments
            ],
            "stages": [
                {
                    "stage": st.stage,
                    "type": st.stage_type,
                    "branches": st.segment_ids,
                    "branch_count": len(st.segment_ids),
                    "pure": st.pure,
                }
                for st in self.stages
            ],
        }
