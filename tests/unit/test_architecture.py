"""The layers hold: no import circle, the domain at the bottom, the engine and the node types away from AWS,
every module saying what it is for. (The CLI's rule, no table or bucket store: tests/cli/test_cli_layers.py.)

Imports are read from the source (every ``import``, at module level, inside functions and under
``TYPE_CHECKING`` alike), so an import hidden in a function still counts.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from functools import cache
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {
    "segflow": ROOT / "lambdas" / "segflow",
    "segflow_cli": ROOT / "src" / "segflow_cli",
    "segflow_local": ROOT / "src" / "segflow_local",
}
AWS_SDK = ("boto3", "botocore")


@cache
def modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package, root in PACKAGES.items():
        for path in root.rglob("*.py"):
            parts = path.relative_to(root).with_suffix("").parts
            name = ".".join((package, *parts)).removesuffix(".__init__")
            found[name] = path
    return found


def _owner(name: str) -> str | None:
    """The module of ours that ``name`` (a module, or a name inside one) is, if any."""
    while name and name not in modules():
        name = name.rpartition(".")[0]
    return name or None


@cache
def imports() -> dict[str, set[str]]:
    """Module -> every name it imports (dotted, as written), ours or not."""
    found: dict[str, set[str]] = defaultdict(set)
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found[name].update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found[name].update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def our_imports(module: str) -> set[str]:
    return {owner for target in imports()[module] if (owner := _owner(target)) and owner != module}


def offenders(packages: tuple[str, ...], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{module} imports {target}"
        for module in modules()
        if module.startswith(packages)
        for target in imports()[module]
        if target.startswith(forbidden)
    )


def test_no_import_circle() -> None:
    graph = {module: our_imports(module) for module in modules()}
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as error:
        pytest.fail(f"import circle: {' -> '.join(error.args[1])}")


def test_the_domain_imports_nothing_of_segflow_outside_it() -> None:
    outside = [
        line
        for line in offenders(("segflow.domain",), ("segflow",))
        if " imports segflow.domain." not in line
    ]
    assert outside == []


def test_the_engine_imports_no_aws_adapter_and_no_aws_sdk() -> None:
    assert offenders(("segflow.engine",), ("segflow.adapters", *AWS_SDK)) == []


def test_node_types_reach_aws_only_through_the_services_they_are_given() -> None:
    assert offenders(("segflow.nodes",), ("segflow.adapters", *AWS_SDK)) == []


def test_every_module_says_what_it_is_for() -> None:
    silent = [
        str(path.relative_to(ROOT))
        for path in modules().values()
        if ast.get_docstring(ast.parse(path.read_text())) is None
    ]
    assert silent == []
