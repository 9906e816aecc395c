"""The user's SNS topics, as the ``notification`` node publishes to them."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from segflow.domain.errors import SnsBusy, SnsError, TopicNotFound


class Topics:
    def __init__(self, sns_client: Any) -> None:
        self._sns = sns_client

    def publish(
        self,
        topic_arn: str,
        message: str,
        *,
        subject: str | None,
        attributes: dict[str, str | int | float],
        group_id: str | None,
        deduplication_id: str | None,
    ) -> str:
        request: dict[str, Any] = {"TopicArn": topic_arn, "Message": message}
        if subject:
            request["Subject"] = subject
        if attributes:
            request["MessageAttributes"] = {
                name: {"DataType": "String", "StringValue": value}
                if isinstance(value, str)
                else {"DataType": "Number", "StringValue": repr(value)}
                for name, value in attributes.items()
            }
        if group_id is not None:
            request["MessageGroupId"] = group_id
        if deduplication_id is not None:
            request["MessageDeduplicationId"] = deduplication_id
        try:
            answer = self._sns.publish(**request)
        except ClientError as error:
            code = error.response["Error"]["Code"]
            text = error.response["Error"].get("Message", "")
            if code in ("NotFound", "NotFoundException"):
                raise TopicNotFound(f"{topic_arn}: no such topic") from error
            if code in ("Throttling", "ThrottlingException", "InternalError", "InternalFailure"):
                raise SnsBusy(f"{topic_arn}: {code}: {text}") from error
            raise SnsError(f"{topic_arn}: {code}: {text}") from error
        return str(answer["MessageId"])
