"""The local API Gateway WebSocket API: real WebSocket connections, the declared function behind every route.

API Gateway in front of a WebSocket API's function does five things, and so does this gateway:

- ``$connect``: the handshake waits for the function's answer. The gateway plays a Lambda authorizer that
  trusts the caller's word (query ``tenant`` / ``principal``, or ``X-Segflow-Tenant`` /
  ``X-Segflow-Principal``): with a tenant, ``requestContext.authorizer`` is ``{tenant_id, principal}``;
  without one there is no authorizer context and the function refuses. Those parameters are removed from
  what the function sees, so it can only learn the caller from the authorizer, as in the cloud. A
  ``statusCode`` other than 200, or a function error, refuses the handshake with that HTTP status;
- messages: the route is the frame's ``action`` (``$request.body.action``) when it names a declared route,
  else ``$default``; one connection's frames are handled in order, but a ``ping`` (the keepalive) is answered
  at once, however many frames wait before it. A string ``body`` in the function's
  result goes back to the client (two-way routes); a function error answers ``Internal server error``
  and the connection stays open;
- ``$disconnect``: once per accepted connection, however it ends, without waiting for the function;
- API Gateway's limits: frames over 32 KB and messages over 128 KB from a client close the connection with
  1009, binary frames with 1003; idle connections close after 10 minutes, every connection after 2 hours;
- the ``@connections`` management API (``apigatewaymanagementapi``): post to, describe and drop a
  connection from any thread, served over HTTP by the local endpoint under :data:`CALLBACK_PREFIX`
  (:func:`serve_connections_api`) for the handlers' unmodified boto3 client.

The event shapes the function receives are built in one place, :func:`request_context` and the three
``*_event`` functions below it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import secrets
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Coroutine, Iterable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from socket import AF_INET
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

from segflow.declaration import WebSocketApiSpec, function_by_id
from segflow.domain.limits import (
    LOCAL_WEBSOCKET_OUTBOX_MAX_BYTES,
    WEBSOCKET_CONNECTION_MAX_SECONDS,
    WEBSOCKET_FRAME_MAX_BYTES,
    WEBSOCKET_MESSAGE_MAX_BYTES,
)
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from segflow_local.lambda_invocation import InvokeResult, local_function_name

# API Gateway's WebSocket quotas.
FRAME_MAX_BYTES = WEBSOCKET_FRAME_MAX_BYTES
MESSAGE_MAX_BYTES = WEBSOCKET_MESSAGE_MAX_BYTES
IDLE_TIMEOUT_SECONDS = 10 * 60
CONNECTION_MAX_SECONDS = WEBSOCKET_CONNECTION_MAX_SECONDS

CALLBACK_PREFIX = "/_segflow/ws"
CONNECTIONS_PATH = "/@connections/"
LOCAL_API_ID = "local"
TENANT_PARAMETER, PRINCIPAL_PARAMETER = "tenant", "principal"
TENANT_HEADER, PRINCIPAL_HEADER = "x-segflow-tenant", "x-segflow-principal"
_CALLER_PARAMETERS = (TENANT_PARAMETER, PRINCIPAL_PARAMETER)
_CALLER_HEADERS = (TENANT_HEADER, PRINCIPAL_HEADER)
DEFAULT_PRINCIPAL = "local"
KEEPALIVE_ROUTE = "ping"
FRAMES_QUEUED_MAX = 1000  # frames read ahead of the one being handled; past it, reading waits
MANAGEMENT_TIMEOUT_SECONDS = 10.0  # a GetConnection or DeleteConnection the loop cannot answer in this long
# A client that lets this much of its messages pile up unread is too slow to keep: its connection is closed
# (1008) and posts to it answer GoneException, so it never holds anyone else up.
OUTBOX_MAX_BYTES = LOCAL_WEBSOCKET_OUTBOX_MAX_BYTES
DISCONNECT_DRAIN_SECONDS = 10.0  # stop() waits this long for $disconnect invocations
INVOKE_WORKERS = 32

Invoke = Callable[[str, bytes], InvokeResult]
StartResponse = Callable[..., Any]
EventType = Literal["CONNECT", "MESSAGE", "DISCONNECT"]
T = TypeVar("T")

logger = logging.getLogger(__name__)


class WebSocketGatewayError(RuntimeError):
    """The gateway could not start (port in use, bad host) or was used from its own event loop."""


# --- connections and the events about them -----------------------------------------------------------------


@dataclass
class LiveConnection:
    """What API Gateway knows of one connection, from its handshake on."""

    connection_id: str
    connected_at: float
    source_ip: str
    user_agent: str
    domain: str
    authorizer: dict[str, str] | None
    socket: ServerConnection = field(repr=False)
    last_active_at: float = 0.0
    # What is on its way to the client, in order: posts and route answers are queued and written by one task,
    # so a post returns once the gateway has the message (as PostToConnection does), however slowly the
    # client reads.
    outbox: asyncio.Queue[str | bytes] = field(default_factory=asyncio.Queue, repr=False)
    queued_bytes: int = 0

    def __post_init__(self) -> None:
        self.last_active_at = self.last_active_at or self.connected_at


def _ms(moment: float) -> int:
    return int(moment * 1000)


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _token(size: int = 11) -> str:
    """An id in API Gateway's style (``U0zXhcmEIAMCEJA=``): 11 random bytes, base64."""
    return base64.b64encode(secrets.token_bytes(size)).decode("ascii")


