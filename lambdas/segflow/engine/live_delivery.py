"""Sending a subscriber every stored event it has not been sent yet, in order, once.

Both the subscribe route (the replay) and the stream pusher (live events) call :func:`deliver`. Whoever holds
the subscription's lease sends; a caller that finds it taken leaves a mark, and the holder reads the log again
before letting go, so an event stored while a replay is running is sent right after it, never before, never
twice. Events are read from the log, not from the stream record, so every sender sends the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterator

from segflow.domain.errors import ConnectionGone
from segflow.domain.limits import EVENT_PAGE_SIZE, LIVE_MESSAGE_BUDGET_BYTES
from segflow.engine.ports import EventLogPages, EventPages, LiveConnections, Subscriptions
from segflow.events.models import events_message

_ENVELOPE_BYTES = 200


class SharedPages:
    """The log's pages, each number read once for all the subscribers one caller serves (one PushEvents
    invocation), wherever each subscriber stands: what was read is kept as one run of consecutive numbers,
    a subscriber's page is cut from it, and only what the run lacks is read. Safe for the life of one
    invocation: it started after the events of its stream records were stored, so its first read of a number
    already holds them, and a page cut short ends where a read found the log's end."""

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


def deliver(
    subscriptions: Subscriptions,
    log: EventPages,
    live: LiveConnections,
    connection_id: str,
    tenant_id: str,
    execution_id: str,
    holder: str,
) -> int:
    """Send what the connection lacks of the execution's log; returns how many events were sent. A connection
    that is gone is forgotten.

    A page shorter than a full one holds every event stored when it was read, and any event stored later
    comes with its own stream record (a later delivery, or a dirty mark if this one still holds the lease):
    so after a short page the lease is given back, in the same write that notes what was sent.
    """
    sent_seq = subscriptions.acquire(connection_id, tenant_id, execution_id, holder)
    if sent_seq is None:  # another sender holds it and will look again
        return 0
    count = 0
    try:
        while True:
            page = log.read(tenant_id, execution_id, after_seq=sent_seq)
            for last, message in messages(execution_id, page):
                live.post(connection_id, message)
                count += sum(1 for seq, text in page if sent_seq < seq <= last and text is not None)
                sent_seq = last
            if len(page) >= EVENT_PAGE_SIZE:
                if not subscriptions.sent(connection_id, tenant_id, execution_id, holder, sent_seq):
                    return count  # unsubscribed, or the lease lapsed and another sender took over
                continue
            finished = subscriptions.finish(connection_id, tenant_id, execution_id, holder, sent_seq)
            if finished is not False:  # done, or no longer ours
                return count
    except ConnectionGone:
        subscriptions.disconnect(connection_id)
        return count
