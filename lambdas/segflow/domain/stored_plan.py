"""A stored plan's identity and summary: the key a definition's plan is stored under, what it says of itself.

A plan (manifest, stage items, bodies, stage index, sinks, reference copies) depends on the definition's
content and on the code that validated and partitioned it, nothing else: it is stored once under a **plan
key**, a hash of both, and every execution of that definition by that code reads it instead of partitioning
again. The plan's summary (:class:`PlanSummary`) is its last object written: its presence says the plan is
complete, and it carries the facts an execution needs without the graph (counts, the first stage, how to
count what a route skipped).

Objects expire by S3 lifecycle ``retention`` days after they were written, so a plan is reused only while its
summary is younger than a share of that period (:data:`~segflow.domain.limits.PLAN_REUSE_SHARE_OF_RETENTION`);
an older one is written again, all of it, which starts its objects' period afresh.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from segflow.domain import limits
from segflow.domain.integrity import document_sha256

# The stored plan's layout and summary: a change of either is a new format (a new key, so a new plan).
PLAN_FORMAT_VERSION = 2  # 2: stages stored in chunks, Map stages cut into batches

# The limits that shape a partition, named in the key (they are code too, so the code's fingerprint covers
# them as well; naming them keeps the key honest should that fingerprint ever be narrowed).
_PARTITION_LIMITS = {
    "segment_config_max_bytes": limits.SEGMENT_CONFIG_MAX_BYTES,
    "node_config_inline_max_bytes": limits.NODE_CONFIG_INLINE_MAX_BYTES,
    "inline_stage_max_bytes": limits.INLINE_STAGE_MAX_BYTES,
    "map_stage_max_segments": limits.MAP_STAGE_MAX_SEGMENTS,
    "max_nodes_per_workflow": limits.MAX_NODES_PER_WORKFLOW,
    "batch_max_segments": limits.BATCH_MAX_SEGMENTS,
    "stages_per_chunk": limits.STAGES_PER_CHUNK,
    "stage_in_chunk_max_bytes": limits.STAGE_IN_CHUNK_MAX_BYTES,
    "execute_segment_timeout_seconds": limits.EXECUTE_SEGMENT_TIMEOUT_SECONDS,
}


def plan_key(definition_sha256: str, code_version: str) -> str:
    """The key of the plan of the definition whose content hashes to ``definition_sha256``, made by the code
    ``code_version`` names: equal keys, equal plans."""
    return document_sha256(
        {
            "format": PLAN_FORMAT_VERSION,
            "code": code_version,
            "limits": _PARTITION_LIMITS,
            "definition": definition_sha256,
        }
    )


class RouteGuard(BaseModel):
    """``nodes`` nodes that run exactly when ``judgment`` chose one of ``labels`` (else they are skipped)."""

    model_config = ConfigDict(defer_build=True)

    judgment: str
    labels: list[str]
    nodes: int


class SkipRule(BaseModel):
    """How a successful run's skipped nodes are counted (:mod:`segflow.engine.skips`): from the routes its
    judgments chose, and the records of the ``unknown`` nodes; every other node ran."""

    model_config = ConfigDict(defer_build=True)

    routed: list[RouteGuard] = Field(default_factory=list)
    unknown: list[str] = Field(default_factory=list)


class PlanSummary(BaseModel):
    """What an execution needs of a stored plan besides its stages: written last, read first."""

    model_config = ConfigDict(defer_build=True)

    format: int = PLAN_FORMAT_VERSION
    plan_key: str
    workflow_id: str
    workflow_name: str
    node_count: int
    segment_count: int
    stage_count: int
    first_stage: dict[str, Any] = Field(description="The first stage's {count, bytes, pure}.")
    skips: SkipRule = Field(default_factory=SkipRule)


def plan_reusable(written_at: float, now: float, retention_days: int) -> bool:
    """Whether a plan whose summary was written at ``written_at`` (epoch seconds) may still be reused: its
    objects then outlive a new execution by at least the rest of the reuse window."""
    return now - written_at < retention_days * 86_400 * limits.PLAN_REUSE_SHARE_OF_RETENTION
