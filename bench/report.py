"""Tables for the terminal and for ``docs/benchmarks.md``.

The document's prose is written by hand; the script replaces only what lies between
``<!-- bench:begin NAME -->`` and ``<!-- bench:end NAME -->`` markers (a missing document is created from a
skeleton holding every marker).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import costs
from bench.harness import DESIGN_LABELS, DESIGNS, CaseResult
from bench.imports import AssetSize, HandlerImport
from bench.partition_time import PartitionTiming

DOC_PATH = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
PAYLOAD_BUDGET_BYTES = 4_096
COLD_IMPORT_TARGET_MS = 300
ASSET_TARGET_BYTES = 5 * 1024 * 1024
RUNTIME_TARGET_S = 15 * 60


@dataclass
class Report:
    command: str
    started: str
    machine: str
    results: list[CaseResult]
    partitions: list[PartitionTiming]
    imports: list[HandlerImport]
    asset: AssetSize | None
    runtime_s: float = 0.0


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], align: str = "") -> str:
    """A Markdown table; ``align`` holds one of l/r per column (default: first left, the rest right)."""
    align = align or "l" + "r" * (len(headers) - 1)
    marks = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(marks) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _kb(size: int) -> str:
    return (
        f"{size:,} B"
        if size < 10_000
        else f"{size / 1024:,.0f} KB"
        if size < 10_485_760
        else f"{size / 1_048_576:,.1f} MB"
    )


def _money(value: float) -> str:
    return f"${value:,.2f}" if value >= 0.1 else f"${value:,.3f}"


def _workflow(result: CaseResult) -> str:
    return f"{result.case.shape} | {result.case.nodes:,} | {result.case.output_bytes // 1024} KB"


def _grouped(results: list[CaseResult]) -> dict[tuple[str, int, int], dict[str, CaseResult]]:
    grouped: dict[tuple[str, int, int], dict[str, CaseResult]] = {}
    for result in results:
        key = (result.case.shape, result.case.nodes, result.case.output_bytes)
        grouped.setdefault(key, {})[result.case.design] = result
    return grouped


def _designs(results: list[CaseResult]) -> list[str]:
    present = {r.case.design for r in results}
    return [d for d in DESIGNS if d in present]


def _failure(result: CaseResult) -> str:
    verdict = result.verdict
    if verdict.startswith("payload over 256 KB"):
        return "**fails**: payload > 256 KB"
    if verdict.startswith("history over"):
        return f"**fails**: {result.events:,} events > 25,000"
    if verdict.startswith("definition"):
        return f"**fails**: {verdict}"
    if verdict.startswith("not finished"):
        return "not finished in the time cap"
    return f"**fails**: {verdict[:60]}"


def _not_run(results: list[CaseResult], design: str, shape: str, nodes: int) -> str:
    """A design left out at a size: when it failed already at a smaller size of the same shape (every quota it
    breaks grows with the nodes), the table says so."""
    smaller = [
        r
        for r in results
        if r.case.design == design and r.case.shape == shape and r.case.nodes < nodes and not r.ok
    ]
    if smaller:
        first = min(smaller, key=lambda r: r.case.nodes)
        return f"not run: fails at {first.case.nodes:,} already"
    return "not run"


def payload_table(results: list[CaseResult]) -> str:
    designs = _designs(results)
    rows = []
    for (shape, nodes, output), by_design in _grouped(results).items():
        row = [shape, f"{nodes:,}", f"{output // 1024} KB"]
        for design in designs:
            result = by_design.get(design)
            if result is None:
                row.append(_not_run(results, design, shape, nodes))
            elif result.status == "NOT_DEPLOYABLE":
                row.append(_failure(result))
            elif result.ok:
                row.append(f"{_kb(result.largest_payload)} / {_kb(result.bytes_between_states)}")
            else:
                row.append(f"{_kb(result.largest_payload)}, {_failure(result)}")
        rows.append(row)
    headers = ["shape", "nodes", "output", *(DESIGN_LABELS[d] for d in designs)]
    return table(headers, rows, "lrr" + "r" * len(designs))


def transitions_table(results: list[CaseResult]) -> str:
    """Transitions do not depend on the output size: the 1 KB runs (or the smallest output run) are shown."""
    designs = _designs(results)
    rows = []
    seen: set[tuple[str, int]] = set()
    for (shape, nodes, _output), by_design in _grouped(results).items():
        if (shape, nodes) in seen:
            continue
        seen.add((shape, nodes))
        any_result = next(iter(by_design.values()))
        row = [shape, f"{nodes:,}", f"{any_result.segments:,}", f"{any_result.stages:,}"]
        for design in designs:
            result = by_design.get(design)
            if result is None:
                row.append(_not_run(results, design, shape, nodes))
            elif result.status == "NOT_DEPLOYABLE":
                row.append(_failure(result))
            else:
                per_segment = result.transitions / result.segments
                cell = f"{result.transitions:,} ({per_segment:.2f}) · {result.events:,} ev"
                if not result.ok:
                    cell += f", {_failure(result)}"
                row.append(cell)
        rows.append(row)
    headers = ["shape", "nodes", "segments", "stages", *(DESIGN_LABELS[d] for d in designs)]
    return table(headers, rows, "lrrr" + "r" * len(designs))


def requests_table(results: list[CaseResult]) -> str:
    rows = []
    for result in results:
        if result.status in ("NOT_DEPLOYABLE", "NOT_RUN"):
            continue
        cost = result.cost
        rows.append(
            [
                _workflow(result),
                DESIGN_LABELS[result.case.design],
                f"{result.transitions:,}",
                f"{result.lambda_invocations:,}",
                f"{result.lambda_gb_seconds:,.2f}",
                f"{result.dynamodb_requests:,}",
                f"{result.dynamodb_write_units:,.0f} / {result.dynamodb_read_units:,.0f}",
                f"{result.s3_put_class:,} / {result.s3_get_class:,}",
                _money(cost.step_functions),
                _money(cost.lambda_requests + cost.lambda_duration),
                _money(cost.dynamodb),
                _money(cost.s3),
                f"**{_money(cost.total)}**" if result.ok else f"({_money(cost.total)}, {_failure(result)})",
            ]
        )
    headers = [
        "shape | nodes | output",
        "design",
        "transitions",
        "Lambda inv.",
        "GB-s (est.)",
        "DynamoDB req.",
        "WRU / RRU",
        "S3 PUT / GET",
        "SFN $",
        "Lambda $",
        "DynamoDB $",
        "S3 $",
        "total $ / 1k exec.",
    ]
    return table(headers, rows, "ll" + "r" * 11)


def timing_table(results: list[CaseResult]) -> str:
    designs = _designs(results)
    rows = []
    for (shape, nodes, output), by_design in _grouped(results).items():
        base = by_design.get("segflow")
        row = [shape, f"{nodes:,}", f"{output // 1024} KB", f"{next(iter(by_design.values())).segments:,}"]
        for design in designs:
            result = by_design.get(design)
            if result is None or result.seconds is None:
                row.append(_not_run(results, design, shape, nodes) if result is None else _failure(result))
                continue
            cell = f"{result.seconds:,.1f} s · {1000 * result.seconds / result.segments:,.1f} ms/seg"
            if design != "segflow" and base is not None and base.seconds:
                cell += f" · x{result.seconds / base.seconds:.2f}"
            if not result.ok:
                cell += f" ({_failure(result)})"
            row.append(cell)
        rows.append(row)
    headers = ["shape", "nodes", "output", "segments", *(DESIGN_LABELS[d] for d in designs)]
    return table(headers, rows, "lrrr" + "r" * len(designs))


def plans_table(results: list[CaseResult]) -> str:
    """What planning a definition costs, once, against each run that reads the plan."""
    rows = []
    for result in results:
        if result.case.design != "segflow" or result.planning is None:
            continue
        puts, seconds = result.planning
        rows.append(
            [
                f"{result.case.shape} | {result.case.nodes:,}",
                f"{puts:,}",
                f"{seconds:,.2f} s",
                f"{result.s3_put_class:,}",
                f"{result.seconds or 0:,.1f} s",
                _money(result.cost.total),
            ]
        )
    headers = [
        "shape | nodes",
        "planning: S3 objects written",
        "planning: InitializeStateBag",
        "a run after: S3 objects written",
        "a run after: time",
        "a run after: $ / 1k",
    ]
    return table(headers, rows, "l" + "r" * 5)


def partition_table(timings: list[PartitionTiming]) -> str:
    rows = []
    previous: dict[str, float | None] = {}
    for timing in timings:
        total = timing.total_s
        before = previous.get(timing.shape)
        growth = f"x{total / before:.1f}" if total and before else "—"
        if total is None:
            rows.append(
                [
                    timing.shape,
                    f"{timing.nodes:,}",
                    "—",
                    "—",
                    "—",
                    f"> {timing.cap_s:.0f} s (cap)",
                    "—",
                    "—",
                    "—",
                ]
            )
        else:
            assert timing.validate_s is not None and timing.partition_s is not None
            ratio = timing.ratio
            rows.append(
                [
                    timing.shape,
                    f"{timing.nodes:,}",
                    f"{timing.baseline_s:.3f} s" if timing.baseline_s else "—",
                    f"{timing.validate_s:.3f} s",
                    f"{timing.partition_s:.3f} s",
                    f"{total:.3f} s",
                    f"x{ratio:.2f}" if ratio else "—",
                    f"{timing.segments:,} / {timing.stages:,}",
                    growth,
                ]
            )
        previous[timing.shape] = total
    headers = [
        "shape",
        "nodes",
        "json.load + graphlib",
        "validate_executable",
        "partition",
        "total",
        "ratio",
        "segments / stages",
        "growth x10 nodes",
    ]
    return table(headers, rows, "lrrrrrrrr")


def imports_table(imports: list[HandlerImport]) -> str:
    rows = [
        [
            f"{item.function} (`{item.module}`)",
            f"{item.shipped_ms:.0f} ms ({item.shipped_median_ms:.0f})",
            f"{item.cached_ms:.0f} ms ({item.cached_median_ms:.0f})",
            "yes" if item.shipped_ms < COLD_IMPORT_TARGET_MS else "**no**",
        ]
        for item in imports
    ]
    headers = [
        f"handler ({imports[0].runs} runs each)" if imports else "handler",
        "as shipped (no .pyc): fastest (median)",
        "with .pyc: fastest (median)",
        f"< {COLD_IMPORT_TARGET_MS} ms",
    ]
    return table(headers, rows, "lrrl")


def import_breakdown(imports: list[HandlerImport], function: str = "ExecuteSegment") -> str:
    item = next((i for i in imports if i.function == function), None)
    if item is None:
        return "(not measured)"
    packages = table(
        ["package", "self time (median)"],
        [[name, f"{ms:.1f} ms"] for name, ms in list(item.by_package_ms.items())[:15]],
        "lr",
    )
    modules = table(
        ["module (first two levels under the handler)", "cumulative (median)"],
        [[f"`{name}`", f"{ms:.1f} ms"] for name, ms in item.top_modules],
        "lr",
    )
    return f"{packages}\n\n{modules}"


def checks(report: Report) -> str:
    results = report.results
    lines = []
    segflow = [r for r in results if r.case.design == "segflow"]
    if segflow:
        worst = max(segflow, key=lambda r: r.largest_payload)
        ok = all(r.largest_payload <= PAYLOAD_BUDGET_BYTES for r in segflow)
        lines.append(
            f"- segflow's largest state payload ≤ {PAYLOAD_BUDGET_BYTES:,} B at every size: "
            f"**{'yes' if ok else 'no'}** (largest {worst.largest_payload:,} B, {worst.case.shape} "
            f"{worst.case.nodes:,} nodes, {worst.case.output_bytes // 1024} KB outputs)"
        )
        failing = [r for r in segflow if not r.ok]
        for r in failing:
            lines.append(f"- segflow **fails** {r.case.label}: {r.verdict}")
    fat = sorted(
        (r for r in results if r.case.design == "fat_statebag"), key=lambda r: (r.case.shape, r.case.nodes)
    )
    if fat:
        grown = [
            f"{r.case.shape} {r.case.nodes:,}/{r.case.output_bytes // 1024} KB: {_kb(r.largest_payload)}"
            for r in fat
        ]
        lines.append("- fat statebag largest payload grows with the workflow: " + "; ".join(grown[:12]))
    for shape in sorted({r.case.shape for r in results}):
        pairs = []
        for (s, nodes, output), by_design in _grouped(results).items():
            if s != shape or output != min(r.case.output_bytes for r in results if r.case.shape == s):
                continue
            ours, loop = by_design.get("segflow"), by_design.get("choice_loop")
            if ours and loop and ours.transitions and loop.transitions:
                verdict = (
                    "fewer"
                    if ours.transitions < loop.transitions
                    else "as many"
                    if ours.transitions == loop.transitions
                    else "**more**"
                )
                ours_each, loop_each = ours.transitions / ours.segments, loop.transitions / loop.segments
                pairs.append(f"{nodes:,}: {ours_each:.2f} vs {loop_each:.2f} ({verdict})")
        if pairs:
            lines.append(f"- transitions per segment, segflow vs choice loop, {shape}: " + "; ".join(pairs))
    lines += cost_checks(results)
    chain_plan = next(
        (t for t in report.partitions if t.shape == "linear" and t.nodes == LONG_CHAIN_NODES), None
    )
    if chain_plan is not None and chain_plan.ratio is not None:
        lines.append(
            f"- planning a {LONG_CHAIN_NODES:,}-node chain (validation + partition, CPU) within "
            f"{PLANNING_CPU_RATIO_TARGET:.0f}x json.load + a graphlib sort of the same file: "
            f"{_yes(chain_plan.ratio <= PLANNING_CPU_RATIO_TARGET)} (x{chain_plan.ratio:.2f}: "
            f"{chain_plan.total_s or 0:.2f} s against {chain_plan.baseline_s or 0:.2f} s)"
        )
    execute = next((i for i in report.imports if i.function == "ExecuteSegment"), None)
    if execute:
        lines.append(
            f"- ExecuteSegment cold import < {COLD_IMPORT_TARGET_MS} ms: "
            f"**{'yes' if execute.shipped_ms < COLD_IMPORT_TARGET_MS else 'no'}** "
            f"({execute.shipped_ms:.0f} ms as shipped, fastest of {execute.runs}; median "
            f"{execute.shipped_median_ms:.0f} ms; {execute.cached_ms:.0f} ms with .pyc)"
        )
    if report.asset:
        ok = report.asset.bytes < ASSET_TARGET_BYTES
        lines.append(
            f"- Lambda asset < 5 MB: **{'yes' if ok else 'no'}** ({report.asset.bytes / 1024:,.0f} KB in "
            f"{report.asset.files} files, {report.asset.zipped_bytes / 1024:,.0f} KB zipped)"
        )
    lines.append(
        f"- `make bench` under 15 minutes: **{'yes' if report.runtime_s < RUNTIME_TARGET_S else 'no'}** "
        f"({report.runtime_s / 60:.1f} min)"
    )
    return "\n".join(lines)


LATER_RUN_MAX_S3_PUTS = 3
WRITE_UNITS_PER_NODE_TARGET = 0.5
SIDE_EFFECT_STAGE_NODES = 1_000
SIDE_EFFECT_STAGE_MAX_TRANSITIONS = 60
LONG_CHAIN_NODES = 100_000
PLANNING_CPU_RATIO_TARGET = 3.0


def _yes(ok: bool) -> str:
    return "**yes**" if ok else "**no**"


def cost_checks(results: list[CaseResult]) -> list[str]:
    """Issue 21's targets, each with the figure that decides it."""
    lines = []
    ours = [r for r in results if r.case.design == "segflow" and r.ok]
    planned = [r for r in ours if r.planning is not None]
    if planned:
        most = max(planned, key=lambda r: r.s3_put_class)
        plan_most = max(planned, key=lambda r: r.planning[0] if r.planning else 0)
        assert plan_most.planning is not None
        lines.append(
            f"- a definition is planned once: runs after write ≤ {LATER_RUN_MAX_S3_PUTS} S3 objects: "
            f"{_yes(most.s3_put_class <= LATER_RUN_MAX_S3_PUTS)} (most {most.s3_put_class}, "
            f"{most.case.label}; planning wrote up to {plan_most.planning[0]:,}, "
            f"{plan_most.case.shape} {plan_most.case.nodes:,} nodes)"
        )
    chains = sorted(
        (r for r in ours if r.case.shape == "linear" and r.case.output_bytes == 1024 and r.case.nodes >= 100),
        key=lambda r: r.case.nodes,
    )
    if chains:
        per_node = [(r.case.nodes, r.dynamodb_write_units / r.case.nodes) for r in chains]
        worst = max(units for _, units in per_node)
        shown = "; ".join(f"{nodes:,} nodes: {units:.2f}" for nodes, units in per_node)
        lines.append(
            "- DynamoDB write units per node of a pure chain (1 KB outputs) "
            f"≤ {WRITE_UNITS_PER_NODE_TARGET}: "
            f"{_yes(worst <= WRITE_UNITS_PER_NODE_TARGET)} ({shown})"
        )
    stage = next(
        (r for r in ours if r.case.shape == "calls" and r.case.nodes == SIDE_EFFECT_STAGE_NODES), None
    )
    if stage is not None:
        lines.append(
            f"- a stage of {SIDE_EFFECT_STAGE_NODES:,} api_calls in ≤ {SIDE_EFFECT_STAGE_MAX_TRANSITIONS} "
            f"state transitions: {_yes(stage.transitions <= SIDE_EFFECT_STAGE_MAX_TRANSITIONS)} "
            f"({stage.transitions:,} transitions, {stage.lambda_invocations:,} invocations)"
        )
    small = []
    for (shape, nodes, output), by_design in _grouped(results).items():
        mine, loop = by_design.get("segflow"), by_design.get("choice_loop")
        if nodes == 10 and output == 1024 and mine and loop and mine.ok and loop.ok:
            small.append((shape, mine.cost.total, loop.cost.total))
    if small:
        ok = all(mine <= loop for _, mine, loop in small)
        shown = "; ".join(f"{shape}: {_money(mine)} vs {_money(loop)}" for shape, mine, loop in small)
        lines.append(f"- 10-node workflows cost no more than the choice loop: {_yes(ok)} ({shown})")
    dearer = []
    for (shape, nodes, output), by_design in _grouped(results).items():
        mine = by_design.get("segflow")
        if mine is None or not mine.ok:
            continue
        for design, other in by_design.items():
            if design != "segflow" and other.ok and other.cost.total < mine.cost.total:
                dearer.append(
                    f"{shape} {nodes:,}/{output // 1024} KB: {DESIGN_LABELS[design]} "
                    f"{_money(other.cost.total)} vs {_money(mine.cost.total)}"
                )
    lines.append(
        "- segflow the cheapest wherever another design succeeds: "
        + (_yes(True) if not dearer else f"{_yes(False)}, dearer in {len(dearer)} rows: " + "; ".join(dearer))
    )
    chain = next(
        (
            r
            for r in results
            if r.case.design == "segflow" and r.case.nodes == LONG_CHAIN_NODES and r.case.shape == "linear"
        ),
        None,
    )
    if chain is not None:
        lines.append(
            f"- a {LONG_CHAIN_NODES:,}-node chain completes with every state payload "
            f"≤ {PAYLOAD_BUDGET_BYTES:,} B: "
            f"{_yes(chain.ok and chain.largest_payload <= PAYLOAD_BUDGET_BYTES)} ({chain.verdict}; largest "
            f"{chain.largest_payload:,} B, {chain.transitions:,} transitions, {chain.seconds or 0:,.0f} s, "
            f"{_money(chain.cost.total)} per 1,000 executions)"
        )
    return lines


