"""The bucket side of a run: submissions in, manifest and stage items out, reference copies beside them
(keys laid out by :mod:`segflow.domain.s3_layout`)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

from botocore.exceptions import ClientError

from segflow.domain import s3_layout
from segflow.domain.integrity import verify_submission
from segflow.domain.plan import PartitionPlan, SegmentBody, compact_json
from segflow.domain.stored_plan import PlanSummary

REFERENCE_ONLY_METADATA = {"usage": "reference_only"}


class SubmissionNotFound(LookupError):
    pass


def plan_documents(prefix: str, plan: PartitionPlan) -> tuple[list[tuple[str, str]], list[dict[str, Any]]]:
    """What a plan is stored as under ``prefix``: (key, JSON text) of every object, and the stage index (each
    stage's ``{count, bytes, pure}``)."""
    writes: list[tuple[str, str]] = []
    index: list[dict[str, Any]] = []
    for stage in plan.stages:
        stage_items = plan.stage_items(stage.stage)
        items = compact_json(stage_items)
        # Inline items travel back in a Lambda result, which the runtime serializes with json.dumps'
        # default (spaced) separators: budget that form, not the compact one.
        spaced_bytes = len(json.dumps(stage_items, ensure_ascii=False).encode())
        writes.append((s3_layout.stage_items_key(prefix, stage.stage), items))
        summary = {"count": len(stage.segment_ids), "bytes": spaced_bytes, "pure": stage.pure}
        meta = {"stage": stage.stage, "segment_ids": stage.segment_ids, **summary}
        writes.append((s3_layout.stage_meta_key(prefix, stage.stage), compact_json(meta)))
        index.append(summary)
    for segment in plan.segments:
        if segment.body is not None and segment.config.body_key:
            writes.append((segment.config.body_key, segment.body.model_dump_json(exclude_none=True)))
    writes.append((s3_layout.manifest_key(prefix), compact_json([s.manifest_entry() for s in plan.segments])))
    writes.append((s3_layout.sinks_key(prefix), compact_json(plan.sinks)))
    writes.append((s3_layout.stage_index_key(prefix), compact_json(index)))
    return writes, index


class ManifestStore:
    def __init__(self, bucket: str, s3_client: Any) -> None:
        self.bucket = bucket
        self._s3 = s3_client
        # The last stage's items read (they never change): a Task running a stage reads them to find the
        # stage's first segment, then again for the others.
        self._last_items: tuple[str, list[dict[str, Any]]] | None = None
        self._indexes: dict[str, list[dict[str, Any]]] = {}

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
        """Write the manifest, stage items, bodies and stage index. Returns the index: each stage's
        ``{count, bytes, pure}``."""
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

    def read_stage_meta(self, prefix: str, stage: int) -> dict[str, Any]:
        return cast(dict[str, Any], self._get_json(s3_layout.stage_meta_key(prefix, stage)))

    def read_stage_summary(self, prefix: str, stage: int) -> dict[str, Any]:
        """``{count, bytes, pure}`` of a stage, from the stage index (read once per store: one invocation)."""
        if prefix not in self._indexes:
            self._indexes[prefix] = self._get_json(s3_layout.stage_index_key(prefix))
        return self._indexes[prefix][stage]

    def read_stage_items(self, prefix: str, stage: int) -> list[dict[str, Any]]:
        key = s3_layout.stage_items_key(prefix, stage)
        if self._last_items is not None and self._last_items[0] == key:
            return self._last_items[1]
        items = cast(list[dict[str, Any]], self._get_json(key))
        self._last_items = (key, items)
        return items

    def read_body(self, key: str) -> SegmentBody:
        return SegmentBody.model_validate(self._get_json(key))

    def read_sinks(self, prefix: str) -> list[str]:
        return cast(list[str], self._get_json(s3_layout.sinks_key(prefix)))

    def read_json(self, key: str) -> Any:
        return self._get_json(key)
