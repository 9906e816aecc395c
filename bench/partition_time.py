"""How long InitializeStateBag's pure work takes (``validate_executable``, ``partition``) beside a baseline.

The baseline is what any reader of the same file must spend: ``json.load`` of it plus a ``graphlib``
topological order of its edges. Times are CPU seconds (``time.process_time``) in one process; the ratio
(validate + partition) / baseline is issue 21's planning target (at most 3 on a 100,000-node chain).

Each size runs in a fresh interpreter (no memory left over from the previous size) under a time cap, so a
super-linear case is reported as such instead of stalling the benchmark. The median of a few repeats is
taken where they are cheap.

``python -m bench.partition_time`` prints the table (``--help`` for shapes, sizes and repeats).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
TARGET_RATIO = 3.0


@dataclass(frozen=True)
class PartitionTiming:
    shape: str
    nodes: int
    validate_s: float | None  # None: the time cap was reached
    partition_s: float | None
    segments: int | None
    stages: int | None
    cap_s: float
    baseline_s: float | None = None  # json.load + graphlib static order of the same file
    document_bytes: int | None = None
    over_size_cap: bool = False  # the document is over MAX_WORKFLOW_BYTES: measured with that cap lifted

    @property
    def total_s(self) -> float | None:
        if self.validate_s is None or self.partition_s is None:
            return None
        return self.validate_s + self.partition_s

    @property
    def ratio(self) -> float | None:
        total = self.total_s
        return total / self.baseline_s if total is not None and self.baseline_s else None


def _baseline(path: Path) -> tuple[object, float]:
    """The file loaded, and the CPU seconds of json.load plus a graphlib static order of its edges."""
    import graphlib

    began = time.process_time()
    with path.open(encoding="utf-8") as file:
        document = json.load(file)
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for node in document["nodes"]:
        sorter.add(node["node_id"])
    for edge in document["edges"]:
        sorter.add(edge["target"], edge["source"])
    list(sorter.static_order())
    return document, time.process_time() - began


def _child(shape: str, nodes: int, repeats: int) -> None:
    """Runs in the subprocess: prints the figures of one shape and size as one JSON line."""
    import gc
    import statistics
    import tempfile
    from unittest import mock

    from segflow.domain.limits import MAX_WORKFLOW_BYTES
    from segflow.dsl.json_values import json_size
    from segflow.dsl.validation import validate_executable
    from segflow.engine.partitioner import partition

    from bench import workflows

    workflow = workflows.build(shape, nodes)
    size = json_size(workflow)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "workflow.json"
        path.write_text(json.dumps(workflow), encoding="utf-8")
        del workflow
        baseline_times, validate_times, partition_times = [], [], []
        segments = stages = 0
        # A 100,000-node bench workflow is larger than a stored definition may be: its size is still
        # computed and compared, against a cap lifted to its size, so the work measured is the same.
        with mock.patch("segflow.dsl.validation.MAX_WORKFLOW_BYTES", max(size, MAX_WORKFLOW_BYTES)):
            for _ in range(repeats):
                gc.collect()  # each repeat starts from the same heap, nothing left of the previous one
                document, baseline = _baseline(path)
                began = time.process_time()
                graph = validate_executable(document)
                validated = time.process_time()
                plan = partition(graph, body_key_for=lambda segment_id: f"bodies/{segment_id}.json")
                partition_times.append(time.process_time() - validated)
                validate_times.append(validated - began)
                baseline_times.append(baseline)
                segments, stages = len(plan.segments), len(plan.stages)
                del document, graph, plan
    print(
        json.dumps(
            {
                "baseline": statistics.median(baseline_times),
                "validate": statistics.median(validate_times),
                "partition": statistics.median(partition_times),
                "segments": segments,
                "stages": stages,
                "bytes": size,
                "over_cap": size > MAX_WORKFLOW_BYTES,
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
        shape,
        nodes,
        figures["validate"],
        figures["partition"],
        figures["segments"],
        figures["stages"],
        cap_s,
        baseline_s=figures["baseline"],
        document_bytes=figures["bytes"],
        over_size_cap=figures["over_cap"],
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


def _seconds(value: float | None) -> str:
    return f"{value:8.3f} s" if value is not None else "       — "


def describe(timings: list[PartitionTiming]) -> list[str]:
    lines = [
        f"{'shape':7s} {'nodes':>8s} {'MB':>6s} {'baseline':>10s} {'validate':>10s} {'partition':>10s} "
        f"{'total':>10s} {'ratio':>6s} {'growth':>7s}  segments / stages"
    ]
    previous: dict[str, PartitionTiming] = {}
    for timing in timings:
        before = previous.get(timing.shape)
        growth = "—"
        if before and before.total_s and timing.total_s:
            growth = f"x{timing.total_s / before.total_s * before.nodes / timing.nodes * 10:.1f}"
        size = f"{timing.document_bytes / 1e6:6.1f}" if timing.document_bytes else "     —"
        ratio = f"{timing.ratio:6.2f}" if timing.ratio is not None else "> cap"
        shape_of = f"{timing.segments:,} / {timing.stages:,}" if timing.segments is not None else ""
        note = "  (over the document size cap: measured with it lifted)" if timing.over_size_cap else ""
        lines.append(
            f"{timing.shape:7s} {timing.nodes:>8,} {size} {_seconds(timing.baseline_s)} "
            f"{_seconds(timing.validate_s)} {_seconds(timing.partition_s)} {_seconds(timing.total_s)} "
            f"{ratio} {growth:>7s}  {shape_of}{note}"
        )
        previous[timing.shape] = timing
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.partition_time", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--shapes", default="linear,wide,mixed", help="comma-separated (default: %(default)s)"
    )
    parser.add_argument(
        "--sizes", default="10000,100000", help="node counts, comma-separated (default: %(default)s)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs per size, median taken (default 3)")
    parser.add_argument("--cap", type=float, default=120.0, help="seconds per size before giving up")
    args = parser.parse_args(argv)
    shapes = tuple(args.shapes.split(","))
    sizes = tuple(int(size) for size in args.sizes.split(","))
    timings = [measure(shape, nodes, args.repeats, args.cap) for shape in shapes for nodes in sizes]
    print("CPU seconds; baseline = json.load + graphlib static order of the same file;")
    print("ratio = total / baseline;")
    print("growth = time per node against the previous size, x10 (10 is linear)")
    for line in describe(timings):
        print(line)
    chain = next((t for t in timings if t.shape == "linear" and t.nodes == 100_000), None)
    if chain is not None and chain.ratio is not None:
        verdict = "within" if chain.ratio <= TARGET_RATIO else "OVER"
        print(f"100,000-node chain: ratio {chain.ratio:.2f} ({verdict} the target of {TARGET_RATIO:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
