"""The CLI reaches tables and buckets only through the services: no module of it imports an adapter (a
table or bucket store, or any other) or makes a DynamoDB or S3 client of its own."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import segflow_cli

CLI_ROOT = Path(segflow_cli.__file__).parent
FORBIDDEN_PACKAGES = ("segflow.adapters",)
STORAGE_SERVICES = ("dynamodb", "dynamodbstreams", "s3")


def _imported(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """Every module an import statement names, anywhere (module level, functions, TYPE_CHECKING)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
            yield from ((node.lineno, f"{node.module}.{alias.name}") for alias in node.names)


def _storage_clients(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """``x.client("s3")`` / ``x.resource("dynamodb")`` calls: a store built by hand."""
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("client", "resource")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and node.args[0].value in STORAGE_SERVICES
        ):
            yield node.lineno, f"{node.func.attr}({node.args[0].value!r})"


def violations(source: str, name: str) -> list[str]:
    tree = ast.parse(source, name)
    found = [
        f"{name}:{line}: imports {module}"
        for line, module in _imported(tree)
        if any(module == package or module.startswith(f"{package}.") for package in FORBIDDEN_PACKAGES)
    ]
    found += [f"{name}:{line}: makes its own {call}" for line, call in _storage_clients(tree)]
    return sorted(set(found))


def test_no_cli_module_imports_an_adapter_or_makes_a_storage_client() -> None:
    modules = sorted(CLI_ROOT.rglob("*.py"))
    assert len(modules) > 10, f"the CLI's modules were not found under {CLI_ROOT}"
    found = [
        line for path in modules for line in violations(path.read_text(), str(path.relative_to(CLI_ROOT)))
    ]
    assert found == []


def test_the_check_sees_every_way_of_reaching_a_store() -> None:
    source = """
from typing import TYPE_CHECKING
from segflow.adapters.outputs import NodeOutputStore
import segflow.adapters.event_log
from segflow import adapters
if TYPE_CHECKING:
    from segflow.adapters.execution_records import ExecutionRecordStore
def later(session):
    from segflow.adapters import deployment_log
    return session.client("dynamodb"), session.client(service_name="sts"), session.resource("s3")
"""
    assert violations(source, "sample.py") == [
        "sample.py:10: makes its own client('dynamodb')",
        "sample.py:10: makes its own resource('s3')",
        "sample.py:3: imports segflow.adapters.outputs",
        "sample.py:3: imports segflow.adapters.outputs.NodeOutputStore",
        "sample.py:4: imports segflow.adapters.event_log",
        "sample.py:5: imports segflow.adapters",
        "sample.py:7: imports segflow.adapters.execution_records",
        "sample.py:7: imports segflow.adapters.execution_records.ExecutionRecordStore",
        "sample.py:9: imports segflow.adapters",
        "sample.py:9: imports segflow.adapters.deployment_log",
    ]
