"""``notification``: a message to people, published to an SNS topic or posted to a (Slack-style) webhook.

``channel: sns`` publishes ``message`` (and ``subject``, message attributes) to ``topic_arn``; a FIFO topic's
message carries a group id and a deduplication id derived from the idempotency key, so SNS drops a retried
publish. ``channel: webhook`` POSTs ``{"text": message, **payload}`` with the ``Idempotency-Key`` header
api_call sends. The output records the delivery (the SNS MessageId, the webhook's status). The stack grants
sns:Publish on the topics of its ``notification_topics`` context only.
"""

from __future__ import annotations

import hashlib
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, field_validator

from segflow.domain.limits import (
    HTTP_DEFAULT_TIMEOUT_SECONDS,
    NOTIFICATION_MAX_CONCURRENCY,
    SNS_FIFO_ID_MAX_CHARS,
    SNS_SUBJECT_MAX_CHARS,
)
from segflow.nodes.base import NodeContext, NodeResult, NodeType, configured_seconds
from segflow.nodes.http_client import check_http_url, send

_TOPIC_ARN = re.compile(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?")


class _Notification(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    message: str = Field(min_length=1, description="The text people read; templates render from state.")


class SnsNotification(_Notification):
    """Publish to an SNS topic (the stack's notification_topics must name it)."""

    channel: Literal["sns"]
    topic_arn: str = Field(min_length=1)
    subject: str | None = Field(default=None, min_length=1, max_length=SNS_SUBJECT_MAX_CHARS)
    message_attributes: dict[str, str | int | float] = Field(
        default_factory=dict, description="String or Number message attributes (for subscription filters)."
    )
    message_group_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=SNS_FIFO_ID_MAX_CHARS,
        description="FIFO topics only; default: one group per execution.",
    )

    @field_validator("topic_arn")
    @classmethod
    def _arn(cls, arn: str) -> str:
        if "{{" not in arn and not _TOPIC_ARN.fullmatch(arn):
            raise ValueError(f"{arn!r} is not an SNS topic ARN")
        return arn


class WebhookNotification(_Notification):
    """POST ``{"text": message, **payload}`` as JSON (Slack incoming webhooks, Teams, Mattermost, ...)."""

    channel: Literal["webhook"]
    url: str = Field(min_length=1)
    payload: dict[str, Any] = Field(default_factory=dict, description="More fields of the JSON body.")
    headers: dict[str, str] = Field(default_factory=dict)
    timeout_seconds: float | None = Field(default=None, gt=0, le=900)

    @field_validator("url")
    @classmethod
    def _http_only(cls, url: str) -> str:
        return check_http_url(url)


class NotificationConfig(
    RootModel[Annotated[SnsNotification | WebhookNotification, Field(discriminator="channel")]]
):
    model_config = ConfigDict(defer_build=True)


def _fifo_id(value: str) -> str:
    """SNS FIFO ids are at most 128 characters; a longer key is replaced by its digest."""
    return value if len(value) <= SNS_FIFO_ID_MAX_CHARS else hashlib.sha256(value.encode()).hexdigest()


def _publish(config: SnsNotification, context: NodeContext) -> dict[str, Any]:
    group_id = deduplication_id = None
    fifo = config.topic_arn.endswith(".fifo")
    if fifo:
        info = context.execution
        group_id = config.message_group_id or _fifo_id(f"{info.tenant_id}:{info.execution_id}")
        deduplication_id = hashlib.sha256(context.idempotency_key.encode()).hexdigest()
    message_id = context.services.topics.publish(
        config.topic_arn,
        config.message,
        subject=config.subject,
        attributes=config.message_attributes,
        group_id=group_id,
        deduplication_id=deduplication_id,
    )
    delivery: dict[str, Any] = {"channel": "sns", "topic_arn": config.topic_arn, "message_id": message_id}
    if fifo:
        delivery["message_group_id"] = group_id
    return delivery


def _post(config: WebhookNotification, context: NodeContext) -> dict[str, Any]:
    answer = send(
        "POST",
        config.url,
        idempotency_key=context.idempotency_key,
        timeout=config.timeout_seconds or context.timeout_seconds or HTTP_DEFAULT_TIMEOUT_SECONDS,
        headers=config.headers,
        body={"text": config.message, **config.payload},
        secret_path=True,  # a webhook's path is its credential: errors name the host only
    )
    return {"channel": "webhook", "status": answer.status, "response": answer.body}


def run_notification(context: NodeContext) -> NodeResult:
    config = context.config.root
    if isinstance(config, SnsNotification):
        return NodeResult(output=_publish(config, context))
    return NodeResult(output=_post(config, context))


NODE_TYPE = NodeType(
    type="notification",
    config_model=NotificationConfig,
    description="Sends a message to an SNS topic (FIFO aware) or a Slack-style webhook; records delivery.",
    executor=run_notification,
    blocks_for=lambda raw: (
        configured_seconds(raw, HTTP_DEFAULT_TIMEOUT_SECONDS) if raw.get("channel") == "webhook" else None
    ),
    max_concurrency=NOTIFICATION_MAX_CONCURRENCY,
)
