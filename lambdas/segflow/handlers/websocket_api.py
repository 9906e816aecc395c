"""The live-events WebSocket API: ``$connect``, ``$disconnect``, ``subscribe``, ``unsubscribe``, ``ping``,
``$default``. Each route parses the frame, calls the live-events service, and answers: a malformed frame or a
refused request gets an error reply and the connection stays open."""

from __future__ import annotations

import json
import time
from typing import Any

from aws_lambda_powertools import Logger
from pydantic import TypeAdapter, ValidationError

from segflow.api.errors import STATUS_OF_KIND
from segflow.api.identity import caller_from_websocket_context
from segflow.domain.errors import SegflowError
from segflow.events.models import ClientFrame, error_message
from segflow.handlers.invocation_log import invocation_log_context
from segflow.services.live_events import LiveEventsService

logger = Logger()
_frames: TypeAdapter[Any] = TypeAdapter(ClientFrame)
# What API Gateway answers a refused $connect with, by status.
_REFUSED = {401: "Unauthorized", 403: "Forbidden"}


def _reply(body: dict[str, Any], status: int = 200) -> dict[str, Any]:
    return {"statusCode": status, "body": json.dumps(body)}


@invocation_log_context(logger)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = event.get("requestContext") or {}
    route, connection_id = request.get("routeKey"), request.get("connectionId", "")
    service = LiveEventsService.from_environment()
    if route == "$connect":
        return connect(service, request, connection_id)
    if route == "$disconnect":
        service.disconnect(connection_id)
        return {"statusCode": 200}
    try:
        frame = _frames.validate_json(event.get("body") or "")
    except ValidationError as error:
        problem = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'frame'}: {e['msg']}" for e in error.errors()[:3]
        )
        return _reply(error_message("MalformedFrame", f"{problem} (actions: subscribe, unsubscribe, ping)"))
    if frame.action == "ping":
        return _reply({"type": "pong", "at": time.time()})
    try:
        if frame.action == "unsubscribe":
            execution_id = service.unsubscribe(connection_id, frame.execution_id)
            return _reply({"type": "unsubscribed", "execution_id": execution_id})
        subscribed = service.subscribe(
            connection_id, frame.execution_id, frame.since_seq, context.aws_request_id
        )
    except SegflowError as error:
        return _reply(error_message(error.code, str(error)))
    if subscribed is None:  # the connection is gone
        return {"statusCode": 410}
    logger.info(
        "subscribed",
        extra={
            "execution_id": subscribed.execution_id,
            "since_seq": subscribed.since_seq,
            "replayed": subscribed.replayed,
        },
    )
    return {"statusCode": 200}


def connect(service: LiveEventsService, request: dict[str, Any], connection_id: str) -> dict[str, Any]:
    try:
        caller = caller_from_websocket_context(request)
    except SegflowError as error:
        logger.warning("connection refused", extra={"reason": str(error)})
        status = STATUS_OF_KIND[error.kind]
        return {"statusCode": status, "body": _REFUSED.get(status, "Forbidden")}
    connected_at = (request.get("connectedAt") or time.time() * 1000) / 1000
    service.connect(connection_id, caller.tenant_id, caller.principal, connected_at)
    logger.info("connected", extra={"tenant_id": caller.tenant_id, "connection_id": connection_id})
    return {"statusCode": 200}
