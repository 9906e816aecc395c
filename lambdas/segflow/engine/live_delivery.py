"""Sending every watcher of an execution every stored event it has not been sent yet, in order, once.

Two senders, never at once to one connection:

- a subscribe sends its own connection the stored events after its ``since_seq`` (:func:`catch_up`), before
  it joins the execution's feed, so nothing else posts to that connection meanwhile; it takes no lease and
  waits for nobody;
- PushEvents (:func:`deliver`), under the feed's lease, sends every watcher in the feed what it lacks: a
  fresh watcher from where its catch-up ended, the others from the feed's ``pushed_seq``.

A join marks the feed, so a sender that read the feed before the join goes again and serves the new watcher
before letting go; and a subscribe that finds the feed already pushed past its catch-up with nobody holding
the lease delivers itself. So every event after ``since_seq`` reaches the connection once, in order, and
one slow subscribe never holds up the events of the others. Events are read from the log, not from the
stream record, so every sender sends the same bytes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

from segflow.domain.errors import ConnectionGone
from segflow.domain.limits import (
    EVENT_DELIVERY_LEASE_SECONDS,
    EVENT_PAGE_SIZE,
    LIVE_DELIVERY_GO_ON_SECONDS,
    LIVE_MESSAGE_BUDGET_BYTES,
    LIVE_POST_CONCURRENCY,
)
from segflow.domain.watchers import Feed, Watcher
from segflow.engine.ports import EventLogPages, ExecutionFeeds, LiveConnections
from segflow.events.models import events_message

_ENVELOPE_BYTES = 200


class SharedPages:
    """The log's pages, each number read once for all the watchers one sender serves, wherever each stands:
    what was read is kept as one run of consecutive numbers (stored numbers never change), a watcher's page
    is cut from it, and only what the run lacks is read. A page cut short ends where a read found the log's
    end, until :meth:`reopen` (a sender's next round) lets reads go past it."""

    def __init__(self, log: EventLogPages) -> None:
        self._log = log
        # (tenant, execution) -> (the seq the run follows, its (seq, text) entries, whether it hit the end)
        self._runs: dict[tuple[str, str], tuple[int, list[tuple[int, str | None]], bool]] = {}

    def read(self, tenant_id: str, execution_id: str, after_seq: int) -> list[tuple[int, str | None]]:
        key = (tenant_id, execution_id)
        after, entries, ended = self._runs.get(key, (after_seq, [], False))
        if after_seq < after:  # behind the run: read up to where it starts, then it continues the run
            earlier = self._pages(tenant_id, execution_id, after_seq, until=after)
            if after_seq + len(earlier) < after:  # the log ends before the run: keep what was read
                self._runs[key] = (after_seq, earlier, True)
                return earlier[:EVENT_PAGE_SIZE]
            after, entries = after_seq, earlier + entries
        while after + len(entries) < after_seq + EVENT_PAGE_SIZE and not ended:
            page = self._log.read(tenant_id, execution_id, after_seq=after + len(entries))
            entries += page
            ended = len(page) < EVENT_PAGE_SIZE
        self._runs[key] = (after, entries, ended)
        if after_seq > after + len(entries):  # past the end this caller found (sent by another): read afresh
            return self._log.read(tenant_id, execution_id, after_seq=after_seq)
        return entries[after_seq - after : after_seq - after + EVENT_PAGE_SIZE]

    def reopen(self, tenant_id: str, execution_id: str) -> None:
        """Read past the end found so far: for a sender's next round, after more events were stored."""
        key = (tenant_id, execution_id)
        if key in self._runs:
            after, entries, _ = self._runs[key]
            self._runs[key] = (after, entries, False)

    def _pages(
        self, tenant_id: str, execution_id: str, after_seq: int, until: int
    ) -> list[tuple[int, str | None]]:
        read: list[tuple[int, str | None]] = []
        while after_seq + len(read) < until:
            wanted = min(EVENT_PAGE_SIZE, until - after_seq - len(read))
            page = self._log.read(tenant_id, execution_id, after_seq=after_seq + len(read), limit=wanted)
            read += page
            if len(page) < wanted:
                break
        return read


def messages(execution_id: str, page: list[tuple[int, str | None]]) -> Iterator[tuple[int, str]]:
    """The page packed into messages under the budget: (last seq in the message, message). A tombstone
    (a number whose change was never stored) travels as its seq under ``skipped``."""
    batch: list[str] = []
    skipped: list[int] = []
    size = _ENVELOPE_BYTES + len(execution_id)
    last = 0
    for seq, text in page:
        grows = len(text) + 1 if text is not None else len(str(seq)) + 1
        if (batch or skipped) and size + grows > LIVE_MESSAGE_BUDGET_BYTES:
            yield last, events_message(execution_id, batch, skipped)
            batch, skipped, size = [], [], _ENVELOPE_BYTES + len(execution_id)
        if text is None:
            skipped.append(seq)
        else:
            batch.append(text)
        size += grows
        last = seq
    if batch or skipped:
        yield last, events_message(execution_id, batch, skipped)


_posters: ThreadPoolExecutor | None = None
_posters_lock = threading.Lock()


def _post_all(live: LiveConnections, connection_id: str, packed: list[tuple[str, int]]) -> tuple[int, bool]:
    """Post one watcher its messages in order: (events sent, whether its connection is gone)."""
    sent = 0
    for message, events in packed:
        try:
            live.post(connection_id, message)
        except ConnectionGone:
            return sent, True
        sent += events
    return sent, False


def _post_to_each(
    live: LiveConnections, connection_ids: list[str], packed: list[tuple[str, int]]
) -> dict[str, tuple[int, bool]]:
    """The same messages to every connection, each connection's in order, up to LIVE_POST_CONCURRENCY
    connections at a time: with a hundred watchers an event takes the time of a few posts, not a hundred, and
    a slow connection holds up only its own."""
    global _posters
    if len(connection_ids) <= 1 or not packed:
        return {c: _post_all(live, c, packed) for c in connection_ids}
    with _posters_lock:
        if _posters is None:
            _posters = ThreadPoolExecutor(LIVE_POST_CONCURRENCY, thread_name_prefix="segflow-live-post")
    futures = {c: _posters.submit(_post_all, live, c, packed) for c in connection_ids}
    return {c: future.result() for c, future in futures.items()}


def catch_up(
    log: EventLogPages,
    live: LiveConnections,
    tenant_id: str,
    execution_id: str,
    connection_id: str,
    since_seq: int,
) -> tuple[int, int] | None:
    """Post one connection the log after ``since_seq``, in order, up to its first number not stored yet:
    (the last number sent, ``since_seq`` when there was none; the events sent), or None when the connection
    is gone."""
    after, events = since_seq, 0
    while True:
        page = log.read(tenant_id, execution_id, after)
        for last, message in messages(execution_id, page):
            try:
                live.post(connection_id, message)
            except ConnectionGone:
                return None
            events += sum(1 for seq, text in page if after < seq <= last and text is not None)
            after = last
        if len(page) < EVENT_PAGE_SIZE:
            return after, events


def deliver(
    feeds: ExecutionFeeds,
    log: EventLogPages,
    live: LiveConnections,
    tenant_id: str,
    execution_id: str,
    holder: str,
    feed: Feed | None = None,
) -> dict[str, int]:
    """Send every watcher of the execution what it lacks of the log; returns the events sent per connection.
    ``feed``: the feed as the caller just read it (None: read it). A connection that is gone is forgotten.

    Under the feed's lease, rounds of: group the watchers by where they stand (most at the feed's
    ``pushed_seq``, a fresh one where its catch-up ended), read the log once per group from there to its
    end, pack each page into messages once, and post them to every member, each connection's in order and
    many connections at once. Events stored while a round posted make another round at once (for up to
    ``LIVE_DELIVERY_GO_ON_SECONDS``). The delivery ends with one write that notes the new ``pushed_seq``,
    forgets the fresh marks of the watchers it served and gives the lease back; if anyone asked for a
    delivery meanwhile (a watcher joined, or PushEvents with newer events) that write fails and the holder
    goes again with the feed as it is now. So the feed's writes per delivery do not depend on how many
    watch.

    A page shorter than a full one holds every event stored when it was read, and any event stored later
    comes with its own stream record (a later delivery, or a dirty mark while this one holds the lease).
    """
    if feed is None:
        feed = feeds.feed(tenant_id, execution_id)
    if feed is None or not feed.watchers:
        return {}
    current = feeds.acquire(tenant_id, execution_id, holder)
    pages = SharedPages(log)
    sent: dict[str, int] = {}
    # connection -> (the fresh mark it was served under, None if it had none; the last number it was sent)
    positions: dict[str, tuple[str | None, int]] = {}
    began = extended_at = time.monotonic()
    while current is not None:
        groups: dict[int, list[Watcher]] = {}
        for watcher in current.watchers:
            known = positions.get(watcher.connection_id)
            if known is not None and known[0] == (watcher.token if watcher.fresh else None):
                start = known[1]
            else:
                start = current.start_of(watcher)
            groups.setdefault(start, []).append(watcher)
        gone: set[str] = set()
        for start, members in sorted(groups.items()):
            after = start
            while True:
                page = pages.read(tenant_id, execution_id, after)
                packed = []
                for last, message in messages(execution_id, page):
                    events = sum(1 for seq, text in page if after < seq <= last and text is not None)
                    packed.append((message, events))
                    after = last
                receivers = [w.connection_id for w in members if w.connection_id not in gone]
                for connection_id, (events, went) in _post_to_each(live, receivers, packed).items():
                    if events:
                        sent[connection_id] = sent.get(connection_id, 0) + events
                    if went:
                        gone.add(connection_id)
                if len(page) < EVENT_PAGE_SIZE:
                    break
                if time.monotonic() - extended_at > EVENT_DELIVERY_LEASE_SECONDS / 3:
                    if not feeds.extend(tenant_id, execution_id, holder, current.pushed_seq):
                        return sent  # the lease lapsed and another sender took over
                    extended_at = time.monotonic()
            for watcher in members:
                positions[watcher.connection_id] = (watcher.token if watcher.fresh else None, after)
        # every watcher of this round now has everything up to here
        staying = [w for w in current.watchers if w.connection_id not in gone]
        reached = [positions[w.connection_id][1] for w in staying]
        pushed = max([current.pushed_seq, min(reached)] if reached else [current.pushed_seq])
        for connection_id in gone:
            feeds.disconnect(connection_id)
        pages.reopen(tenant_id, execution_id)
        # One more read of the log: events stored while this round posted go out now, to the same watchers,
        # rather than after the lease was given back and taken again by the next stream batch.
        going_on = staying and time.monotonic() - began < LIVE_DELIVERY_GO_ON_SECONDS
        if going_on and pages.read(tenant_id, execution_id, pushed):
            current = Feed(pushed, tuple(staying), current.lease_free)
            continue
        served = [w.connection_id for w in staying if w.fresh]
        current = feeds.finish(tenant_id, execution_id, holder, pushed, served)
        extended_at = time.monotonic()
    return sent
