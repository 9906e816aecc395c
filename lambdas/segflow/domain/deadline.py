"""How long a node may still block: its segment's deadline, and the node running in this thread's deadline.

Two limits bound a node: the invocation's (the Lambda deadline less the yield margin: passing it fails with
:class:`~segflow.domain.errors.DeadlineReached`, and the node runs again in the next invocation) and its own
``timeout_seconds`` (passing it fails with :class:`~segflow.domain.errors.NodeTimedOut`). A node's
:class:`Deadline` is the nearer of the two (:meth:`Deadline.within`); whichever passes first names the error.
Every outbound call a node makes is checked against it before it is sent and waits at most what is left
(:func:`check_deadline`, :func:`capped_timeout`), so nothing is sent once the node's time is over.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar

from segflow.domain.errors import DeadlineReached, NodeFailure, NodeTimedOut
from segflow.domain.limits import NODE_START_SHARE_OF_FRESH_INVOCATION

# A call that ends this close to the deadline (or later) was cut by it: socket timeouts fire a little late.
_DEADLINE_SLACK_SECONDS = 0.05


class Deadline:
    """How long a node may still block. The root deadline is the invocation's: the time left before its
    segment must yield. Every blocking call a node makes waits at most :meth:`cap` of its own timeout.

    ``fresh_seconds`` is what the invocation had when it started: what the next invocation would give a node
    deferred to it (unknown: infinity). A node's deadline is :meth:`within` the invocation's."""

    def __init__(
        self,
        seconds_left: Callable[[], float],
        fresh_seconds: float = math.inf,
        *,
        parent: Deadline | None = None,
        timeout_seconds: float | None = None,
    ) -> None:
        self._seconds_left = seconds_left
        self.fresh_seconds = fresh_seconds
        self.parent = parent
        # None: the invocation's deadline (a later invocation may give more); a number: a node's timeout.
        self.timeout_seconds = timeout_seconds
        self._abandoned = threading.Event()

    @classmethod
    def after(
        cls, seconds: float, clock: Callable[[], float] = time.monotonic, fresh_seconds: float = math.inf
    ) -> Deadline:
        at = clock() + seconds
        return cls(lambda: at - clock(), fresh_seconds)

    def within(self, timeout_seconds: float | None, clock: Callable[[], float] = time.monotonic) -> Deadline:
        """A node's deadline: ``timeout_seconds`` from now (None: no limit of its own), and never later than
        this one. Passing its own limit is a :class:`NodeTimedOut`; passing this one, this one's error."""
        at = clock() + timeout_seconds if timeout_seconds is not None else math.inf
        return Deadline(
            lambda: at - clock(),
            self.fresh_seconds,
            parent=self,
            timeout_seconds=math.inf if timeout_seconds is None else timeout_seconds,
        )

    @classmethod
    def of_node(cls, timeout_seconds: float, clock: Callable[[], float] = time.monotonic) -> Deadline:
        """A node's deadline outside any invocation's: its ``timeout_seconds`` from now."""
        at = clock() + timeout_seconds
        return cls(lambda: at - clock(), parent=None, timeout_seconds=timeout_seconds)

    # --- what is left -----------------------------------------------------------------------------------

    def _own_left(self) -> float:
        return -math.inf if self._abandoned.is_set() else self._seconds_left()

    def left(self) -> float:
        own = self._own_left()
        return own if self.parent is None else min(own, self.parent.left())

    def reached(self) -> bool:
        return self.left() <= _DEADLINE_SLACK_SECONDS

    def binding(self) -> Deadline:
        """The limit that passes first: this one or one it is within."""
        if self.parent is None:
            return self
        outer = self.parent.binding()
        return outer if outer.left() < self._own_left() else self

    def abandon(self) -> None:
        """The attempt this deadline belongs to was given up (reported failed): from now on it has no time
        left, so nothing it still runs can send anything. The deadlines it is within are untouched."""
        self._abandoned.set()

    # --- deciding -----------------------------------------------------------------------------------------

    def refusing(self, need: float, after: float = 0.0) -> Deadline | None:
        """The limit that does not let a node that may take ``need`` start ``after`` seconds from now (None:
        it may start). An invocation's deadline starts it when the time left covers it, or is nearly all a
        fresh invocation would give (a later one would not give more); a node's own timeout while any time
        is left (the node fails at its timeout, not before)."""
        if self.parent is not None:
            outer = self.parent.refusing(need, after)
            if outer is not None:
                return outer
        left = self._own_left() - after
        if left <= _DEADLINE_SLACK_SECONDS:
            return self
        if self.timeout_seconds is None and left < min(
            need, self.fresh_seconds * NODE_START_SHARE_OF_FRESH_INVOCATION
        ):
            return self
        return None

    def allows(self, need: float, after: float = 0.0) -> bool:
        """Whether to start, ``after`` seconds from now, a node that may take ``need`` (:meth:`refusing`)."""
        return self.refusing(need, after) is None

    @property
    def limit_name(self) -> str:
        """What this limit is, in the user's terms."""
        if self.timeout_seconds is not None and self.timeout_seconds != math.inf:
            return f"timeout_seconds {self.timeout_seconds:g}"
        return "the invocation's deadline"

    def passed(self, detail: str = "") -> NodeFailure:
        """The error of this limit having passed: :class:`NodeTimedOut` for a node's timeout,
        :class:`DeadlineReached` for the invocation's; ``detail`` says what was cut or refused."""
        suffix = f": {detail}" if detail else ""
        if self.timeout_seconds is not None and self.timeout_seconds != math.inf:
            return NodeTimedOut(f"did not finish within timeout_seconds {self.timeout_seconds:g}{suffix}")
        return DeadlineReached(f"cut by the invocation's deadline{suffix}")

    def expired(self, detail: str = "") -> NodeFailure:
        """The error of the limit that passed first (:meth:`binding`)."""
        return self.binding().passed(detail)

    def check(self, what: str) -> float:
        """The seconds left; raises the error of the limit that has passed when none are (``what``, e.g.
        ``"POST https://api.example.com/x"``, was not sent)."""
        left = self.left()
        if left <= _DEADLINE_SLACK_SECONDS:
            raise self.expired(f"{what} was not started")
        return left

    def cap(self, timeout: float, what: str) -> tuple[float, bool]:
        """The time a call that may take ``timeout`` may wait, and whether the deadline (not ``timeout``) set
        it. Raises the deadline's error (:meth:`expired`) when no time is left to start the call at all."""
        left = self.check(what)
        return (left, True) if left < timeout else (timeout, False)


# The deadline of the node running in this thread: what AWS SDK calls read (segflow.adapters.call_deadline),
# since nothing can be passed through a boto3 call.
node_deadline: ContextVar[Deadline | None] = ContextVar("segflow_node_deadline", default=None)


def current_deadline() -> Deadline | None:
    """The deadline of the node this thread runs for (None outside a node)."""
    return node_deadline.get()


def check_deadline(what: str) -> float:
    """Call before every outbound request a node makes: the seconds its node may still wait (infinity outside
    a node); raises :class:`NodeTimedOut` or :class:`DeadlineReached` once the node's deadline has passed, so
    the request is never sent."""
    deadline = node_deadline.get()
    return math.inf if deadline is None else deadline.check(what)


def capped_timeout(timeout: float, what: str) -> float:
    """``timeout``, or the time the current node has left if that is shorter (:func:`check_deadline`)."""
    return min(timeout, check_deadline(what))
