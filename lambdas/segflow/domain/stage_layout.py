"""How a stored plan describes its stages: each stage's entry (kept in its chunk), and the batches Map items
name.

A stage runs as one Task when it is one batch (one segment, pure segments only, or segments with side effects
that fit one batch), else as a Map whose items are :class:`BatchRef` pointers, one per batch: the batch's
segment configs stay in the stage's own object, which each invocation reads only its part of (an S3 byte
range). Entries are stored :data:`~segflow.domain.limits.STAGES_PER_CHUNK` to an object, found by arithmetic
from the stage's number (:func:`chunk_of`), so a plan has one object per that many stages plus one or two per
stage that needs its own (keys: :mod:`segflow.domain.s3_layout`).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from segflow.domain.limits import STAGES_PER_CHUNK


class BatchRef(BaseModel):
    """One Map item: batch ``batch`` of stage ``stage``, whose segment configs (a JSON array) are bytes
    ``[start, end)`` of the stage's object."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    stage: int = Field(ge=0)
    batch: int = Field(ge=0)
    start: int = Field(ge=0)
    end: int = Field(gt=0)


class StageEntry(BaseModel):
    """How one stage runs, and where its segment configs are."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    count: int = Field(ge=1, description="Its segments.")
    pure: bool = False
    batches: int = Field(
        default=1, ge=1, description="1: one Task runs the stage; more: a Map, one item each."
    )
    bytes: int = Field(default=0, ge=0, description="Its Map items, as json.dumps writes them (spaced).")
    segments: list[dict[str, Any]] | None = Field(
        default=None, description="The segment configs, kept in the chunk (None: in the stage's own object)."
    )
    items: list[dict[str, Any]] | None = Field(
        default=None, description="A Map's items (BatchRef) when they travel inline (None: from S3)."
    )

    @property
    def runs_as_task(self) -> bool:
        return self.batches == 1

    def summary(self) -> dict[str, Any]:
        """``{count, pure, batches, bytes}``: how the stage runs, without its configs."""
        return self.model_dump(include={"count", "pure", "batches", "bytes"})


def chunk_of(stage: int) -> int:
    """The chunk holding stage ``stage``'s entry."""
    return stage // STAGES_PER_CHUNK
