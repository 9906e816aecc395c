"""The local WebSocket gateway calls its function the way API Gateway does, and answers @connections the way
the real management API does, to a real WebSocket client and the unmodified boto3 client.

The function behind the gateway is scripted here: it records every event and answers by route, so each
test can state exactly what API Gateway would have sent and done.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import boto3
import pytest
from botocore.config import Config
from segflow.declaration import LIVE_WEBSOCKET_API
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect
from werkzeug.serving import make_server

from segflow_local.lambda_invocation import InvokeResult
from segflow_local.websocket_gateway import (
    CALLBACK_PREFIX,
    OUTBOX_MAX_BYTES,
    LocalWebSocketGateway,
    owns_callback_path,
    serve_connections_api,
)

STAGE = "wstest"
FUNCTION_NAME = f"segflow-{STAGE}-WebSocketApi"
CONNECTION_ID = re.compile(r"^[A-Za-z0-9+/]{15}=$")


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.01)


def _error_result(message: str) -> InvokeResult:
    body = {"errorType": "RuntimeError", "errorMessage": message, "stackTrace": []}
    return InvokeResult(200, json.dumps(body).encode(), "Unhandled")


@dataclass
class ScriptedFunction:
    """Stands in for the WebSocketApi function: records what it is invoked with, answers by route.

    ``$connect`` accepts callers with an authorizer context (401 without, 403 for tenant ``blocked``, a
    function error for tenant ``broken``); ``ping`` answers a pong; ``subscribe`` posts ``posts`` messages
    through @connections first (as the real one replays), then answers; ``$default`` echoes the body;
    ``unsubscribe`` answers without a body; a frame with ``"fail": true`` raises.
    """

    management: Any = None
    posts: int = 3
    gate: threading.Event | None = None  # when set, subscribe answers only once the gate opens
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, function_ref: str, payload: bytes) -> InvokeResult:
        event = json.loads(payload)
        with self.lock:
            self.calls.append((function_ref, event))
        context = event["requestContext"]
        route = context["routeKey"]
        if route == "$connect":
            authorizer = context.get("authorizer")
            if authorizer is None:
                return self._ok({"statusCode": 401, "body": "Unauthorized"})
            if authorizer["tenant_id"] == "blocked":
                return self._ok({"statusCode": 403, "body": "Forbidden"})
            if authorizer["tenant_id"] == "broken":
                return _error_result("cannot reach the connections table")
            return self._ok({"statusCode": 200})
        if route == "$disconnect":
            return self._ok({"statusCode": 200})
        try:
            frame = json.loads(event["body"])
        except (ValueError, RecursionError):
            frame = None
        if isinstance(frame, dict) and frame.get("fail"):
            return _error_result("boom")
        if route == "ping":
            return self._ok({"statusCode": 200, "body": json.dumps({"type": "pong"})})
        if route == "subscribe":
            if self.gate is not None:
                self.gate.wait(timeout=30)
            for index in range(self.posts):
                self.management.post_to_connection(
                    ConnectionId=context["connectionId"], Data=json.dumps({"replayed": index}).encode()
                )
            return self._ok({"statusCode": 200, "body": json.dumps({"type": "subscribed"})})
        if route == "unsubscribe":
            return self._ok({"statusCode": 200})
        return self._ok({"statusCode": 200, "body": json.dumps({"type": "default", "got": event["body"]})})

    @staticmethod
    def _ok(value: Any) -> InvokeResult:
        return InvokeResult(200, json.dumps(value).encode())

    def events(self, route: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [
                event
                for _, event in self.calls
                if route is None or event["requestContext"]["routeKey"] == route
            ]

    def last_connection_id(self) -> str:
        return self.events("$connect")[-1]["requestContext"]["connectionId"]


@dataclass
class Harness:
    gateway: LocalWebSocketGateway
    function: ScriptedFunction
    management: Any

    def connect(self, query: str = "tenant=acme", **options: Any) -> ClientConnection:
        return connect(
            f"{self.gateway.url}/?{query}" if query else self.gateway.url, open_timeout=5, **options
        )


@pytest.fixture()
def harness() -> Iterator[Harness]:
    function = ScriptedFunction()
    gateway = LocalWebSocketGateway(LIVE_WEBSOCKET_API, STAGE, function)
    gateway.start()

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        if owns_callback_path(environ.get("PATH_INFO", "")):
            return serve_connections_api(gateway, environ, start_response)
        start_response("404 Not Found", [("Content-Length", "0")])
        return [b""]

    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    management = boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=f"http://127.0.0.1:{http.server_port}{CALLBACK_PREFIX}",
        region_name="us-east-1",
        aws_access_key_id="ak",
        aws_secret_access_key="sk",
        config=Config(retries={"max_attempts": 1}),
    )
    function.management = management
    try:
        yield Harness(gateway, function, management)
    finally:
        gateway.stop()
        http.shutdown()
        http.server_close()
        thread.join(timeout=5)


def receive(socket: ClientConnection) -> dict[str, Any]:
    return json.loads(socket.recv(timeout=5))


# --- $connect ----------------------------------------------------------------------------------------------


def test_connect_event_has_api_gateways_shape_and_the_authorizer_context_from_the_query(
    harness: Harness,
) -> None:
    before = int(time.time() * 1000)
    with harness.connect("tenant=acme&principal=alice&view=compact", user_agent_header="probe/1.0"):
        pass
    [event] = harness.function.events("$connect")
    assert harness.function.calls[0][0] == FUNCTION_NAME
    context = event["requestContext"]
    assert context["routeKey"] == "$connect"
    assert context["eventType"] == "CONNECT"
    assert context["messageDirection"] == "IN"
    assert CONNECTION_ID.match(context["connectionId"])
    assert re.match(r"^[0-9a-f-]{36}$", context["requestId"])
    assert context["extendedRequestId"]
    assert context["stage"] == LIVE_WEBSOCKET_API.stage
    assert context["apiId"] == "local"
    assert context["domainName"] == "127.0.0.1"
    assert before <= context["connectedAt"] == context["requestTimeEpoch"] <= int(time.time() * 1000)
    assert context["identity"] == {"sourceIp": "127.0.0.1", "userAgent": "probe/1.0"}
    assert context["authorizer"] == {"tenant_id": "acme", "principal": "alice"}
    assert "messageId" not in context
    # The caller's word reached the authorizer only; the function sees the rest of the request.
    assert event["queryStringParameters"] == {"view": "compact"}
    assert event["multiValueQueryStringParameters"] == {"view": ["compact"]}
    assert event["headers"]["Host"] == f"127.0.0.1:{harness.gateway.port}"
    assert event["headers"]["Sec-WebSocket-Version"] == "13"
    assert event["headers"]["User-Agent"] == "probe/1.0"
    assert event["headers"]["X-Forwarded-For"] == "127.0.0.1"
    assert event["multiValueHeaders"]["Sec-WebSocket-Version"] == ["13"]
    assert event["isBase64Encoded"] is False
    assert "body" not in event


def test_the_tenant_and_principal_can_come_from_headers(harness: Harness) -> None:
    headers = {"X-Segflow-Tenant": "beta", "X-Segflow-Principal": "bob"}
    with harness.connect("", additional_headers=headers):
        pass
    with harness.connect("", additional_headers={"X-Segflow-Tenant": "gamma"}):
        pass
    first, second = harness.function.events("$connect")
    assert first["requestContext"]["authorizer"] == {"tenant_id": "beta", "principal": "bob"}
    assert second["requestContext"]["authorizer"] == {"tenant_id": "gamma", "principal": "local"}
    assert not {"x-segflow-tenant", "x-segflow-principal"} & {name.lower() for name in first["headers"]}
    assert first["queryStringParameters"] is None


@pytest.mark.parametrize(("query", "status"), [("", 401), ("tenant=blocked", 403), ("tenant=broken", 500)])
def test_a_connect_result_other_than_200_refuses_the_handshake_with_its_status(
    harness: Harness, query: str, status: int
) -> None:
    with pytest.raises(InvalidStatus) as refused:
        harness.connect(query)
    assert refused.value.response.status_code == status
    [event] = harness.function.events("$connect")
    assert ("authorizer" in event["requestContext"]) is bool(query)
    # never connected, never disconnected: a connection opened and closed after it is the only one that is
    with harness.connect():
        pass
    wait_for(lambda: harness.function.events("$disconnect"))
    [disconnected] = harness.function.events("$disconnect")
    assert disconnected["requestContext"]["connectionId"] == harness.function.last_connection_id()


# --- messages ----------------------------------------------------------------------------------------------


def test_frames_are_routed_by_action_and_everything_else_reaches_default(harness: Harness) -> None:
    frames = [
        '{"action": "ping"}',
        '{"action": "unsubscribe", "execution_id": "e-1"}',
        '{"action": "nope"}',
        '{"action": "$connect"}',
        "not json at all",
        "[1, 2]",
        '{"action": 7}',
    ]
    with harness.connect() as socket:
        for frame in frames:
            socket.send(frame)
        socket.send('{"action": "ping"}')
        received = [receive(socket) for _ in range(7)]
    # the other frames' answers in order; the keepalives answered at once, wherever they land among them
    replies = [reply for reply in received if reply != {"type": "pong"}]
    assert len(received) - len(replies) == 2
    assert replies == [{"type": "default", "got": frame} for frame in frames[2:]]
    connection_id = harness.function.last_connection_id()
    messages = [e for e in harness.function.events() if e["requestContext"]["eventType"] == "MESSAGE"]
    in_order = [e for e in messages if e["requestContext"]["routeKey"] != "ping"]
    assert [e["requestContext"]["routeKey"] for e in in_order] == ["unsubscribe", *["$default"] * 5]
    assert [e["body"] for e in in_order] == frames[1:]
    assert len(messages) - len(in_order) == 2  # both keepalives
    for event, frame in zip(in_order, frames[1:], strict=True):
        context = event["requestContext"]
        assert event["body"] == frame
        assert event["isBase64Encoded"] is False
        assert context["eventType"] == "MESSAGE"
        assert context["connectionId"] == connection_id
        assert context["messageId"]
        assert context["authorizer"] == {"tenant_id": "acme", "principal": "local"}
    assert len({event["requestContext"]["requestId"] for event in messages}) == len(messages)  # one each


def test_a_function_error_answers_internal_server_error_and_the_connection_stays_usable(
    harness: Harness,
) -> None:
    with harness.connect() as socket:
        socket.send('{"action": "ping", "fail": true}')
        error = receive(socket)
        socket.send('{"action": "ping"}')
        assert receive(socket) == {"type": "pong"}
    failed = harness.function.events("ping")[0]["requestContext"]
    assert error == {
        "message": "Internal server error",
        "connectionId": failed["connectionId"],
        "requestId": failed["requestId"],
    }


def test_a_frame_over_32_kb_closes_the_connection_with_1009(harness: Harness) -> None:
    with harness.connect() as socket:
        socket.send(json.dumps({"action": "ping", "pad": "x" * (30 * 1024)}))
        assert receive(socket) == {"type": "pong"}
        socket.send(json.dumps({"action": "ping", "pad": "x" * (40 * 1024)}))
        with pytest.raises(ConnectionClosed) as closed:
            socket.recv(timeout=5)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1009
    wait_for(lambda: len(harness.function.events("$disconnect")) == 1)
    assert len(harness.function.events("ping")) == 1


def test_a_frame_nested_too_deep_to_parse_reaches_default_and_the_connection_stays_open(
    harness: Harness,
) -> None:
    nested = "[" * 15_000 + "]" * 15_000  # under 32 KB; deeper than Python's parser goes
    with harness.connect() as socket:
        socket.send('{"action": "ping", "x": ' + nested + "}")
        assert receive(socket)["type"] == "default"
        socket.send(json.dumps({"action": "ping"}))
        assert receive(socket) == {"type": "pong"}


# --- @connections ------------------------------------------------------------------------------------------


def test_posts_through_boto3_reach_the_client_in_order(harness: Harness) -> None:
    with harness.connect() as socket:
        connection_id = harness.function.last_connection_id()
        for index in range(200):
            harness.management.post_to_connection(
                ConnectionId=connection_id, Data=json.dumps({"n": index}).encode()
            )
        assert [receive(socket)["n"] for _ in range(200)] == list(range(200))


def test_posts_made_while_a_route_runs_arrive_before_its_reply(harness: Harness) -> None:
    harness.function.posts = 20
    with harness.connect() as socket:
        socket.send('{"action": "subscribe", "execution_id": "e-1"}')
        received = [receive(socket) for _ in range(21)]
    assert received == [{"replayed": index} for index in range(20)] + [{"type": "subscribed"}]


def test_a_client_that_does_not_read_holds_up_no_other_and_is_dropped_once_too_far_behind(
    harness: Harness,
) -> None:
    """A post returns once the gateway has the message, as PostToConnection does: posting to a client that
    never reads neither blocks nor delays posts to another; past OUTBOX_MAX_BYTES unread, it is dropped."""
    with harness.connect(max_queue=1) as stalled, harness.connect() as reading:
        stalled_id, reading_id = (
            e["requestContext"]["connectionId"] for e in harness.function.events("$connect")
        )
        chunk = b"z" * (120 * 1024)
        statuses = []
        # The outbox, plus what the kernel's socket buffers take in: well within three outboxes.
        for index in range(3 * OUTBOX_MAX_BYTES // len(chunk)):
            statuses.append(harness.gateway.post_to_connection(stalled_id, chunk))
            assert harness.gateway.post_to_connection(reading_id, json.dumps({"n": index}).encode()) == 200
            assert receive(reading) == {"n": index}
            if statuses[-1] == 410:
                break
        assert statuses[0] == 200 and statuses[-1] == 410, "dropped once too far behind"
        with pytest.raises(ConnectionClosed):
            while True:
                stalled.recv(timeout=5)
        assert stalled.close_code == 1008


def test_a_keepalive_is_answered_while_earlier_frames_are_still_handled(harness: Harness) -> None:
    harness.function.posts = 0
    harness.function.gate = threading.Event()
    with harness.connect() as socket:
        for index in range(5):
            socket.send(json.dumps({"action": "subscribe", "execution_id": f"e-{index}"}))
        socket.send('{"action": "ping"}')
        assert receive(socket) == {"type": "pong"}  # while the first subscribe still waits
        harness.function.gate.set()
        assert [receive(socket) for _ in range(5)] == [{"type": "subscribed"}] * 5


def test_get_connection_describes_it_as_the_real_api_does(harness: Harness) -> None:
    with harness.connect(user_agent_header="probe/2.0") as socket:
        connection_id = harness.function.last_connection_id()
        socket.send('{"action": "ping"}')
        receive(socket)
        described = harness.management.get_connection(ConnectionId=connection_id)
    assert isinstance(described["ConnectedAt"], datetime)
    assert described["LastActiveAt"] >= described["ConnectedAt"]
    assert described["Identity"] == {"SourceIp": "127.0.0.1", "UserAgent": "probe/2.0"}


def test_posting_to_an_unknown_or_closed_connection_is_gone(harness: Harness) -> None:
    gone = harness.management.exceptions.GoneException
    with pytest.raises(gone) as unknown:
        harness.management.post_to_connection(ConnectionId="Zm9vYmFyYmF6cXV4=", Data=b"{}")
    assert unknown.value.response["ResponseMetadata"]["HTTPStatusCode"] == 410
    with harness.connect():
        connection_id = harness.function.last_connection_id()
    wait_for(lambda: len(harness.function.events("$disconnect")) == 1)
    with pytest.raises(gone):
        harness.management.post_to_connection(ConnectionId=connection_id, Data=b"{}")
    with pytest.raises(gone):
        harness.management.get_connection(ConnectionId=connection_id)
    with pytest.raises(gone):
        harness.management.delete_connection(ConnectionId=connection_id)
    [event] = harness.function.events("$disconnect")
    context = event["requestContext"]
    assert context["eventType"] == "DISCONNECT"
    assert context["connectionId"] == connection_id
    assert context["disconnectStatusCode"] == 1000
    assert context["authorizer"] == {"tenant_id": "acme", "principal": "local"}
    assert "body" not in event


def test_a_post_over_128_kb_is_refused(harness: Harness) -> None:
    with harness.connect() as socket:
        connection_id = harness.function.last_connection_id()
        with pytest.raises(harness.management.exceptions.PayloadTooLargeException):
            harness.management.post_to_connection(ConnectionId=connection_id, Data=b"x" * (128 * 1024 + 1))
        harness.management.post_to_connection(ConnectionId=connection_id, Data=b"y" * (128 * 1024))
        assert socket.recv(timeout=5) == "y" * (128 * 1024)


def test_delete_connection_closes_the_socket_and_disconnects_once(harness: Harness) -> None:
    with harness.connect() as socket:
        connection_id = harness.function.last_connection_id()
        harness.management.delete_connection(ConnectionId=connection_id)
        with pytest.raises(ConnectionClosed):
            socket.recv(timeout=5)
    wait_for(lambda: len(harness.function.events("$disconnect")) == 1)
    # once: a connection opened and closed after it disconnects, and it is the only other one
    with harness.connect():
        later = harness.function.last_connection_id()
    wait_for(lambda: len(harness.function.events("$disconnect")) == 2)
    events = harness.function.events("$disconnect")
    assert [e["requestContext"]["connectionId"] for e in events] == [connection_id, later]
    with pytest.raises(harness.management.exceptions.GoneException):
        harness.management.post_to_connection(ConnectionId=connection_id, Data=b"{}")


def test_stopping_the_gateway_disconnects_every_connection(harness: Harness) -> None:
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(harness.connect(f"tenant=t{index}")) for index in range(3)]
        ids = {event["requestContext"]["connectionId"] for event in harness.function.events("$connect")}
        harness.gateway.stop()
        disconnected = {
            event["requestContext"]["connectionId"] for event in harness.function.events("$disconnect")
        }
        assert disconnected == ids
        for socket in sockets:
            with pytest.raises(ConnectionClosed) as closed:
                socket.recv(timeout=5)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1001
    assert harness.gateway.post_to_connection(next(iter(ids)), b"{}") == 410
