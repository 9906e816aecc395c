"""The bucket side of a run: submissions in, the plan (stage entries, batches, manifest) out and back,
reference copies beside them (keys laid out by :mod:`segflow.domain.s3_layout`)."""

from __future__ import annotations

import json
import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

from botocore.exceptions import ClientError

from segflow.domain import s3_layout
from segflow.domain.integrity import verify_submission
from segflow.domain.limits import INLINE_STAGE_MAX_BYTES, STAGE_IN_CHUNK_MAX_BYTES, STAGES_PER_CHUNK
from segflow.domain.plan import PartitionPlan, SegmentBody, SegmentPlan, StagePlan, compact_json
from segflow.domain.stage_layout import BatchRef, StageEntry, chunk_of
from segflow.domain.stored_plan import PlanSummary
from segflow.engine.batching import stage_batches

REFERENCE_ONLY_METADATA = {"usage": "reference_only"}


class SubmissionNotFound(LookupError):
    pass


def plan_documents(prefix: str, plan: PartitionPlan) -> tuple[list[tuple[str, str]], list[dict[str, Any]]]:
    """What a plan is stored as under ``prefix``: (key, JSON text) of every object, and each stage's summary
    (``{count, pure, batches, bytes}``, :class:`~segflow.domain.stage_layout.StageEntry`).

    The objects: the stages' entries, :data:`STAGES_PER_CHUNK` to a chunk; a stage's own object when its
    configs do not fit its entry or it runs in several batches; a Map's items when they do not travel inline;
    the oversized segments' bodies; the manifest; the sinks. Their number grows with the stages that need an
    object of their own (wide ones), not with the stages."""
    segments = {segment.segment_id: segment for segment in plan.segments}
    wired = {segment.segment_id: segment.config.wire() for segment in plan.segments}
    writes: list[tuple[str, str]] = []
    summaries: list[dict[str, Any]] = []
    chunk: list[dict[str, Any]] = []
    for stage in plan.stages:
        entry = _stage_entry(prefix, stage, stage_batches(stage, segments), wired, writes)
        chunk.append(entry.model_dump(exclude_none=True, exclude_defaults=True))
        summaries.append(entry.summary())
        if len(chunk) == STAGES_PER_CHUNK or stage.stage == len(plan.stages) - 1:
            writes.append((s3_layout.stage_chunk_key(prefix, chunk_of(stage.stage)), compact_json(chunk)))
            chunk = []
    for segment in plan.segments:
        if segment.body is not None and segment.config.body_key:
            writes.append((segment.config.body_key, segment.body.model_dump_json(exclude_none=True)))
    manifest = [segment.manifest_entry(wired[segment.segment_id]) for segment in plan.segments]
    writes.append((s3_layout.manifest_key(prefix), compact_json(manifest)))
    writes.append((s3_layout.sinks_key(prefix), compact_json(plan.sinks)))
    return writes, summaries


def _stage_entry(
    prefix: str,
    stage: StagePlan,
    batches: list[list[SegmentPlan]],
    wired: dict[str, dict[str, Any]],
    writes: list[tuple[str, str]],
) -> StageEntry:
    """The stage's entry; the objects of its own it needs are added to ``writes``."""
    entry = StageEntry(count=len(stage.segment_ids), pure=stage.pure, batches=len(batches))
    if len(batches) == 1:
        configs = [wired[segment.segment_id] for segment in batches[0]]
        text = compact_json(configs)
        if len(text.encode()) <= STAGE_IN_CHUNK_MAX_BYTES:
            entry.segments = configs
        else:
            writes.append((s3_layout.stage_segments_key(prefix, stage.stage), text))
        return entry
    # A list of batches, each a list of configs that one invocation reads by byte range.
    parts = [compact_json([wired[segment.segment_id] for segment in batch]).encode() for batch in batches]
    refs: list[dict[str, Any]] = []
    offset = 1  # after "["
    for index, part in enumerate(parts):
        refs.append(
            BatchRef(stage=stage.stage, batch=index, start=offset, end=offset + len(part)).model_dump()
        )
        offset += len(part) + 1  # and its "," (or the closing "]")
    writes.append(
        (s3_layout.stage_segments_key(prefix, stage.stage), (b"[" + b",".join(parts) + b"]").decode())
    )
    # Inline items travel back in a Lambda result, which the runtime serializes with json.dumps' default
    # (spaced) separators: budget that form, not the compact one.
    entry.bytes = len(json.dumps(refs).encode())
    if entry.bytes <= INLINE_STAGE_MAX_BYTES:
        entry.items = refs
    else:
        writes.append((s3_layout.stage_batches_key(prefix, stage.stage), compact_json(refs)))
    return entry


