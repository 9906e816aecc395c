"""How long a node may still block: its segment's deadline, and the node running in this thread's deadline."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextvars import ContextVar

from segflow.domain.errors import DeadlineReached, NodeFailure, NodeTimedOut
from segflow.domain.limits import NODE_START_SHARE_OF_FRESH_INVOCATION

# A call that ends this close to the deadline (or later) was cut by it: socket timeouts fire a little late.
_DEADLINE_SLACK_SECONDS = 0.05


class Deadline:
    """How long a node may still block: the time left before its segment must yield (the Lambda deadline less
    the yield margin). Every blocking call a node makes waits at most :meth:`cap` of its own timeout.

    ``fresh_seconds`` is what the invocation had when it started: what the next invocation would give a node
    deferred to it (unknown: infinity)."""

    def __init__(
        self,
        seconds_left: Callable[[], float],
        fresh_seconds: float = math.inf,
        cause: Callable[[], tuple[type[NodeFailure], str]] | None = None,
    ) -> None:
        self._seconds_left = seconds_left
        self.fresh_seconds = fresh_seconds
        self._cause = cause or (lambda: (DeadlineReached, "the invocation's deadline"))

    @classmethod
    def after(
        cls, seconds: float, clock: Callable[[], float] = time.monotonic, fresh_seconds: float = math.inf
    ) -> Deadline:
        at = clock() + seconds
        return cls(lambda: at - clock(), fresh_seconds)

    def left(self) -> float:
        return self._seconds_left()

    def within(self, seconds: float | None, clock: Callable[[], float] = time.monotonic) -> Deadline:
        """A node's deadline: ``seconds`` from now (its ``timeout_seconds``) or this one, whichever comes
        first. A call the former cuts fails with :class:`NodeTimedOut`, one the latter cuts with its error."""
        if seconds is None:
            return self
        at = clock() + seconds

        def cause() -> tuple[type[NodeFailure], str]:
            if at - clock() <= self.left():
                return NodeTimedOut, f"the node's timeout_seconds ({seconds:g}s)"
            return self._cause()

        return Deadline(lambda: min(at - clock(), self.left()), self.fresh_seconds, cause)

    def passed(self, what: str, detail: str = "") -> NodeFailure:
        """The failure of ``what``, a call this deadline cut (or did not let start)."""
        error, name = self._cause()
        return error(f"{what} was cut by {name}{detail}")

    def reached(self) -> bool:
        return self.left() <= _DEADLINE_SLACK_SECONDS

    def allows(self, need: float, after: float = 0.0) -> bool:
        """Whether to start, ``after`` seconds from now, a node that may take ``need``: when the time left
        covers it, or is nearly all a fresh invocation would give (a later one would not give more)."""
        left = self.left() - after
        return left > _DEADLINE_SLACK_SECONDS and left >= min(
            need, self.fresh_seconds * NODE_START_SHARE_OF_FRESH_INVOCATION
        )

    def cap(self, timeout: float, what: str) -> tuple[float, bool]:
        """The time a call that may take ``timeout`` may wait, and whether the deadline (not ``timeout``) set
        it. Raises :meth:`passed` when no time is left to start the call at all."""
        left = self.left()
        if left <= _DEADLINE_SLACK_SECONDS:
            raise self.passed(what, ": not started, no time was left")
        return (left, True) if left < timeout else (timeout, False)


# The deadline of the node running in this thread: what AWS SDK calls read (segflow.adapters.call_deadline),
# since nothing can be passed through a boto3 call.
node_deadline: ContextVar[Deadline | None] = ContextVar("segflow_node_deadline", default=None)


def current_deadline() -> Deadline | None:
    """The deadline of the node this thread runs for (None outside a node)."""
    return node_deadline.get()
