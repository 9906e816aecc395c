"""The live console page in headless Chromium (Debian's /usr/bin/chromium, driven by Playwright; no browser
download) while a workflow runs on ``segflow local up``: nodes turn done in order, a dropped connection is
reconnected and caught up, and a screenshot is kept as a test artifact."""

from __future__ import annotations

import json
from typing import Any

import pytest
from segflow.domain.ids import execution_id_of

from segflow_cli.client import SegflowClient
from segflow_cli.locate import locate
from segflow_local.websocket_gateway import CALLBACK_PREFIX
from tests.browser.conftest import ARTIFACTS
from tests.cli.conftest import LocalEndpoint, run_segflow
from tests.support.stores import stores_of
from tests.support.waiting import wait_for
from tests.support.workflows import chain_edges, transform, wait, workflow

pytestmark = pytest.mark.e2e

CHAIN = ["extract", "pause-1", "score", "pause-2", "publish"]

# Installed before the page's own script: every data-state change of a node row, in the order it happened,
# as (node, the value it replaced). Observers run after the fact, so the new value is read off the next
# change of the same row (or its final value): see ``transitions``.
RECORD_CHANGES = """
window.__changes = [];
new MutationObserver((mutations) => {
  for (const m of mutations) {
    if (m.target.dataset && m.target.dataset.node) window.__changes.push([m.target.dataset.node, m.oldValue]);
  }
}).observe(document, {
  subtree: true, attributes: true, attributeOldValue: true, attributeFilter: ["data-state"],
});
"""


def transitions(page: Any) -> list[tuple[str, str]]:
    """(node, new state) of every change of a node row's state, in order."""
    changes = page.evaluate("window.__changes")
    final = page.evaluate("Object.fromEntries([...document.querySelectorAll('tr[data-node]')]"
                          ".map(r => [r.dataset.node, r.dataset.state]))")  # fmt: skip
    found = []
    for index, (node, _old) in enumerate(changes):
        later = next((old for other, old in changes[index + 1 :] if other == node), None)
        found.append((node, later if later is not None else final[node]))
    return found


def chain_workflow() -> dict[str, Any]:
    nodes = [wait(node, 1.5) if node.startswith("pause") else transform(node, 1) for node in CHAIN]
    return workflow("console-chain", nodes, chain_edges(CHAIN))


def drop_connections(endpoint: LocalEndpoint, execution_id: str, timeout_seconds: float = 10) -> int:
    """Close every connection subscribed to the execution from the server side (@connections DELETE), once
    there is one (a page between two connections has none for a moment)."""
    dynamodb = endpoint.client("dynamodb")
    table = next(name for name in dynamodb.list_tables()["TableNames"] if "onnections" in name)

    def subscribed() -> set[str]:
        items = dynamodb.scan(TableName=table)["Items"]
        return {
            connection_id
            for item in items
            if item["pk"]["S"].startswith("FEED#") and item["pk"]["S"].endswith(f"#{execution_id}")
            for connection_id in item.get("watching", {}).get("SS", [])
        }

    connections = wait_for(subscribed, "a connection subscribed to the execution", timeout_seconds)
    management = endpoint.client("apigatewaymanagementapi", CALLBACK_PREFIX)
    for connection_id in connections:
        management.delete_connection(ConnectionId=connection_id)
    return len(connections)


def test_the_console_shows_nodes_turning_done_in_order_and_catches_up_after_a_drop(
    browser: Any, endpoint: LocalEndpoint
) -> None:
    deployment = locate(endpoint.url)
    client = SegflowClient(deployment.session, deployment.resources)
    arn = client.start(chain_workflow(), {})
    execution_id = execution_id_of(arn)

    link = run_segflow("console", arn, "--endpoint", endpoint.url)
    assert link.returncode == 0, link.stderr
    url = link.stdout.strip().splitlines()[-1]
    assert url.startswith(f"{endpoint.url}/_segflow/api/console#execution=")

    page = browser.new_page(viewport={"width": 1000, "height": 700})
    page.add_init_script(RECORD_CHANGES)
    response = page.goto(url)
    assert response is not None and response.status == 200
    assert "script-src 'sha256-" in response.headers["content-security-policy"]

    page.wait_for_selector('tr[data-node="extract"][data-state="succeeded"]', timeout=20_000)
    assert drop_connections(endpoint, execution_id) == 1
    page.wait_for_selector('#connection[data-connection="reconnecting"]', timeout=5_000)
    page.wait_for_selector('#execution-state[data-state="succeeded"]', timeout=60_000)

    changes = transitions(page)
    done = [node for node, state in changes if state == "succeeded"]
    assert done == CHAIN, changes
    assert [state for node, state in changes if node == "pause-1"] == ["waiting", "running", "succeeded"]
    assert page.inner_text("#progress-text") == f"{len(CHAIN)} / {len(CHAIN)} nodes"
    log_seqs = [
        int(s) for s in page.eval_on_selector_all("#log > div", "lines => lines.map(l => l.dataset.seq)")
    ]
    stored = [event.seq for event in client.events(arn)]
    assert log_seqs == stored == list(range(1, len(stored) + 1))  # every event once, none lost at the drop
    durations = page.eval_on_selector_all(
        'tr[data-node^="pause"] td.duration', "cells => cells.map(c => c.textContent)"
    )
    assert all(float(text.split()[0]) >= 1.4 for text in durations), durations

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "console-page.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    (ARTIFACTS / "console-page.events.json").write_text(json.dumps(changes))
    page.close()


def test_the_console_moves_past_a_number_that_holds_no_event(browser: Any, endpoint: LocalEndpoint) -> None:
    """A change refused after it took its number leaves a tombstone; the page must not wait for it."""
    from segflow.adapters.event_log import EventLog
    from segflow.adapters.journal import ExecutionJournal
    from segflow.domain.records import ExecutionIdentity
    from segflow.events.models import EventDraft

    deployment = locate(endpoint.url)
    client = SegflowClient(deployment.session, deployment.resources)
    document = workflow("console-skip", [transform("a", 1), wait("long", 60)], chain_edges(["a", "long"]))
    arn = client.start(document, {})
    url = run_segflow("console", arn, "--endpoint", endpoint.url).stdout.strip().splitlines()[-1]
    page = browser.new_page()
    page.goto(url)
    page.wait_for_selector('tr[data-node="long"][data-state="waiting"]', timeout=20_000)

    # another attempt of the segment tries to record 'a' again: refused, its number closed
    dynamodb = client.session.client("dynamodb")
    journal = ExecutionJournal(
        stores_of(client).records,
        EventLog(client.resources.events_table, client.resources.executions_table, dynamodb),
    )
    late = client.node_records(arn)["a"].model_copy(update={"status": "failed", "attempt": 2})
    draft = EventDraft(kind="node", node_id="a", previous_state="running", new_state="failed", timestamp=0.0)
    identity = ExecutionIdentity("default", execution_id_of(arn), "console-skip", None)
    adopted = journal.put_nodes(identity, [(late, draft)])  # a's page is taken: refused, nothing written
    assert adopted["a"].status == "succeeded"
    stores_of(client).sfn.stop_execution(executionArn=arn)

    page.wait_for_selector('#execution-state[data-state="aborted"]', timeout=30_000)
    log_seqs = [
        int(s) for s in page.eval_on_selector_all("#log > div", "lines => lines.map(l => l.dataset.seq)")
    ]
    stored = [event.seq for event in client.events(arn)]
    assert log_seqs == stored and len(stored) == stored[-1] - 1  # one number skipped, every event shown
    page.close()