def request_context(
    connection: LiveConnection,
    stage: str,
    route_key: str,
    event_type: EventType,
    request_id: str,
    now: float,
    message_id: str | None = None,
    close: tuple[int, str] | None = None,
) -> dict[str, Any]:
    """``requestContext`` of every event, as API Gateway's Lambda proxy integration for WebSocket APIs sends
    it; the authorizer's context is on every route's events, not only ``$connect``'s."""
    context: dict[str, Any] = {
        "routeKey": route_key,
        "eventType": event_type,
        "extendedRequestId": _token(),
        "requestTime": datetime.fromtimestamp(now, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "messageDirection": "IN",
        "stage": stage,
        "connectedAt": _ms(connection.connected_at),
        "requestTimeEpoch": _ms(now),
        "identity": {"sourceIp": connection.source_ip, "userAgent": connection.user_agent},
        "requestId": request_id,
        "domainName": connection.domain,
        "connectionId": connection.connection_id,
        "apiId": LOCAL_API_ID,
    }
    if message_id is not None:
        context["messageId"] = message_id
    if close is not None:
        context["disconnectStatusCode"], context["disconnectReason"] = close
    if connection.authorizer is not None:
        context["authorizer"] = dict(connection.authorizer)
    return context


def connect_event(
    context: dict[str, Any], headers: list[tuple[str, str]], query: list[tuple[str, str]]
) -> dict[str, Any]:
    """The ``$connect`` event: the handshake's headers and query (REST-style single and multi-value maps)."""
    single_query: dict[str, str] = {}
    multi_query: dict[str, list[str]] = {}
    for name, value in query:
        single_query[name] = value
        multi_query.setdefault(name, []).append(value)
    return {
        "headers": _single(headers),
        "multiValueHeaders": _multi(headers),
        "queryStringParameters": single_query or None,
        "multiValueQueryStringParameters": multi_query or None,
        "requestContext": context,
        "isBase64Encoded": False,
    }


def message_event(context: dict[str, Any], body: str) -> dict[str, Any]:
    """A frame's event: the frame's text as ``body``, verbatim."""
    return {"requestContext": context, "body": body, "isBase64Encoded": False}


def disconnect_event(context: dict[str, Any]) -> dict[str, Any]:
    """The ``$disconnect`` event: no body; the close code and reason are in the request context."""
    headers = [("Host", context["domainName"]), ("X-Forwarded-For", context["identity"]["sourceIp"])]
    return {
        "headers": _single(headers),
        "multiValueHeaders": _multi(headers),
        "requestContext": context,
        "isBase64Encoded": False,
    }


def _single(headers: list[tuple[str, str]]) -> dict[str, str]:
    return dict(headers)  # the last value of a repeated header, as API Gateway's ``headers``


def _multi(headers: list[tuple[str, str]]) -> dict[str, list[str]]:
    multi: dict[str, list[str]] = {}
    for name, value in headers:
        multi.setdefault(name, []).append(value)
    return multi


def local_authorizer(query: list[tuple[str, str]], headers: list[tuple[str, str]]) -> dict[str, str] | None:
    """The Lambda-authorizer context the local gateway grants: the tenant the caller names, taken as sent (the
    $connect handler refuses one that is not a whole tenant id, as deployed); none without."""
    by_name = {name.lower(): value for name, value in headers}
    params = dict(query)
    tenant = params.get(TENANT_PARAMETER) or by_name.get(TENANT_HEADER) or ""
    if not tenant:
        return None
    principal = (params.get(PRINCIPAL_PARAMETER) or by_name.get(PRINCIPAL_HEADER) or "").strip()
    return {"tenant_id": tenant, "principal": principal or DEFAULT_PRINCIPAL}


def _result_value(result: InvokeResult) -> tuple[bool, Any]:
    """(the invocation succeeded, the function's return value)."""
    if result.status != 200 or result.function_error:
        return False, None
    try:
        return True, json.loads(result.payload) if result.payload else None
    except ValueError:
        return False, None


def connect_status(result: InvokeResult) -> int:
    """The handshake's fate: 200 accepts; a function error or a result without a usable status is 500."""
    ok, value = _result_value(result)
    if not ok or not isinstance(value, dict):
        return 500
    try:
        status = int(value.get("statusCode"))  # type: ignore[arg-type]  # None: TypeError, so 500
    except (TypeError, ValueError):
        return 500
    try:
        return HTTPStatus(status).value if status >= 200 else 500
    except ValueError:
        return 500


# --- the gateway -------------------------------------------------------------------------------------------


class LocalWebSocketGateway:
    """One declared WebSocket API on a local port; its routes go to ``invoke`` (the local Lambda runtime).

    The server runs on its own event loop in a daemon thread; the function runs on worker threads, so a slow
    invocation never stalls other connections, and handlers may call the ``@connections`` methods (from any
    thread but the loop's) while an invocation is in progress.
    """

    def __init__(
        self,
        spec: WebSocketApiSpec,
        stage_name: str,
        invoke: Invoke,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.spec = spec
        self.stage_name = stage_name
        self.function_name = local_function_name(stage_name, function_by_id(spec.function))
        # "localhost" would bind IPv4 and IPv6 on two different free ports; clients are told 127.0.0.1.
        self.host = "127.0.0.1" if host == "localhost" else host
        self.requested_port = port
        self._invoke = invoke
        self._selection = _selection_path(spec.route_selection)
        self._message_routes = {route for route in spec.routes if not route.startswith("$")}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: Server | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._port: int | None = None
        # Loop-thread state only.
        self._connections: dict[str, LiveConnection] = {}
        self._accepted: dict[ServerConnection, LiveConnection] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        # Posts taken from other threads, in order, for the loop to queue (a deque appends atomically).
        self._posted: deque[tuple[LiveConnection, str | bytes]] = deque()
        self._drain_scheduled = False

    @property
    def port(self) -> int:
        return self._port if self._port is not None else self.requested_port

    @property
    def url(self) -> str:
        """Where clients connect."""
        return f"ws://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._loop is not None and self._server is not None

    # --- lifecycle -----------------------------------------------------------------------------------------

    def start(self) -> None:
        """Listen; returns once the server accepts connections. Raises :class:`WebSocketGatewayError`."""
        if self._thread is not None:
            return
        ready = threading.Event()
        failure: list[BaseException] = []
        self._executor = ThreadPoolExecutor(INVOKE_WORKERS, thread_name_prefix="segflow-ws-invoke")

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                self._server = loop.run_until_complete(self._listen())
            except BaseException as error:
                failure.append(error)
                ready.set()
                loop.close()
                return
            self._loop = loop
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=run, name="segflow-websocket", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join(timeout=5)
            self._thread = None
            self._executor.shutdown(wait=False)
            self._executor = None
            raise WebSocketGatewayError(
                f"cannot listen on {self.host}:{self.requested_port}: {failure[0]}"
            ) from failure[0]

    async def _listen(self) -> Server:
        server = await serve(
            self._serve_connection,
            self.host,
            self.requested_port,
            process_request=self._handshake,
            compression=None,  # API Gateway does not negotiate permessage-deflate
            open_timeout=None,  # the handshake lasts as long as the $connect invocation
            ping_interval=None,  # API Gateway answers pings but never sends any
            max_size=(MESSAGE_MAX_BYTES, FRAME_MAX_BYTES),
            server_header=None,
        )
        ipv4 = [sock for sock in server.sockets if sock.family == AF_INET]
        self._port = int((ipv4 or list(server.sockets))[0].getsockname()[1])
        return server

    def stop(self) -> None:
        """Close every connection (each gets its ``$disconnect``, waited for a while) and the server."""
        loop, thread = self._loop, self._thread
        if loop is not None:
            future = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
            try:
                future.result(timeout=DISCONNECT_DRAIN_SECONDS + 10)
            except Exception as error:  # stopping regardless
                logger.warning("the WebSocket gateway did not close cleanly: %s", error)
            loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(timeout=10)
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        self._loop = self._thread = self._server = self._executor = None

    async def _shutdown(self) -> None:
        server = self._server
        if server is not None:
            server.close()
            await server.wait_closed()
        pending = set(self._tasks)
        if pending:
            await asyncio.wait(pending, timeout=DISCONNECT_DRAIN_SECONDS)

    def _spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _call_function(self, event: dict[str, Any]) -> InvokeResult:
        loop = asyncio.get_running_loop()
        payload = json.dumps(event).encode()
        return await loop.run_in_executor(self._executor, self._invoke, self.function_name, payload)

    # --- $connect ------------------------------------------------------------------------------------------

    async def _handshake(self, socket: ServerConnection, request: Request) -> Response | None:
        """``process_request``: the ``$connect`` invocation decides before the handshake is answered."""
        now = time.time()
        target = urlsplit(request.path)
        query = parse_qsl(target.query, keep_blank_values=True)
        headers = list(request.headers.raw_items())
        authorizer = local_authorizer(query, headers)
        remote = socket.remote_address
        source_ip = str(remote[0]) if remote else "127.0.0.1"
        domain = urlsplit(f"//{request.headers.get('Host', '')}").hostname or "127.0.0.1"
        visible_headers = [(name, value) for name, value in headers if name.lower() not in _CALLER_HEADERS]
        sent = {name.lower() for name, _ in visible_headers}
        forwarded = (
            ("X-Forwarded-For", source_ip),
            ("X-Forwarded-Port", str(self.port)),
            ("X-Forwarded-Proto", "http"),
        )
        visible_headers += [(name, value) for name, value in forwarded if name.lower() not in sent]
        visible_query = [(name, value) for name, value in query if name not in _CALLER_PARAMETERS]
        connection = LiveConnection(
            connection_id=_token(),
            connected_at=now,
            source_ip=source_ip,
            user_agent=request.headers.get("User-Agent", ""),
            domain=domain,
            authorizer=authorizer,
            socket=socket,
        )
        context = request_context(connection, self.spec.stage, "$connect", "CONNECT", str(uuid.uuid4()), now)
        result = await self._call_function(connect_event(context, visible_headers, visible_query))
        status = connect_status(result)
        if status != 200:
            phrase = HTTPStatus(status).phrase
            return socket.respond(status, json.dumps({"message": phrase}) + "\n")
        self._accepted[socket] = connection
        self._spawn(self._await_end(socket, connection))
        return None

    # --- messages ------------------------------------------------------------------------------------------

    async def _serve_connection(self, socket: ServerConnection) -> None:
        """One connection's frames, in order; ends with the connection (idle and age limits included)."""
        connection = self._accepted.pop(socket, None)
        if connection is None:
            return
        self._connections[connection.connection_id] = connection
        writer = asyncio.get_running_loop().create_task(self._write(connection))
        # Frames are handled in order by one task while this one keeps reading, so a keepalive behind a frame
        # still being handled is read, and answered at once.
        frames: asyncio.Queue[str] = asyncio.Queue(maxsize=FRAMES_QUEUED_MAX)
        handler = asyncio.get_running_loop().create_task(self._handle_frames(connection, frames))
        try:
            while True:
                now = time.time()
                remaining = min(
                    connection.last_active_at + IDLE_TIMEOUT_SECONDS - now,
                    connection.connected_at + CONNECTION_MAX_SECONDS - now,
                )
                if remaining <= 0:
                    await socket.close(1001, "Going away")
                    return
                try:
                    frame = await asyncio.wait_for(socket.recv(), remaining)
                except TimeoutError:
                    continue
                except ConnectionClosed:
                    return
                if isinstance(frame, bytes):
                    await socket.close(1003, "Binary frames are not supported")
                    return
                connection.last_active_at = time.time()
                if self.select_route(frame) == KEEPALIVE_ROUTE:
                    # A keepalive is answered at once, not after the frames before it (a client sending many
                    # subscribes must not time out its own pings); API Gateway orders no two frames either.
                    self._spawn(self._route(connection, frame))
                    continue
                await frames.put(frame)
        finally:
            handler.cancel()
            writer.cancel()
            if self._connections.get(connection.connection_id) is connection:
                del self._connections[connection.connection_id]

    async def _handle_frames(self, connection: LiveConnection, frames: asyncio.Queue[str]) -> None:
        """Route the connection's frames one after another, in the order they came."""
        while True:
            await self._route(connection, await frames.get())

    async def _write(self, connection: LiveConnection) -> None:
        """Write the connection's outbox to its socket, in order, until it closes."""
        while True:
            message = await connection.outbox.get()
            connection.queued_bytes -= len(message)
            try:
                await connection.socket.send(message)
            except ConnectionClosed:
                return

    def _enqueue(self, connection: LiveConnection, message: str | bytes) -> bool:
        """Queue ``message`` for the client (on the loop); False (and the connection closed, so later posts
        answer GoneException) when it reads too slowly."""
        if connection.queued_bytes + len(message) > OUTBOX_MAX_BYTES:
            if connection.socket.state is State.OPEN:
                self._spawn(connection.socket.close(1008, "Client too slow"))
            return False
        connection.queued_bytes += len(message)
        connection.outbox.put_nowait(message)
        return True

    def select_route(self, frame: str) -> str | None:
        """The route of a frame: its route-selection value when that names a declared route, else
        ``$default`` (None when the API declares no ``$default``)."""
        try:
            value: Any = json.loads(frame)
        except (ValueError, RecursionError):  # not JSON, or nested deeper than a parser goes: no action
            value = None
        for key in self._selection:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, str) and value in self._message_routes:
            return value
        return "$default" if "$default" in self.spec.routes else None

    async def _route(self, connection: LiveConnection, frame: str) -> None:
        request_id = str(uuid.uuid4())
        route = self.select_route(frame)
        if route is None:
            await self._reply_error(connection, "Forbidden", request_id)
            return
        context = request_context(
            connection, self.spec.stage, route, "MESSAGE", request_id, time.time(), message_id=_token()
        )
        try:
            result = await self._call_function(message_event(context, frame))
        except Exception as error:  # the runtime failed, not the function: API Gateway's answer, still open
            logger.warning("%s on %s failed: %s", route, connection.connection_id, error)
            await self._reply_error(connection, "Internal server error", request_id)
            return
        ok, value = _result_value(result)
        if not ok:
            await self._reply_error(connection, "Internal server error", request_id)
            return
        if isinstance(value, dict) and isinstance(value.get("body"), str):
            self._enqueue(connection, value["body"])

    async def _reply_error(self, connection: LiveConnection, message: str, request_id: str) -> None:
        """API Gateway's own answer to a frame it could not deliver."""
        body = {"message": message, "connectionId": connection.connection_id, "requestId": request_id}
        self._enqueue(connection, json.dumps(body))

    # --- $disconnect ---------------------------------------------------------------------------------------

    async def _await_end(self, socket: ServerConnection, connection: LiveConnection) -> None:
        """Started when ``$connect`` accepts: whatever ends the connection (even a handshake that never
        completes), ``$disconnect`` follows once."""
        await socket.wait_closed()
        self._accepted.pop(socket, None)
        if self._connections.get(connection.connection_id) is connection:
            del self._connections[connection.connection_id]
        close = (socket.close_code or 1006, socket.close_reason or "")
        context = request_context(
            connection,
            self.spec.stage,
            "$disconnect",
            "DISCONNECT",
            str(uuid.uuid4()),
            time.time(),
            close=close,
        )
        try:
            await self._call_function(disconnect_event(context))
        except Exception as error:  # API Gateway ignores the $disconnect result, failures included
            logger.warning("$disconnect of %s failed: %s", connection.connection_id, error)

    # --- @connections --------------------------------------------------------------------------------------

    def post_to_connection(self, connection_id: str, data: bytes) -> int:
        """Send ``data`` to the client: 200 taken (queued for the client, as API Gateway takes a post), 410 no
        such open connection (or one closed for reading too slowly), 413 over 128 KB. Posts reach a
        connection in the order they are taken. The post is taken on the calling thread and handed to the
        loop without waiting for it: a hundred posts cost a hundred hand-offs, not a hundred round trips
        through a loop that shares the interpreter with everything else."""
        if len(data) > MESSAGE_MAX_BYTES:
            return 413
        loop = self._loop
        if loop is None or not loop.is_running():
            return 410
        if threading.current_thread() is self._thread:
            raise WebSocketGatewayError("the @connections methods block: call them from another thread")
        connection = self._open(connection_id)
        if connection is None:
            return 410
        try:
            message: str | bytes = data.decode("utf-8")
        except UnicodeDecodeError:
            message = data
        # Taken in this order, queued in this order: one queue for every post, drained by the loop, which
        # is woken once for however many posts arrive meanwhile.
        self._posted.append((connection, message))
        if not self._drain_scheduled:
            self._drain_scheduled = True
            loop.call_soon_threadsafe(self._drain_posted)
        return 200

    def _drain_posted(self) -> None:
        """On the loop: move every post taken so far into its connection's outbox."""
        # A post appended from here on either schedules another drain or is seen by the loop below.
        self._drain_scheduled = False
        while self._posted:
            connection, message = self._posted.popleft()
            self._enqueue(connection, message)

    def get_connection(self, connection_id: str) -> dict[str, Any] | None:
        """GetConnection's JSON (``connectedAt``, ``identity``, ``lastActiveAt``); None when gone."""
        return self._run(self._describe(connection_id), None)

    def delete_connection(self, connection_id: str) -> int:
        """Close the connection (its ``$disconnect`` follows): 204, or 410 when it is not open."""
        return self._run(self._delete(connection_id), 410)

    def _run(self, coroutine: Coroutine[Any, Any, T], gone: T) -> T:
        loop = self._loop
        if loop is None or not loop.is_running():
            coroutine.close()
            return gone
        if threading.current_thread() is self._thread:
            coroutine.close()
            raise WebSocketGatewayError("the @connections methods block: call them from another thread")
        future = asyncio.run_coroutine_threadsafe(coroutine, loop)
        try:
            return future.result(timeout=MANAGEMENT_TIMEOUT_SECONDS)
        except FutureTimeout:
            future.cancel()
            return gone

    def _open(self, connection_id: str) -> LiveConnection | None:
        connection = self._connections.get(connection_id)
        if connection is None or connection.socket.state is not State.OPEN:
            return None
        return connection

    async def _describe(self, connection_id: str) -> dict[str, Any] | None:
        connection = self._open(connection_id)
        if connection is None:
            return None
        return {
            "connectedAt": _iso(connection.connected_at),
            "identity": {"sourceIp": connection.source_ip, "userAgent": connection.user_agent},
            "lastActiveAt": _iso(connection.last_active_at),
        }

    async def _delete(self, connection_id: str) -> int:
        connection = self._open(connection_id)
        if connection is None:
            return 410
        del self._connections[connection_id]
        self._spawn(connection.socket.close(1000))
        return 204


def _selection_path(expression: str) -> tuple[str, ...]:
    """``$request.body.action`` -> ``("action",)``: the only kind of route selection WebSocket APIs with a
    JSON body use."""
    prefix = "$request.body."
    if not expression.startswith(prefix) or not expression[len(prefix) :]:
        raise ValueError(f"unsupported route selection expression {expression!r}")
    return tuple(expression[len(prefix) :].split("."))


# --- the @connections API over HTTP ------------------------------------------------------------------------


def owns_callback_path(path: str) -> bool:
    return path == CALLBACK_PREFIX or path.startswith(CALLBACK_PREFIX + "/")


def _connection_id(environ: dict[str, Any]) -> str | None:
    """The connection id from the path as sent: botocore percent-encodes it (``=`` and ``/`` included)."""
    raw_uri = environ.get("RAW_URI") or environ.get("REQUEST_URI") or ""
    raw_path = raw_uri.split("?", 1)[0] if raw_uri.startswith("/") else environ.get("PATH_INFO", "")
    return connection_id_of(raw_path)


def connection_id_of(raw_path: str) -> str | None:
    """The connection id in an @connections path as sent (percent-encoded), or None when it names none."""
    rest = raw_path[len(CALLBACK_PREFIX) :] if raw_path.startswith(CALLBACK_PREFIX) else ""
    # /{api id}/{stage}/@connections/{id}: the endpoint names its API and stage, as API Gateway's does.
    marker = rest.find(CONNECTIONS_PATH)
    rest = rest[marker:] if marker >= 0 else ""
    if not rest.startswith(CONNECTIONS_PATH) or len(rest) == len(CONNECTIONS_PATH):
        return None
    return unquote(rest[len(CONNECTIONS_PATH) :])


def post_answer(
    gateway: LocalWebSocketGateway, connection_id: str, body: bytes
) -> tuple[int, list[tuple[str, str]], bytes]:
    """PostToConnection's answer as the @connections API gives it: (status, headers, body)."""
    status = gateway.post_to_connection(connection_id, body)
    if status == 200:
        return _response(200)
    if status == 413:
        return _error_response(413, "PayloadTooLargeException", "Message too long")
    return _error_response(410, "GoneException", f"connection {connection_id} is gone")


def _response(
    status: int, body: bytes = b"", error_type: str | None = None
) -> tuple[int, list[tuple[str, str]], bytes]:
    headers = [("x-amzn-RequestId", str(uuid.uuid4())), ("Content-Length", str(len(body)))]
    if body:
        headers.append(("Content-Type", "application/json"))
    if error_type is not None:
        headers.append(("x-amzn-ErrorType", error_type))
    return status, headers, body


def _error_response(status: int, error_type: str, message: str) -> tuple[int, list[tuple[str, str]], bytes]:
    return _response(status, json.dumps({"message": message}).encode(), error_type)


def _read_body(environ: dict[str, Any]) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    return environ["wsgi.input"].read(length) if length > 0 else b""


def _answer(
    start_response: StartResponse, status: int, body: bytes = b"", error_type: str | None = None
) -> list[bytes]:
    return _send(start_response, _response(status, body, error_type))


def _send(start_response: StartResponse, answer: tuple[int, list[tuple[str, str]], bytes]) -> list[bytes]:
    status, headers, body = answer
    start_response(f"{status} {HTTPStatus(status).phrase}", headers)
    return [body]


def _error(start_response: StartResponse, status: int, error_type: str, message: str) -> list[bytes]:
    return _send(start_response, _error_response(status, error_type, message))


def serve_connections_api(
    gateway: LocalWebSocketGateway | None, environ: dict[str, Any], start_response: StartResponse
) -> Iterable[bytes]:
    """WSGI: ``POST|GET|DELETE {CALLBACK_PREFIX}/@connections/{id}`` answered by ``gateway`` with the status
    codes, error types and JSON shapes of the real @connections API; 503 while there is no gateway."""
    body = _read_body(environ)  # read even when refused: the client's keep-alive connection stays in step
    if gateway is None:
        return _error(start_response, 503, "ServiceUnavailableException", "the WebSocket gateway is starting")
    connection_id = _connection_id(environ)
    method = environ.get("REQUEST_METHOD", "GET").upper()
    if connection_id is None or method not in ("POST", "GET", "DELETE"):
        return _error(start_response, 403, "ForbiddenException", "Missing Authentication Token")
    if method == "POST":
        return _send(start_response, post_answer(gateway, connection_id, body))
    if method == "GET":
        description = gateway.get_connection(connection_id)
        if description is None:
            return _error(start_response, 410, "GoneException", f"connection {connection_id} is gone")
        return _answer(start_response, 200, json.dumps(description).encode())
    if gateway.delete_connection(connection_id) == 204:
        return _answer(start_response, 204)
    return _error(start_response, 410, "GoneException", f"connection {connection_id} is gone")