class StageReads(ABC):
    """Reading a stored plan's stages, over the two reads a store provides (an object, a byte range of one).

    Chunks are cached (a Task going through many stages reads each chunk once), and so are the configs of the
    last stage read from an object of its own."""

    _CHUNKS_KEPT = 4

    def __init__(self) -> None:
        self._reads_lock = threading.Lock()
        self._chunks: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
        self._last_items: tuple[str, list[dict[str, Any]]] | None = None

    @abstractmethod
    def _get_json(self, key: str) -> Any:
        """The JSON object at ``key``."""

    @abstractmethod
    def _get_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` of the object at ``key``."""

    def read_stage(self, prefix: str, stage: int) -> StageEntry:
        key = s3_layout.stage_chunk_key(prefix, chunk_of(stage))
        with self._reads_lock:
            chunk = self._chunks.get(key)
            if chunk is not None:
                self._chunks.move_to_end(key)
        if chunk is None:
            chunk = cast(list[dict[str, Any]], self._get_json(key))
            with self._reads_lock:
                self._chunks[key] = chunk
                while len(self._chunks) > self._CHUNKS_KEPT:
                    self._chunks.popitem(last=False)
        return StageEntry.model_validate(chunk[stage - chunk_of(stage) * STAGES_PER_CHUNK])

    def read_stage_summary(self, prefix: str, stage: int) -> dict[str, Any]:
        """``{count, pure, batches, bytes}`` of a stage."""
        return self.read_stage(prefix, stage).summary()

    def read_stage_items(self, prefix: str, stage: int) -> list[dict[str, Any]]:
        """Every segment config of the stage (a stage run as a Map: batch after batch)."""
        entry = self.read_stage(prefix, stage)
        if entry.segments is not None:
            return entry.segments
        key = s3_layout.stage_segments_key(prefix, stage)
        with self._reads_lock:
            last = self._last_items
        if last is not None and last[0] == key:
            return last[1]
        stored = self._get_json(key)
        items = cast(
            list[dict[str, Any]], [c for batch in stored for c in batch] if entry.batches > 1 else stored
        )
        with self._reads_lock:
            self._last_items = (key, items)
        return items

    def read_batch(self, prefix: str, batch: BatchRef) -> list[dict[str, Any]]:
        """The segment configs of one batch of a stage run as a Map: one ranged read."""
        key = s3_layout.stage_segments_key(prefix, batch.stage)
        return cast(list[dict[str, Any]], json.loads(self._get_range(key, batch.start, batch.end)))


class ManifestStore(StageReads):
    def __init__(self, bucket: str, s3_client: Any) -> None:
        super().__init__()
        self.bucket = bucket
        self._s3 = s3_client

    def _put(self, key: str, body: str, metadata: dict[str, str] | None = None) -> None:
        self._s3.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=body.encode(),
            ContentType="application/json",
            Metadata=metadata or {},
        )

    def _get_json(self, key: str) -> Any:
        return json.loads(self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())

    def _get_range(self, key: str, start: int, end: int) -> bytes:
        answer = self._s3.get_object(Bucket=self.bucket, Key=key, Range=f"bytes={start}-{end - 1}")
        return cast(bytes, answer["Body"].read())

    def read_submission(self, tenant_id: str, key: str) -> Any:
        """A workflow or input uploaded for this tenant; keys of other tenants are refused, and so is a body
        that does not hash to the digest its key names (DefinitionIntegrityError)."""
        allowed = f"{s3_layout.SUBMISSIONS}{tenant_id}/"
        if not key.startswith(allowed):
            raise PermissionError(f"s3_key must be under {allowed}")
        try:
            body = self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as error:
            # Without s3:ListBucket (which would reveal every tenant's key names) S3 answers a missing key
            # with 403: within the submissions prefix this function may read, that means "not there".
            code = error.response["Error"]["Code"]
            if code not in ("NoSuchKey", "AccessDenied"):
                raise
            message = error.response["Error"].get("Message", "")
            raise SubmissionNotFound(
                f"no submission at s3://{self.bucket}/{key} ({code}: {message})"
            ) from error
        verify_submission(key, body)
        return json.loads(body)

    def write_plan(self, prefix: str, plan: PartitionPlan) -> list[dict[str, Any]]:
        """Write the plan's objects (:func:`plan_documents`). Returns each stage's summary:
        ``{count, pure, batches, bytes}``."""
        writes, index = plan_documents(prefix, plan)
        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(lambda kv: self._put(*kv), writes))
        return index

    def write_reference_copy(self, key: str, document: Any) -> None:
        self._put(key, compact_json(document), REFERENCE_ONLY_METADATA)

    def read_plan_summary(self, prefix: str) -> tuple[PlanSummary, float] | None:
        """The stored plan's summary and when it was written (S3's LastModified, what lifecycle rules count
        from, in epoch seconds); None when the plan is not all stored, or its summary is unreadable."""
        try:
            response = self._s3.get_object(Bucket=self.bucket, Key=s3_layout.plan_summary_key(prefix))
        except ClientError as error:
            # Without s3:ListBucket a missing key answers 403 (see read_submission): not there either way.
            if error.response["Error"]["Code"] not in ("NoSuchKey", "AccessDenied", "404", "403"):
                raise
            return None
        try:
            summary = PlanSummary.model_validate_json(response["Body"].read())
        except ValueError:  # a summary of another shape is no summary: the plan is written again
            return None
        return summary, response["LastModified"].timestamp()

    def write_plan_summary(self, prefix: str, summary: PlanSummary) -> None:
        """Written after every other object of the plan: its presence says the plan is complete."""
        self._put(s3_layout.plan_summary_key(prefix), summary.model_dump_json())

    def read_body(self, key: str) -> SegmentBody:
        return SegmentBody.model_validate(self._get_json(key))

    def read_sinks(self, prefix: str) -> list[str]:
        return cast(list[str], self._get_json(s3_layout.sinks_key(prefix)))

    def read_json(self, key: str) -> Any:
        return self._get_json(key)
