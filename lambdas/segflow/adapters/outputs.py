"""Node outputs, stored once: inline in the node's record when small, in S3 when large (one threshold).

Large node outputs are content-addressed (their key ends in the SHA-256 of their bytes).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from segflow.domain import s3_layout
from segflow.domain.limits import OUTPUT_INLINE_MAX_BYTES
from segflow.domain.records import StoredOutput


class NodeOutputStore:
    def __init__(self, bucket: str, s3_client: Any, inline_max_bytes: int = OUTPUT_INLINE_MAX_BYTES) -> None:
        self.bucket = bucket
        self._s3 = s3_client
        self.inline_max_bytes = inline_max_bytes

    def save_node_output(self, tenant_id: str, execution_id: str, node_id: str, value: Any) -> StoredOutput:
        return self._save(
            lambda digest: s3_layout.node_output_key(tenant_id, execution_id, node_id, digest), value
        )

    def save_execution_data(
        self, tenant_id: str, execution_id: str, name: str, value: Any, inline_max_bytes: int | None = None
    ) -> StoredOutput:
        """The execution's input or result (``name``: "input" or "output"), inline up to
        ``inline_max_bytes`` (default: the store's threshold)."""
        key = s3_layout.execution_data_key(tenant_id, execution_id, name)
        return self._save(lambda _digest: key, value, inline_max_bytes)

    def _save(
        self, key_for: Callable[[str], str], value: Any, inline_max_bytes: int | None = None
    ) -> StoredOutput:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
        data = text.encode()
        if len(data) <= (self.inline_max_bytes if inline_max_bytes is None else inline_max_bytes):
            return StoredOutput(inline_json=text, s3_key=None, size_bytes=len(data))
        key = key_for(hashlib.sha256(data).hexdigest())
        self._s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType="application/json")
        return StoredOutput(inline_json=None, s3_key=key, size_bytes=len(data))

    def link(self, s3_key: str, expires_seconds: int) -> str:
        """A short-lived URL that GETs the stored output (presigned: no credentials needed to use it)."""
        url: str = self._s3.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": s3_key}, ExpiresIn=expires_seconds
        )
        return url

    def load(self, inline_json: str | None, s3_key: str | None) -> Any:
        if inline_json is not None:
            return json.loads(inline_json)
        if s3_key is not None:
            return json.loads(self._s3.get_object(Bucket=self.bucket, Key=s3_key)["Body"].read())
        return None
