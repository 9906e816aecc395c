"""How long InitializeStateBag's pure work takes: ``validate_workflow``, ``partition``; 1k, 10k, 100k nodes.

Each size runs in a fresh interpreter (no memory left over from the previous size) under a time cap, so a
super-linear case is reported as such instead of stalling the benchmark. The median of a few repeats is
taken where they are cheap.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class PartitionTiming:
    shape: str
    nodes: int
    validate_s: float | None  # None: the time cap was reached
    partition_s: float | None
    segments: int | None
    stages: int | None
    cap_s: float

    @property
    def total_s(self) -> float | None:
        if self.validate_s is None or self.partition_s is None:
            return None
        return self.validate_s + self.partition_s


def _child(shape: str, nodes: int, repeats: int) -> None:
    """Runs in the subprocess: prints {"validate": s, "partition": s, "segments": n, "stages": n}."""
    import statistics

    from segflow.dsl.validation import validate_workflow
    from segflow.engine.partitioner import partition

    from bench import workflows

    workflow = workflows.build(shape, nodes)
    validate_times, partition_times = [], []
    plan = None
    for _ in range(repeats):
        began = time.perf_counter()
        graph = validate_workflow(workflow)
        validated = time.perf_counter()
        plan = partition(graph, body_key_for=lambda segment_id: f"bodies/{segment_id}.json")
        validate_times.append(validated - began)
        partition_times.append(time.perf_counter() - validated)
    assert plan is not None
    print(
        json.dumps(
            {
                "validate": statistics.median(validate_times),
                "partition": statistics.median(partition_times),
                "segments": len(plan.segments),
                "stages": len(plan.stages),
            }
        )
    )


def measure(shape: str, nodes: int, repeats: int, cap_s: float) -> PartitionTiming:
    code = f"from bench.partition_time import _child; _child({shape!r}, {nodes}, {repeats})"
    try:
        completed = subprocess.run(
            [sys.executable, "-c", code],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=cap_s,
            check=True,
        )
    except subprocess.TimeoutExpired:
        return PartitionTiming(shape, nodes, None, None, None, None, cap_s)
    figures = json.loads(completed.stdout.strip().splitlines()[-1])
    return PartitionTiming(
        shape, nodes, figures["validate"], figures["partition"], figures["segments"], figures["stages"], cap_s
    )


def measure_all(
    shapes: tuple[str, ...], sizes: tuple[int, ...] = (1_000, 10_000, 100_000), cap_s: float = 40.0
) -> list[PartitionTiming]:
    timings = []
    for shape in shapes:
        for nodes in sizes:
            repeats = 3 if nodes <= 10_000 else 1
            timings.append(measure(shape, nodes, repeats, cap_s))
    return timings
