"""The user's S3 buckets, as nodes read them: an object's bytes, or None when there is no such object."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from segflow.domain.errors import ResultTooLarge, S3Busy, S3Error

_BUSY = ("SlowDown", "ServiceUnavailable", "InternalError", "503", "500")


class DataBuckets:
    def __init__(self, s3_client: Any) -> None:
        self._s3 = s3_client

    def get_object(self, bucket: str, key: str, max_bytes: int) -> bytes | None:
        where = f"s3://{bucket}/{key}"
        try:
            answer = self._s3.get_object(Bucket=bucket, Key=key)
            if answer["ContentLength"] > max_bytes:
                answer["Body"].close()
                raise ResultTooLarge(f"{where} is larger than {max_bytes} bytes")
            body: bytes = answer["Body"].read()
        except ClientError as error:
            code = error.response["Error"]["Code"]
            if code in ("NoSuchKey", "404"):
                return None
            if code in _BUSY:
                raise S3Busy(f"{where}: {code}") from error
            raise S3Error(f"{where}: {code}: {error.response['Error'].get('Message', '')}") from error
        return body