def run_block(report: Report) -> str:
    return "\n".join(
        [
            f"- command: `{report.command}`",
            f"- run: {report.started}, {report.machine}",
            f"- runtime: {report.runtime_s:,.0f} s ({report.runtime_s / 60:.1f} min), "
            f"{len(report.results)} executions",
        ]
    )


def prices_block() -> str:
    rows = [[service, price] for service, price in costs.PRICE_TABLE]
    return (
        table(["service", f"{costs.REGION} price (as of {costs.PRICES_AS_OF})"], rows, "ll")
        + f"\n\nPrices as of {costs.PRICES_AS_OF}; free tiers ignored."
    )


def sections(report: Report) -> dict[str, str]:
    return {
        "run": run_block(report),
        "checks": checks(report),
        "payload": payload_table(report.results),
        "transitions": transitions_table(report.results),
        "cost": requests_table(report.results),
        "plans": plans_table(report.results),
        "prices": prices_block(),
        "time": timing_table(report.results),
        "partition": partition_table(report.partitions),
        "imports": imports_table(report.imports) if report.imports else "(not measured)",
        "import-breakdown": import_breakdown(report.imports),
        "asset": (
            f"`lambdas/` without caches: {report.asset.files} files, {report.asset.bytes:,} bytes "
            f"({report.asset.zipped_bytes:,} bytes zipped)"
            if report.asset
            else "(not measured)"
        ),
    }


