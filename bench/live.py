"""The live-events figures of ``make bench``: latency on ``segflow local up`` at 1, 10 and 100 watchers,
an idle ``segflow local up``'s share of a core, and the cost per 1,000 executions; printed, and written
between the ``live-latency``, ``live-idle`` and ``live-cost`` markers of docs/benchmarks.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench import idle_cost, live_cost, live_latency
from bench.report import DOC_PATH, rewrite

LATENCY_STEPS = 20


def latency_block(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| watchers | events | deliveries | p50 | p99 | every event once, in order |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        lines.append(
            f"| {row['subscribers']} | {row['events']} | {row['deliveries']:,} | {row['p50_ms']:.0f} ms "
            f"| {row['p99_ms']:.0f} ms | {row['exact']} of {row['subscribers']} |"
        )
    return "\n".join(lines)


def idle_block(figures: dict[str, float]) -> str:
    return (
        f"An idle `segflow local up` used {figures['cpu_s']:.2f} s of CPU in {figures['window_s']:.0f} s: "
        f"**{figures['core_percent']:.2f} % of one core** (`python -m bench.idle_cost`)."
    )


def measure_all() -> dict[str, str]:
    rows = live_latency.measure(live_latency.SUBSCRIBER_COUNTS, LATENCY_STEPS)
    idle = idle_cost.measure()
    return {
        "live-latency": latency_block(rows),
        "live-idle": idle_block(idle),
        "live-cost": live_cost.table(40, 1.0),
    }


def write(blocks: dict[str, str], path: Path = DOC_PATH) -> None:
    path.write_text(rewrite(path.read_text(), blocks))
