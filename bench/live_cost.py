"""``python -m bench.live_cost``: what live events cost per 1,000 executions with 1 and 100 watchers, in AWS.

A count times a published price, for the design of docs/live-events.md: per delivery (one PushEvents batch
of one execution) one consistent GetItem of the feed, two UpdateItems of it (lease taken, lease given back
with ``pushed_seq``: ``tests/e2e/test_live_delivery_writes.py`` counts them with 1 and 100 watchers), two
consistent Queries (the new events; whether more came while they were posted), and one @connections message
per watcher, posted 16 at a time; per
watcher, once, its subscribe's two writes (the subscription noted on its connection, its join of the feed).
A write costs one unit per KB of the larger of the item's old and new image, so the feed's size (about 24
bytes per watcher: its connection id in the set of watchers) is counted. The earlier design (two writes per
watcher per delivery, on ~200-byte items) is shown beside it.

Assumptions, printed with the table: every event is its own delivery (the worst case: a slow workflow whose
events come one by one; batches of pure nodes share one), events of ~600 bytes, a PushEvents invocation of
512 MB that spends ``POST_MS`` per message posted (an assumption, not a published figure), and watchers
connected for the execution's duration.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass

from segflow.domain.limits import LIVE_POST_CONCURRENCY

from bench import costs

API_GATEWAY_PER_MESSAGE = 1.00 / 1_000_000  # WebSocket messages, first billion, per 32 KB increment
API_GATEWAY_PER_CONNECTION_MINUTE = 0.25 / 1_000_000
FEED_BASE_BYTES = 150  # keys, pushed_seq, the lease
FEED_BYTES_PER_WATCHER = 24  # <connection id> in the ``watching`` set
EVENT_BYTES = 600
POST_MS = 10.0
PUSH_MEMORY_GB = 0.5
PUSH_BASE_MS = 30.0


@dataclass(frozen=True)
class Scenario:
    events: int  # per execution
    minutes: float  # how long each watcher is connected
    watchers: int


def _units(size_bytes: float, unit_bytes: int) -> int:
    return max(1, math.ceil(size_bytes / unit_bytes))


def per_thousand(scenario: Scenario, per_watcher_writes: bool = False) -> dict[str, float]:
    deliveries = scenario.events
    feed = FEED_BASE_BYTES + FEED_BYTES_PER_WATCHER * scenario.watchers
    if per_watcher_writes:  # the earlier design: a lease and a sent mark per watcher, per delivery
        write_units = deliveries * scenario.watchers * 2 * _units(200, 1024)
        read_units = deliveries * (1 + _units(EVENT_BYTES, 4096))  # the index query, the shared log read
        push_seconds = deliveries * (PUSH_BASE_MS + POST_MS * scenario.watchers) / 1000  # one post at a time
    else:
        subscribes = scenario.watchers * (_units(200, 1024) + _units(feed, 1024))
        write_units = deliveries * 2 * _units(feed, 1024) + subscribes
        read_units = deliveries * (_units(feed, 4096) + _units(EVENT_BYTES, 4096) + 1)
        rounds = math.ceil(scenario.watchers / LIVE_POST_CONCURRENCY)
        push_seconds = deliveries * (PUSH_BASE_MS + POST_MS * rounds) / 1000
    messages = deliveries * scenario.watchers
    parts = {
        "dynamodb": 1_000
        * (write_units * costs.DYNAMODB_PER_WRITE_UNIT + read_units * costs.DYNAMODB_PER_READ_UNIT),
        "messages": 1_000 * messages * API_GATEWAY_PER_MESSAGE,
        "connection_minutes": 1_000
        * scenario.watchers
        * scenario.minutes
        * API_GATEWAY_PER_CONNECTION_MINUTE,
        "lambda": 1_000
        * (
            deliveries * costs.LAMBDA_PER_REQUEST
            + push_seconds * PUSH_MEMORY_GB * costs.LAMBDA_ARM64_PER_GB_SECOND
        ),
        "write_units_per_execution": write_units,
    }
    parts["total"] = parts["dynamodb"] + parts["messages"] + parts["connection_minutes"] + parts["lambda"]
    return parts


def table(events: int, minutes: float) -> str:
    lines = [
        "| watchers | design | DynamoDB write units per execution | DynamoDB | API Gateway messages "
        "| connection minutes | PushEvents (Lambda) | total per 1,000 executions |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for watchers in (1, 100):
        for label, old in (("feed per execution", False), ("earlier: writes per watcher", True)):
            row = per_thousand(Scenario(events, minutes, watchers), per_watcher_writes=old)
            lines.append(
                f"| {watchers} | {label} | {row['write_units_per_execution']:,} | ${row['dynamodb']:.4f} "
                f"| ${row['messages']:.4f} | ${row['connection_minutes']:.4f} | ${row['lambda']:.4f} "
                f"| ${row['total']:.4f} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=40, help="events per execution (default 40)")
    parser.add_argument("--minutes", type=float, default=1.0, help="minutes each watcher stays connected")
    args = parser.parse_args(argv)
    print(
        f"live events per 1,000 executions of {args.events} events, watched {args.minutes:g} min each, "
        f"{costs.REGION} prices as of {costs.PRICES_AS_OF} (each event its own delivery; {POST_MS:g} ms "
        f"per post assumed)\n"
    )
    print(table(args.events, args.minutes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
