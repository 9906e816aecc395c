"""Live execution events over the WebSocket API: every seq once, in order, across dropped connections.

:class:`LiveEvents` subscribes with ``since_seq`` (the replay comes first, then live events), hands out
events in seq order, holds back ones that arrive ahead of a missing seq, and resubscribes from the last seq it
handed out when a gap does not fill or the connection drops. A number the server says holds no event
(``skipped``: a change that was never stored) is passed over. :class:`LiveView` turns events into the
CLI's node table.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from segflow.declaration import LIVE_WEBSOCKET_API
from segflow.domain.statuses import TERMINAL_EXECUTION_STATES

from segflow_cli.rendering.nodes import NodeView, pending_view

GAP_TIMEOUT_SECONDS = 2.0
RECEIVE_TIMEOUT_SECONDS = 30.0  # then a ping keeps the connection (API Gateway closes idle ones at 10 min)
RECONNECT_DELAYS = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0)
# An execution just started has no record until InitializeStateBag wrote it: until then "NotFound" means
# "not yet", and the subscription is asked again.
NOT_FOUND_GRACE_SECONDS = 30.0
NOT_FOUND_RETRY_SECONDS = 0.2


class LiveError(Exception):
    """The server refused (an unknown execution, another tenant's) or the socket could not be reached."""


CONSOLE_LINK_SECONDS = 12 * 3600  # how long a console link may (re)connect with its signature


def signed_url(url: str, session: Any, region: str, expires: int = 300) -> str:
    """A ``wss://`` URL signed with SigV4 in its query (API Gateway's IAM authorizer on ``$connect``)."""
    from botocore.auth import SigV4QueryAuth
    from botocore.awsrequest import AWSRequest

    credentials = session.get_credentials()
    if credentials is None:
        raise LiveError("no AWS credentials to sign the WebSocket connection with")
    parts = urlsplit(url)
    request = AWSRequest(method="GET", url=urlunsplit(("https", parts.netloc, parts.path, parts.query, "")))
    signer = SigV4QueryAuth(credentials.get_frozen_credentials(), "execute-api", region, expires=expires)
    signer.add_auth(request)
    signed = urlsplit(request.url)
    return str(urlunsplit(("wss", signed.netloc, signed.path, signed.query, "")))


def token_url(url: str, token: str, parameter: str = LIVE_WEBSOCKET_API.token_parameter) -> str:
    """The URL with a JWT in its query: what the WebSocket API's JWT authorizer reads (``auth=jwt``)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode({parameter: token}), ""))


def local_url(url: str, tenant: str, principal: str | None = None) -> str:
    """The local gateway's URL with the caller (it plays a Lambda authorizer that trusts these)."""
    query = {"tenant": tenant, **({"principal": principal} if principal else {})}
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))


def console_link(page_url: str, execution_id: str, socket_url: str) -> str:
    """The console page's link: what it shows and where from ride in the fragment, never sent to a server."""
    return f"{page_url}#{urlencode({'execution': execution_id, 'socket': socket_url})}"


def _default_connect(url: str) -> Any:
    from websockets.sync.client import connect

    return connect(url, open_timeout=10, max_size=2**20)


