"""``python -m bench.idle_cost``: the CPU an idle ``segflow local up`` uses, as a share of one core.

Starts ``segflow local up`` in its own process, waits until it answers, lets it settle, then reads the
process's CPU time (user + system, its threads included) before and after a quiet window and prints the
share of one core it used meanwhile. Nothing runs and nothing is connected: what it spends is polling.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from bench.live_latency import local_endpoint

SETTLE_SECONDS = 5.0
WINDOW_SECONDS = 30.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process so far (Linux ``/proc``)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime (fields 14 and 15 of stat)


def measure(
    window_seconds: float = WINDOW_SECONDS, settle_seconds: float = SETTLE_SECONDS
) -> dict[str, float]:
    with local_endpoint() as (_, __, process):
        time.sleep(settle_seconds)  # startup work (deploying into moto, first imports) is not idle time
        cpu_before, wall_before = cpu_seconds(process.pid), time.monotonic()
        time.sleep(window_seconds)
        cpu_after, wall_after = cpu_seconds(process.pid), time.monotonic()
    used = cpu_after - cpu_before
    wall = wall_after - wall_before
    return {"window_s": round(wall, 1), "cpu_s": round(used, 3), "core_percent": round(100 * used / wall, 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=WINDOW_SECONDS, help="the quiet window")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    figures = measure(args.seconds)
    if args.json:
        print(json.dumps(figures))
    else:
        print(
            f"idle segflow local up: {figures['cpu_s']:.3f} s of CPU in {figures['window_s']:.1f} s "
            f"= {figures['core_percent']:.2f} % of one core"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
