"""The live-events WebSocket API: ``$connect``, ``$disconnect``, ``subscribe``, ``unsubscribe``, ``ping``,
``$default``. Routes parse the frame, call the domain code, and answer: a malformed frame gets an error reply
and the connection stays open."""

from __future__ import annotations

import json
import time
from typing import Any

from aws_lambda_powertools import Logger
from pydantic import TypeAdapter, ValidationError

from segflow.adapters import factory
from segflow.adapters.connections import Connection
from segflow.api.identity import Forbidden, Unauthenticated, caller_from_websocket_context
from segflow.domain.errors import ConnectionGone
from segflow.domain.ids import execution_id_of
from segflow.engine.live_delivery import deliver
from segflow.events.models import ClientFrame, SubscribeFrame, error_message, subscribed_message
from segflow.handlers.invocation_log import invocation_log_context

logger = Logger()
_frames: TypeAdapter[Any] = TypeAdapter(ClientFrame)


def _reply(body: dict[str, Any], status: int = 200) -> dict[str, Any]:
    return {"statusCode": status, "body": json.dumps(body)}


@invocation_log_context(logger)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = event.get("requestContext") or {}
    route, connection_id = request.get("routeKey"), request.get("connectionId", "")
    if route == "$connect":
        return connect(request, connection_id)
    if route == "$disconnect":
        factory.connections().disconnect(connection_id)
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
    connection = factory.connections().get(connection_id)
    if connection is None:
        return _reply(error_message("NotConnected", "this connection is not registered; reconnect"))
    if frame.action == "unsubscribe":
        execution_id = execution_id_of(frame.execution_id)
        factory.connections().unsubscribe(connection_id, connection.tenant_id, execution_id)
        return _reply({"type": "unsubscribed", "execution_id": execution_id})
    return subscribe(connection, frame, context.aws_request_id)


def connect(request: dict[str, Any], connection_id: str) -> dict[str, Any]:
    try:
        caller = caller_from_websocket_context(request)
    except Unauthenticated as error:
        logger.warning("connection refused", extra={"reason": str(error)})
        return {"statusCode": 401, "body": "Unauthorized"}
    except Forbidden as error:
        logger.warning("connection refused", extra={"reason": str(error)})
        return {"statusCode": 403, "body": "Forbidden"}
    connected_at = (request.get("connectedAt") or time.time() * 1000) / 1000
    factory.connections().connect(Connection(connection_id, caller.tenant_id, caller.principal, connected_at))
    logger.info("connected", extra={"tenant_id": caller.tenant_id, "connection_id": connection_id})
    return {"statusCode": 200}


def subscribe(connection: Connection, frame: SubscribeFrame, holder: str) -> dict[str, Any]:
    execution_id = execution_id_of(frame.execution_id)
    # Executions of other tenants are as unknown as missing ones.
    if factory.execution_records().get_execution(connection.tenant_id, execution_id) is None:
        return _reply(error_message("NotFound", f"no execution {execution_id!r}"))
    subscriptions, log, live = factory.connections(), factory.event_log_reader(), factory.live_connections()
    subscriptions.subscribe(connection, execution_id, frame.since_seq)
    latest = log.latest_seq(connection.tenant_id, execution_id)
    try:
        live.post(
            connection.connection_id, json.dumps(subscribed_message(execution_id, frame.since_seq, latest))
        )
    except ConnectionGone:
        subscriptions.disconnect(connection.connection_id)
        return {"statusCode": 410}
    sent = deliver(
        subscriptions, log, live, connection.connection_id, connection.tenant_id, execution_id, holder
    )
    logger.info(
        "subscribed", extra={"execution_id": execution_id, "since_seq": frame.since_seq, "replayed": sent}
    )
    return {"statusCode": 200}
