"""``make bench``: every figure of docs/benchmarks.md, in one run, printed and written into the document.

Order of work:

1. cold import time of the handlers (alone: nothing else runs while it is timed) and the asset size;
2. two worker processes, each with its own embedded AWS, split by *workflow*: every design of a workflow runs
   in the same process, back to back, so each ratio compares runs made under the same load. One worker also
   times the partitioner (in a subprocess per size).
3. the tables: printed, and written between the markers of docs/benchmarks.md;
4. live events on ``segflow local up`` (:mod:`bench.live`): latency at 1, 10 and 100 watchers, the idle
   server's share of a core, the cost per 1,000 executions (``--live-only``: this part alone).

The matrix: linear, wide and mixed workflows of 10, 100, 1,000 and 10,000 nodes with 1 KB outputs, and of
10, 100 and 1,000 nodes with 100 KB outputs (10,000 x 100 KB is 1 GB of outputs: not on a 2-core laptop);
calls workflows (a fan-out of API calls, run as Maps) up to 1,000 nodes; under all four designs; and segflow
alone on a 100,000-node chain (the long case, ``--no-long`` leaves it out). A design that breaks a quota is
stopped where Step Functions would fail it, and the table says so.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import sys
import time
from datetime import UTC, datetime
from typing import Any

from bench import report as report_module
from bench.harness import DESIGNS, Case, CaseResult
from bench.workflows import KB, SHAPES

SIZES = (10, 100, 1_000, 10_000)
OUTPUTS = (1 * KB, 100 * KB)
CASE_TIME_CAP_S = 300.0
LONG_CASE_TIME_CAP_S = 900.0
# 10,000 API calls through a Distributed Map take the emulator about 4 minutes under segflow and 2 under the
# choice loop: past the 15-minute budget of the whole run. The Map path is measured up to 1,000 calls.
CALLS_MAX_NODES = 1_000
# 100,000 nodes: segflow only, the chain (the long case: about as long as the rest of the matrix; a wide or
# mixed workflow of that size takes the emulator 10 to 20 minutes more, run with `--long-shapes`). Every other
# design fails at 10,000 nodes already (payload, history or definition size, all growing with the nodes); the
# tables say so instead of running them.
LONG_NODES = 100_000
LONG_SHAPES = ("linear",)
PARTITION_SIZES = (1_000, 10_000, 100_000)
PARTITION_SHAPES = ("linear", "wide", "mixed")  # ``calls`` partitions as ``wide`` does
PARTITION_CAP_S = 30.0
IMPORT_RUNS = 9


def matrix(
    sizes: tuple[int, ...] = SIZES, outputs: tuple[int, ...] = OUTPUTS, long: tuple[str, ...] = ()
) -> list[Case]:
    cases = []
    for shape in SHAPES:
        for nodes in sizes:
            for output in outputs:
                if output >= 100 * KB and nodes >= 10_000:
                    continue
                if shape == "calls" and nodes > CALLS_MAX_NODES:
                    continue
                cases.extend(Case(design, shape, nodes, output) for design in DESIGNS)
        if shape in long:
            cases.append(Case("segflow", shape, LONG_NODES, 1 * KB))
    return cases


# Shapes by the worker that runs them, for two workers: about the same time each (the calls fan-out, run as
# Maps, costs as much as the other three together).
_WORKER_OF_SHAPE = {"calls": 0, "wide": 0, "linear": 1, "mixed": 1}


def split(cases: list[Case], workers: int) -> list[list[Case]]:
    """Whole workflows to each worker, so every ratio compares runs made under the same load."""
    if workers <= 1:
        return [cases]
    parts: list[list[Case]] = [[] for _ in range(workers)]
    for case in cases:
        index = _WORKER_OF_SHAPE.get(case.shape, SHAPES.index(case.shape))
        parts[index % workers].append(case)
    return [part for part in parts if part]


def _print(line: str) -> None:
    print(line, flush=True)


def describe(result: CaseResult) -> str:
    seconds = f"{result.seconds:6.1f} s" if result.seconds is not None else "   —    "
    return (
        f"{result.case.design:12s} {result.case.shape:6s} {result.case.nodes:>6,} nodes "
        f"{result.case.output_bytes // KB:>3} KB  {seconds}  payload {result.largest_payload:>8,} B  "
        f"transitions {result.transitions:>6,}  events {result.events:>6,}  {result.verdict[:70]}"
    )


def run_worker(name: str, cases: list[Case], with_partition: bool, quick: bool) -> dict[str, Any]:
    """One process: its own embedded AWS, its cases in order; optionally the partition timings."""
    from bench import emulator, partition_time

    emulator.apply()
    from bench.harness import Bench
    from segflow_local.embedded import embedded_aws

    results: list[CaseResult] = []
    partitions = []
    if with_partition:
        partitions = partition_time.measure_all(
            PARTITION_SHAPES, (1_000,) if quick else PARTITION_SIZES, PARTITION_CAP_S
        )
        for timing in partitions:
            total = f"{timing.total_s:.2f} s" if timing.total_s is not None else f"> {timing.cap_s:.0f} s"
            _print(f"[{name}] partition {timing.shape} {timing.nodes:,} nodes: {total}")
    with embedded_aws(stage=f"bench{name.lower()}") as aws:
        os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"
        emulator.quiet_handler_logs()
        with Bench(aws) as bench:
            bench.warm_up()
            for case in cases:
                cap = LONG_CASE_TIME_CAP_S if case.nodes >= LONG_NODES else CASE_TIME_CAP_S
                result = bench.run(case, timeout_seconds=cap)
                results.append(result)
                _print(f"[{name}] {describe(result)}")
    return {"results": results, "partitions": partitions}


def _order(cases: list[Case], results: list[CaseResult]) -> list[CaseResult]:
    by_case = {result.case: result for result in results}
    return [by_case[case] for case in cases if case in by_case]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10-node workflows only (a minute)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--no-doc", action="store_true", help="print the tables, leave docs/benchmarks.md")
    parser.add_argument("--live-only", action="store_true", help="only the live-events figures (3 minutes)")
    parser.add_argument(
        "--no-long", action="store_true", help=f"leave out the {LONG_NODES:,}-node chain (the long case)"
    )
    parser.add_argument(
        "--long-shapes",
        default=",".join(LONG_SHAPES),
        help=f"shapes run at {LONG_NODES:,} nodes (comma-separated; default: linear)",
    )
    args = parser.parse_args(argv)
    if args.live_only:
        return live_figures(write_doc=not args.no_doc)

    began = time.monotonic()
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = "make bench" if not args.quick else "python -m bench --quick"
    machine = (
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.system()} {platform.machine()}"
    )

    from bench import imports

    _print("timing the handlers' cold imports ...")
    handler_imports = imports.measure_handlers(runs=2 if args.quick else IMPORT_RUNS)
    asset = imports.asset_size()
    for item in handler_imports:
        _print(
            f"  {item.function}: {item.shipped_ms:.0f} ms as shipped (median {item.shipped_median_ms:.0f}), "
            f"{item.cached_ms:.0f} ms with .pyc (median {item.cached_median_ms:.0f})"
        )

    long = () if args.no_long else tuple(s for s in args.long_shapes.split(",") if s)
    cases = matrix(sizes=(10,)) if args.quick else matrix(long=long)
    parts = split(cases, max(1, args.workers))
    _print(f"running {len(cases)} executions in {len(parts)} worker(s) ...")
    jobs = [(chr(ord("A") + i), part, i == len(parts) - 1, args.quick) for i, part in enumerate(parts)]
    if len(jobs) == 1:
        outputs = [run_worker(*jobs[0])]
    else:
        with multiprocessing.get_context("spawn").Pool(len(jobs)) as pool:
            outputs = pool.starmap(run_worker, jobs)
    results = _order(cases, [r for output in outputs for r in output["results"]])
    partitions = [t for output in outputs for t in output["partitions"]]

    report = report_module.Report(
        command=command,
        started=started,
        machine=machine,
        results=results,
        partitions=partitions,
        imports=handler_imports,
        asset=asset,
    )
    report.runtime_s = time.monotonic() - began
    _print("")
    _print(report_module.terminal(report))
    if not args.no_doc:
        report_module.write_document(report)
        _print(f"\nwrote {report_module.DOC_PATH.relative_to(report_module.DOC_PATH.parents[1])}")
    return live_figures(write_doc=not args.no_doc)


def live_figures(write_doc: bool) -> int:
    """Live events on ``segflow local up`` (its own process: nothing else of the bench runs meanwhile)."""
    from bench import live

    _print("\nmeasuring live events on segflow local up ...")
    blocks = live.measure_all()
    for name, block in blocks.items():
        _print(f"\n== {name} ==\n{block}")
    if write_doc:
        live.write(blocks)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
