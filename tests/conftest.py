"""Fixtures shared by every test tier.

``embedded`` is one in-process embedded AWS (moto running the real ASL, Lambda invokes dispatched to the real
handlers) for the whole session; executions have unique names, so tests do not disturb each other.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from segflow_cli.client import SegflowClient
from segflow_cli.locate import Resources
from segflow_local.embedded import EmbeddedAws, embedded_aws
from tests.support.history import full_history
from tests.support.http_server import LocalHttpServer, start_http_server
from tests.support.stores import stores_of

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLES_DIR = REPO_ROOT / "examples"


@pytest.fixture(scope="session")
def embedded() -> Iterator[EmbeddedAws]:
    with embedded_aws(stage="test") as aws:
        yield aws


@pytest.fixture(scope="session")
def client(embedded: EmbeddedAws) -> SegflowClient:
    return SegflowClient(embedded.session, Resources.from_outputs(embedded.stack.outputs()))


@pytest.fixture(scope="session")
def http_server() -> Iterator[LocalHttpServer]:
    server = start_http_server()
    yield server
    server.server.shutdown()


@pytest.fixture()
def fresh_http_server() -> Iterator[LocalHttpServer]:
    server = start_http_server()
    yield server
    server.server.shutdown()


def load_example(name: str) -> dict[str, Any]:
    path = EXAMPLES_DIR / (name if name.endswith(".json") else f"{name}.json")
    return json.loads(path.read_text())


def run_to_end(
    client: SegflowClient,
    workflow: dict[str, Any],
    execution_input: dict[str, Any] | None = None,
    timeout: float = 300,
) -> tuple[str, dict[str, Any]]:
    """Start a workflow and wait for it; returns (execution ARN, DescribeExecution)."""
    arn = client.start(workflow, execution_input)
    return arn, client.wait(arn, timeout_seconds=timeout)


def history(client: SegflowClient, execution_arn: str) -> list[dict[str, Any]]:
    return full_history(stores_of(client).sfn, execution_arn)


@pytest.fixture()
def example_node_modules(monkeypatch: pytest.MonkeyPatch) -> str:
    """examples/custom_nodes/credit_nodes.py, named the way a deployment names it: SEGFLOW_NODE_MODULES."""
    from segflow.declaration import NODE_MODULES_ENV

    monkeypatch.syspath_prepend(str(EXAMPLES_DIR / "custom_nodes"))
    monkeypatch.setenv(NODE_MODULES_ENV, "credit_nodes")
    return "credit_nodes"
