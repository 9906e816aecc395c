"""Cold import time of each Lambda handler module, and the size of the Lambda asset.

Each import runs in a fresh interpreter (``python -X importtime -c 'import segflow.handlers.X'``) with a copy
of ``lambdas/`` first on ``sys.path``, several times. The fastest run is the figure, as ``timeit`` reports it:
other load on a shared machine only ever adds time (seen here: the same import from 240 to 400 ms from one
run to the next); the median is reported beside it. Two variants:

- **as shipped**: the copy has no ``__pycache__`` and bytecode is not written, as in a Lambda deployment
  package (its directory is read-only), so every segflow module is compiled at each cold start;
- **with .pyc**: the same copy after one import wrote its bytecode (what shipping ``.pyc`` files would give).

boto3, botocore, pydantic and powertools come from the virtualenv with their bytecode (in Lambda from the
functions' dependencies layer, compiled too), so both variants count their import time but not their size.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from segflow.declaration import FUNCTIONS

REPO_ROOT = Path(__file__).resolve().parents[1]
ASSET_DIR = REPO_ROOT / "lambdas"
_LINE = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)\s*$")
_IGNORED = ("__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache")


@dataclass(frozen=True)
class ImportEntry:
    module: str
    self_us: int
    cumulative_us: int
    depth: int


@dataclass
class HandlerImport:
    function: str
    module: str
    shipped_ms: float  # fastest run, no bytecode for segflow's modules
    cached_ms: float  # fastest run, with bytecode
    shipped_median_ms: float
    cached_median_ms: float
    runs: int
    by_package_ms: dict[str, float]  # top-level package -> median self time (as shipped)
    top_modules: list[tuple[str, float]]  # modules imported directly or one level down, cumulative ms


@dataclass(frozen=True)
class AssetSize:
    files: int
    bytes: int
    zipped_bytes: int


def _ignored(path: Path) -> bool:
    return any(part in _IGNORED for part in path.parts) or path.suffix in (".pyc", ".pyo")


def asset_size(root: Path = ASSET_DIR) -> AssetSize:
    files = [p for p in root.rglob("*") if p.is_file() and not _ignored(p.relative_to(root))]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            archive.write(path, path.relative_to(root))
    return AssetSize(len(files), sum(p.stat().st_size for p in files), len(buffer.getvalue()))


def _copy_asset(target: Path) -> None:
    shutil.copytree(ASSET_DIR, target, ignore=shutil.ignore_patterns(*_IGNORED, "*.pyc"))


def parse_importtime(stderr: str) -> list[ImportEntry]:
    entries = []
    for line in stderr.splitlines():
        match = _LINE.match(line)
        if match:
            self_us, cumulative_us, indent, module = match.groups()
            entries.append(ImportEntry(module, int(self_us), int(cumulative_us), (len(indent) - 1) // 2))
    return entries


def _import_once(module: str, path: Path, write_bytecode: bool) -> list[ImportEntry]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = str(path)
    if not write_bytecode:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        env=env,
        cwd=path,
        capture_output=True,
        text=True,
        check=True,
    )
    return parse_importtime(completed.stderr)


def handler_entries(entries: list[ImportEntry]) -> list[ImportEntry]:
    """The imports ``import segflow.handlers.X`` caused, without the interpreter's own start-up imports.

    importtime prints a module after the modules it imported; the packages ``segflow``, ``segflow.handlers``
    and the handler module are top-level lines, each closing the run of lines it caused.
    """
    first = next(i for i, e in enumerate(entries) if e.depth == 0 and e.module.startswith("segflow"))
    start = max((i for i, e in enumerate(entries[:first]) if e.depth == 0), default=-1) + 1
    return entries[start:]


def _total_us(entries: list[ImportEntry]) -> int:
    return sum(e.cumulative_us for e in handler_entries(entries) if e.depth == 0)


def _top_modules(entries: list[ImportEntry]) -> dict[str, int]:
    """What the handler pulls in directly (and one level down), by cumulative time."""
    return {e.module: e.cumulative_us for e in handler_entries(entries) if 1 <= e.depth <= 2}


def measure_handlers(runs: int = 5) -> list[HandlerImport]:
    results = []
    with tempfile.TemporaryDirectory(prefix="segflow-asset-") as shipped_dir:
        shipped = Path(shipped_dir) / "asset"
        _copy_asset(shipped)
        with tempfile.TemporaryDirectory(prefix="segflow-asset-pyc-") as cached_dir:
            cached = Path(cached_dir) / "asset"
            _copy_asset(cached)
            for spec in FUNCTIONS:
                module = spec.handler.rpartition(".")[0]
                _import_once(module, cached, write_bytecode=True)  # writes the bytecode once
                shipped_runs = [_import_once(module, shipped, write_bytecode=False) for _ in range(runs)]
                cached_runs = [_import_once(module, cached, write_bytecode=True) for _ in range(runs)]
                package_self: dict[str, list[int]] = defaultdict(list)
                top: dict[str, list[int]] = defaultdict(list)
                for entries in shipped_runs:
                    totals: dict[str, int] = defaultdict(int)
                    for entry in handler_entries(entries):
                        totals[_package(entry.module)] += entry.self_us
                    for package, us in totals.items():
                        package_self[package].append(us)
                    for name, us in _top_modules(entries).items():
                        top[name].append(us)
                by_package = {p: statistics.median(v) / 1000 for p, v in package_self.items()}
                top_modules = sorted(
                    ((name, statistics.median(v) / 1000) for name, v in top.items()), key=lambda x: -x[1]
                )
                results.append(
                    HandlerImport(
                        function=spec.logical_id,
                        module=module,
                        shipped_ms=min(_total_us(e) for e in shipped_runs) / 1000,
                        cached_ms=min(_total_us(e) for e in cached_runs) / 1000,
                        shipped_median_ms=statistics.median(_total_us(e) for e in shipped_runs) / 1000,
                        cached_median_ms=statistics.median(_total_us(e) for e in cached_runs) / 1000,
                        runs=runs,
                        by_package_ms=dict(sorted(by_package.items(), key=lambda x: -x[1])),
                        top_modules=top_modules[:12],
                    )
                )
    return results


def _package(module: str) -> str:
    parts = module.split(".")
    if parts[0] == "segflow" and len(parts) > 1:
        return f"segflow.{parts[1]}"
    return parts[0]
