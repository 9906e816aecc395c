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


def payload_table(results: list[CaseResult]) -> str:
    designs = _designs(results)
    rows = []
    for (shape, nodes, output), by_design in _grouped(results).items():
        row = [shape, f"{nodes:,}", f"{output // 1024} KB"]
        for design in designs:
            result = by_design.get(design)
            if result is None:
                row.append("not run")
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
                row.append("not run")
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
                row.append("not run" if result is None else _failure(result))
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


def partition_table(timings: list[PartitionTiming]) -> str:
    rows = []
    previous: dict[str, float | None] = {}
    for timing in timings:
        total = timing.total_s
        before = previous.get(timing.shape)
        growth = f"x{total / before:.1f}" if total and before else "—"
        if total is None:
            rows.append(
                [timing.shape, f"{timing.nodes:,}", "—", "—", f"> {timing.cap_s:.0f} s (cap)", "—", "> cap"]
            )
        else:
            assert timing.validate_s is not None and timing.partition_s is not None
            rows.append(
                [
                    timing.shape,
                    f"{timing.nodes:,}",
                    f"{timing.validate_s:.3f} s",
                    f"{timing.partition_s:.3f} s",
                    f"{total:.3f} s",
                    f"{timing.segments:,} / {timing.stages:,}",
                    growth,
                ]
            )
        previous[timing.shape] = total
    headers = [
        "shape",
        "nodes",
        "validate_workflow",
        "partition",
        "total",
        "segments / stages",
        "growth x10 nodes",
    ]
    return table(headers, rows, "lrrrrrr")


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
                verdict = "fewer" if ours.transitions < loop.transitions else "**more**"
                ours_each, loop_each = ours.transitions / ours.segments, loop.transitions / loop.segments
                pairs.append(f"{nodes:,}: {ours_each:.2f} vs {loop_each:.2f} ({verdict})")
        if pairs:
            lines.append(f"- transitions per segment, segflow vs choice loop, {shape}: " + "; ".join(pairs))
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
        "time": "End-to-end time on the embedded AWS",
        "partition": "Partition time",
        "imports": "Cold import of the handlers",
        "import-breakdown": "ExecuteSegment import breakdown",
        "asset": "Lambda asset",
    }
    return "\n\n".join(f"== {titles[name]} ==\n{blocks[name]}" for name in titles)
