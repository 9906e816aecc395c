"""AWS SDK calls a node makes wait no longer than the node's deadline.

botocore's timeouts belong to a client, and clients are shared; since botocore 1.44 each request may carry its
own read timeout in its context. A ``before-send`` handler on the clients nodes use sets it, on every attempt
(botocore's own retries included), to the client's read timeout or the time left before the deadline of the
node running in this thread, whichever is shorter, and refuses to send once that time is gone. Outside a node
(the segment runner's own records) it changes nothing. Connect timeouts stay the client's: botocore has no
per-request one.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any, Protocol, TypeVar

from segflow.domain.deadline import current_deadline


class _BotocoreClient(Protocol):
    @property
    def meta(self) -> Any: ...


Client = TypeVar("Client", bound=_BotocoreClient)

_HANDLER_ID = "segflow-node-deadline"
_lock = threading.Lock()
_limited: weakref.WeakSet[Any] = weakref.WeakSet()


def limited_by_node_deadline(client: Client, operations: tuple[str, ...] = ()) -> Client:
    """``client``, its requests capped by the deadline of the node that makes them (registered once).

    botocore runs handlers of more specific events first: ``operations`` named here are capped before any
    handler of theirs that answers the request itself (the local runtime's Lambda Invoke), so a call the
    deadline has already cut is never made."""
    meta = client.meta
    service = meta.service_model.service_id.hyphenize()
    with _lock:
        if client not in _limited:
            for event in ("before-send", *(f"before-send.{service}.{name}" for name in operations)):
                meta.events.register_first(event, _cap_read_timeout, unique_id=f"{_HANDLER_ID}:{event}")
            _limited.add(client)
    return client


def _cap_read_timeout(request: Any, **_kwargs: Any) -> None:
    deadline = current_deadline()
    context = getattr(request, "context", None)
    if deadline is None or context is None:
        return
    own = context.get("read_timeout") or context["client_config"].read_timeout
    context["read_timeout"], _ = deadline.cap(own, "the AWS call")