_MARKER = re.compile(
    r"(<!-- bench:begin (?P<name>[a-z-]+) -->\n)(.*?)(<!-- bench:end (?P=name) -->)", re.DOTALL
)


def rewrite(document: str, blocks: dict[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group("name")
        if name not in blocks:
            return match.group(0)
        return f"{match.group(1)}{blocks[name]}\n{match.group(4)}"

    return _MARKER.sub(replace, document)


def skeleton(blocks: dict[str, str]) -> str:
    parts = ["# Benchmarks", ""]
    for name in blocks:
        parts += [f"## {name}", "", f"<!-- bench:begin {name} -->", f"<!-- bench:end {name} -->", ""]
    return "\n".join(parts)


def write_document(report: Report, path: Path = DOC_PATH) -> None:
    blocks = sections(report)
    document = path.read_text() if path.exists() else skeleton(blocks)
    missing = [name for name in blocks if f"<!-- bench:begin {name} -->" not in document]
    if missing:
        document += "\n" + skeleton({name: blocks[name] for name in missing}).split("\n", 2)[2]
    path.write_text(rewrite(document, blocks))


def terminal(report: Report) -> str:
    blocks = sections(report)
    titles = {
        "run": "Run",
        "checks": "Checks",
        "payload": "Largest state payload / total bytes between states",
        "transitions": "State transitions (per segment) and history events",
        "cost": "Requests and cost per 1,000 executions",
        "plans": "Planning once per definition: first run against later runs",
        "time": "End-to-end time on the embedded AWS",
        "partition": "Partition time",
        "imports": "Cold import of the handlers",
        "import-breakdown": "ExecuteSegment import breakdown",
        "asset": "Lambda asset",
    }
    return "\n\n".join(f"== {titles[name]} ==\n{blocks[name]}" for name in titles)
