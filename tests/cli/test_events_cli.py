"""``segflow events``: the execution log of a run on a local endpoint, as text and JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.conftest import LocalEndpoint, run_segflow
from tests.support.workflows import chain_edges, transform, workflow

pytestmark = pytest.mark.e2e


def test_events_lists_every_state_change_in_seq_order(local_endpoint: LocalEndpoint, tmp_path: Path) -> None:
    path = tmp_path / "logged.json"
    path.write_text(
        json.dumps(workflow("cli-logged", [transform("a", 1), transform("b", 2)], chain_edges(["a", "b"])))
    )
    run = run_segflow("run", str(path), "--endpoint", local_endpoint.url, "--json")
    arn = json.loads(run.stdout)["execution_arn"]

    listed = run_segflow("events", arn, "--endpoint", local_endpoint.url, "--json")
    assert listed.returncode == 0, listed.stderr
    events = json.loads(listed.stdout)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert [(e["kind"], e.get("node_id"), e["new_state"]) for e in events] == [
        ("execution", None, "running"),
        ("node", "a", "succeeded"),
        ("node", "b", "succeeded"),
        ("execution", None, "succeeded"),
    ]
    text = run_segflow("events", arn, "--since", "2", "--endpoint", local_endpoint.url)
    lines = text.stdout.splitlines()
    assert len(lines) == 2 and lines[0].split()[0] == "3" and "b: pending -> succeeded [2/2]" in lines[0]
