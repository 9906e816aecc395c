"""Who watches an execution's live events, and how far its feed has been pushed: what one read of the
execution's feed tells a sender (the subscribe route's replay or PushEvents)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Watcher:
    """One connection subscribed to the execution. ``token`` names the subscribe request: a connection that
    subscribes again (with a new ``since_seq``) is a new watcher. ``live``: a sender has sent it everything
    up to ``since_seq``'s catch-up, so from now on it is at the feed's ``pushed_seq`` like every live
    watcher; a watcher not live yet starts at its ``since_seq``."""

    connection_id: str
    token: str
    since_seq: int
    live: bool


@dataclass(frozen=True)
class Feed:
    """The execution's feed: every live watcher has been sent every number up to ``pushed_seq``."""

    pushed_seq: int
    watchers: tuple[Watcher, ...]

    def start_of(self, watcher: Watcher) -> int:
        """The number a sender continues after for this watcher."""
        return self.pushed_seq if watcher.live else watcher.since_seq
