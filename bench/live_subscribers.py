"""Many WebSocket subscribers to one execution, recording every event exactly as it arrives.

Used by the fan-out test (every subscriber gets every seq once, in order) and by the latency benchmark
(state change to client receipt). Nothing is reordered or deduplicated here: what is recorded is what the
server sent (:func:`delivery_check` compares it with the log). A subscriber may drop its connection once
midway and resubscribe with ``since_seq``. ``follow`` can run something (the bench: approving the gate the
execution waits at) once every subscriber has its ``subscribed``.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from segflow.domain.statuses import TERMINAL_EXECUTION_STATES

NOT_FOUND_RETRY_SECONDS = 0.2  # the execution's record is written by InitializeStateBag, just after the start


@dataclass
class Subscriber:
    index: int
    drop_at_seq: int | None = None  # close the connection once this seq arrived, then resubscribe after it
    seqs: list[int] = field(default_factory=list)
    # receipt time - the event's timestamp, for events that happened after the subscription was answered
    # (a replay of older events measures how old they are, not how fast they travel)
    latencies_ms: list[float] = field(default_factory=list)
    subscribed_at: float | None = None
    reconnects: int = 0
    subscribed_since: list[int] = field(default_factory=list)


async def _follow(
    url: str,
    execution_id: str,
    subscriber: Subscriber,
    timeout_seconds: float,
    subscribed: Callable[[], None] = lambda: None,
) -> None:
    from websockets.asyncio.client import connect

    since = 0
    deadline = time.monotonic() + timeout_seconds
    while True:
        async with connect(url, max_size=2**20, open_timeout=30, ping_interval=None) as socket:
            frame = json.dumps({"action": "subscribe", "execution_id": execution_id, "since_seq": since})
            await socket.send(frame)
            subscriber.subscribed_since.append(since)
            dropped = False
            while not dropped:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"subscriber {subscriber.index}: {len(subscriber.seqs)} events so far")
                message = json.loads(await asyncio.wait_for(socket.recv(), remaining))
                received_at = time.time()
                if message.get("type") == "error":
                    if message.get("code") != "NotFound":
                        raise RuntimeError(f"subscriber {subscriber.index}: {message}")
                    await asyncio.sleep(NOT_FOUND_RETRY_SECONDS)
                    await socket.send(frame)
                    continue
                if message.get("type") == "subscribed" and subscriber.subscribed_at is None:
                    subscriber.subscribed_at = received_at
                    subscribed()
                if message.get("type") != "events":
                    continue
                for event in message["events"]:
                    subscriber.seqs.append(event["seq"])
                    if (
                        subscriber.subscribed_at is not None
                        and event["timestamp"] >= subscriber.subscribed_at
                    ):
                        subscriber.latencies_ms.append((received_at - event["timestamp"]) * 1000)
                    since = event["seq"]
                    if event["kind"] == "execution" and event["new_state"] in TERMINAL_EXECUTION_STATES:
                        return
                since = max([since, *message.get("skipped", [])])  # numbers that hold no event
                if subscriber.drop_at_seq is not None and since >= subscriber.drop_at_seq:
                    subscriber.drop_at_seq = None
                    subscriber.reconnects += 1
                    dropped = True  # leaving the block closes the connection


async def _follow_all(
    url: str,
    execution_id: str,
    subscribers: list[Subscriber],
    timeout: float,
    when_subscribed: Callable[[], None] | None,
) -> None:
    everyone = asyncio.Event()
    waiting = [len(subscribers)]

    def one_more() -> None:
        waiting[0] -= 1
        if waiting[0] == 0:
            everyone.set()

    following: asyncio.Future[Any] = asyncio.gather(
        *(_follow(url, execution_id, s, timeout, one_more) for s in subscribers)
    )
    if when_subscribed is not None:
        everyone_waited: asyncio.Future[Any] = asyncio.ensure_future(everyone.wait())
        await asyncio.wait(
            [everyone_waited, following],
            timeout=timeout,
            return_when=asyncio.FIRST_COMPLETED,
        )
        if not everyone.is_set():
            everyone_waited.cancel()
            if following.done():
                await following  # a subscriber's own error
            following.cancel()
            raise TimeoutError(f"{waiting[0]} of {len(subscribers)} subscribers never got `subscribed`")
        await asyncio.to_thread(when_subscribed)
    await following


def follow(
    url: str,
    execution_id: str,
    subscribers: list[Subscriber],
    timeout_seconds: float = 600,
    when_subscribed: Callable[[], None] | None = None,
) -> None:
    """Run every subscriber until it received the execution's terminal event; ``when_subscribed`` runs (in a
    thread) once every subscriber got its first ``subscribed``."""
    asyncio.run(_follow_all(url, execution_id, subscribers, timeout_seconds, when_subscribed))


def delivery_check(subscribers: list[Subscriber], logged: list[int]) -> dict[str, int]:
    """What each subscriber received against the log's event numbers: how many got exactly every event,
    once, in order; and over all of them the events received twice, out of order, or never."""
    exact = duplicates = disordered = missing = 0
    for subscriber in subscribers:
        seen: set[int] = set()
        last = 0
        for seq in subscriber.seqs:
            if seq in seen:
                duplicates += 1
            elif seq < last:
                disordered += 1
            seen.add(seq)
            last = max(last, seq)
        missing += len(set(logged) - seen)
        exact += subscriber.seqs == logged
    return {
        "exact": exact,
        "duplicates": duplicates,
        "out_of_order": disordered,
        "missing": missing,
    }


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def latency_summary(subscribers: list[Subscriber]) -> dict[str, Any]:
    latencies = [value for s in subscribers for value in s.latencies_ms]
    return {
        "subscribers": len(subscribers),
        "deliveries": len(latencies),
        "p50_ms": percentile(latencies, 0.50),
        "p99_ms": percentile(latencies, 0.99),
        "mean_ms": statistics.fmean(latencies) if latencies else float("nan"),
    }
