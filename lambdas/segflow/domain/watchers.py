"""Who watches an execution's live events, and how far its feed has been pushed: what one read of the
execution's feed tells a sender (PushEvents, or a subscribe that has to close its own seam)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Watcher:
    """One connection subscribed to the execution.

    A watcher that has just joined is *fresh*: its subscribe request sent it the log up to ``from_seq``
    itself (its catch-up), and a sender continues after that number. ``token`` names that request, so a
    sender that already served this subscription knows a newer one (the same connection subscribing again)
    from it. Once a sender has served it, the watcher is no longer fresh (``from_seq`` None): it stands at
    the feed's ``pushed_seq`` like every other."""

    connection_id: str
    from_seq: int | None = None
    token: str = ""

    @property
    def fresh(self) -> bool:
        return self.from_seq is not None


@dataclass(frozen=True)
class Feed:
    """The execution's feed: every watcher that is not fresh has been sent every number up to
    ``pushed_seq``. ``lease_free``: no sender holds the delivery lease (as read)."""

    pushed_seq: int
    watchers: tuple[Watcher, ...]
    lease_free: bool = True

    def start_of(self, watcher: Watcher) -> int:
        """The number a sender continues after for this watcher."""
        return watcher.from_seq if watcher.from_seq is not None else self.pushed_seq


@dataclass(frozen=True)
class Joined:
    """What a subscribe learns in the write that adds its watcher to the feed: how far the feed was pushed
    and whether a sender held the lease at that moment."""

    pushed_seq: int
    lease_free: bool