class LiveEvents:
    def __init__(
        self,
        url: str | Callable[[], str],
        execution_id: str,
        since_seq: int = 0,
        connect: Callable[[str], Any] = _default_connect,
        not_found_grace_seconds: float = NOT_FOUND_GRACE_SECONDS,
    ) -> None:
        self._url = url
        self.execution_id = execution_id
        self.last_seq = since_seq
        self._connect = connect
        self._held: dict[int, dict[str, Any] | None] = {}
        self._socket: Any = None
        self.reconnects = 0
        self._not_found_until = time.monotonic() + not_found_grace_seconds

    def close(self) -> None:
        if self._socket is not None:
            self._socket.__exit__(None, None, None)
            self._socket = None

    def _open(self) -> None:
        url = self._url() if callable(self._url) else self._url
        from websockets.exceptions import InvalidStatus

        for attempt, delay in enumerate((0.0, *RECONNECT_DELAYS)):
            time.sleep(delay)
            try:
                self._socket = self._connect(url).__enter__()  # websockets closes it in __exit__
                break
            except InvalidStatus as refused:
                raise LiveError(f"the WebSocket API refused the connection: {refused}") from refused
            except OSError as error:
                if attempt == len(RECONNECT_DELAYS):
                    raise LiveError(f"cannot reach {urlsplit(url).netloc}: {error}") from error
        self._subscribe()

    def _subscribe(self) -> None:
        self._held.clear()
        frame = {"action": "subscribe", "execution_id": self.execution_id, "since_seq": self.last_seq}
        self._socket.send(json.dumps(frame))

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """Events after ``since_seq`` in order, each once; ends after the execution's terminal event."""
        from websockets.exceptions import ConnectionClosed

        self._open()
        gap_since: float | None = None
        try:
            while True:
                try:
                    raw = self._socket.recv(
                        timeout=GAP_TIMEOUT_SECONDS if self._held else RECEIVE_TIMEOUT_SECONDS
                    )
                except TimeoutError:
                    if self._held:  # a missing seq did not come: ask again from the last one handed out
                        self._subscribe()
                    else:
                        self._socket.send(json.dumps({"action": "ping"}))
                    continue
                except ConnectionClosed:
                    self.reconnects += 1
                    self._open()
                    continue
                message = json.loads(raw)
                kind = message.get("type")
                not_yet = kind == "error" and message.get("code") == "NotFound"
                if not_yet and time.monotonic() < self._not_found_until:
                    time.sleep(NOT_FOUND_RETRY_SECONDS)
                    self._subscribe()
                    continue
                if kind == "error":
                    raise LiveError(f"{message.get('code')}: {message.get('message')}")
                if kind != "events" or message.get("execution_id") != self.execution_id:
                    continue
                for event in message["events"]:
                    if event["seq"] > self.last_seq:
                        self._held[event["seq"]] = event
                for seq in message.get("skipped", []):  # numbers that hold no event: the seq moves on
                    if seq > self.last_seq:
                        self._held[seq] = None
                while self.last_seq + 1 in self._held:
                    event = self._held.pop(self.last_seq + 1)
                    self.last_seq += 1
                    if event is None:
                        continue
                    yield event
                    if event["kind"] == "execution" and event["new_state"] in TERMINAL_EXECUTION_STATES:
                        return
                if self._held:
                    gap_since = gap_since or time.monotonic()
                    if time.monotonic() - gap_since > GAP_TIMEOUT_SECONDS:
                        self._subscribe()
                        gap_since = None
                else:
                    gap_since = None
        finally:
            self.close()


class LiveView:
    """The node table from events: the workflow's nodes, each in its latest state."""

    def __init__(self, workflow: dict[str, Any]) -> None:
        self._views: dict[str, NodeView] = {}
        self._started: dict[str, float] = {}
        for node in workflow.get("nodes", []):
            self._views[node["node_id"]] = pending_view(node)
        self.execution_state = "pending"
        self.progress: dict[str, int] = {"completed": 0, "total": len(self._views)}

    def apply(self, event: dict[str, Any]) -> None:
        self.progress = event.get("progress") or self.progress
        if event["kind"] == "execution":
            self.execution_state = event["new_state"]
            if event["new_state"] in TERMINAL_EXECUTION_STATES:
                for node_id, shown in self._views.items():
                    if shown.status == "pending":
                        self._views[node_id] = NodeView(shown.node_id, shown.type, shown.label, "not_run")
            return
        view = self._views.get(event["node_id"])
        if view is None:
            return
        state = "running" if event["new_state"] == "retrying" else event["new_state"]
        if state == "running" and event["node_id"] not in self._started:
            self._started[event["node_id"]] = event["timestamp"]
        duration = event.get("duration_ms")
        if duration is None and state == "running":
            duration = int((time.time() - self._started[event["node_id"]]) * 1000)
        self._views[event["node_id"]] = NodeView(
            view.node_id, view.type, view.label, state, duration, event.get("error")
        )

    def views(self) -> list[NodeView]:
        return list(self._views.values())
