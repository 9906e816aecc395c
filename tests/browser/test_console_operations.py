"""The console as an operations page, in headless Chromium on ``segflow local up``: an execution's workflow
drawn as a graph with every node from the start, coloured live; an approval decided from the page; a
workflow rolled back from its versions page; the executions list and its filters. Screenshots are kept as
test artifacts (docs/console-*.png are copies)."""

from __future__ import annotations

from typing import Any

import pytest
from segflow.domain.ids import execution_id_of

from segflow_cli.api_client import api_for
from segflow_cli.client import SegflowClient
from segflow_cli.locate import locate
from tests.browser.conftest import screenshot
from tests.cli.conftest import LocalEndpoint, run_segflow
from tests.support.workflows import edge, judgment, transform, workflow

pytestmark = pytest.mark.e2e

WAITING_FILL = "rgb(255, 248, 197)"
SUCCEEDED_FILL = "rgb(218, 251, 225)"


def refund_workflow(workflow_id: str) -> dict[str, Any]:
    """examples/approval.json in small: a judgment, an approval on one arm, a judgment on its decision."""
    approval = {
        "node_id": "sign_off",
        "type": "approval",
        "label": "a person decides",
        "config": {
            "message": "Refund {{ input.amount }} EUR to {{ input.customer }}?",
            "timeout_seconds": 600,
        },
    }
    nodes = [
        {**judgment("assess", "{{ input.amount > input.limit }}"), "label": "above the limit?"},
        approval,
        transform("auto_refund", {"refunded": "{{ input.amount }}"}, label="refund below the limit"),
        {**judgment("decided", "{{ nodes.sign_off.approved }}"), "label": "approved?"},
        transform("refund", {"refunded": "{{ input.amount }}", "by": "{{ nodes.sign_off.approver }}"}),
        transform("decline", {"declined": True}, label="decline"),
    ]
    edges = [
        edge("assess", "sign_off", "true"),
        edge("assess", "auto_refund", "false"),
        edge("sign_off", "decided"),
        edge("decided", "refund", "true"),
        edge("decided", "decline", "false"),
    ]
    return workflow(workflow_id, nodes, edges)


def client_of(endpoint: LocalEndpoint) -> SegflowClient:
    deployment = locate(endpoint.url)
    return SegflowClient(deployment.session, deployment.resources)


def fill_of(page: Any, node_id: str) -> str:
    fill: str = page.eval_on_selector(f'g[data-gnode="{node_id}"] rect', "r => getComputedStyle(r).fill")
    return fill


def test_the_graph_shows_every_node_from_the_start_and_an_approval_is_decided_from_the_page(
    browser: Any, endpoint: LocalEndpoint
) -> None:
    client = client_of(endpoint)
    document = refund_workflow("console-refund")
    arn = client.start(document, {"amount": 250, "limit": 100, "customer": "<b>Ada</b>"})
    link = run_segflow("console", arn, "--endpoint", endpoint.url)
    assert link.returncode == 0, link.stderr
    url = link.stdout.strip().splitlines()[-1]

    page = browser.new_page(viewport={"width": 1280, "height": 820})
    page.goto(url)
    # every node, drawn and listed, before the execution reaches most of them
    page.wait_for_selector("#graph-box:not([hidden]) g[data-gnode]", timeout=20_000)
    all_ids = [node["node_id"] for node in document["nodes"]]
    assert sorted(page.eval_on_selector_all("tr[data-node]", "rs => rs.map(r => r.dataset.node)")) == sorted(
        all_ids
    )
    assert page.locator("g[data-gnode]").count() == len(all_ids)
    assert page.locator("g.edge").count() == len(document["edges"])
    assert page.inner_text('tr[data-node="sign_off"] td.label') == "a person decides"
    # laid out by the edges: each edge goes down the page
    tops = {
        node: page.eval_on_selector(f'g[data-gnode="{node}"]', "g => g.getBoundingClientRect().top")
        for node in all_ids
    }
    assert all(tops[e["source"]] < tops[e["target"]] for e in document["edges"]), tops

    # the approval waits: its message (rendered as text, not markup), its colour
    box = page.wait_for_selector('[data-approval="sign_off"]', timeout=30_000)
    assert box.inner_text().count("Refund 250 EUR to <b>Ada</b>?") == 1
    page.wait_for_selector('g[data-gnode="sign_off"][data-state="waiting"]')
    assert page.locator('tr[data-node="refund"]').get_attribute("data-state") == "pending"
    assert fill_of(page, "sign_off") == WAITING_FILL
    page.click('g[data-gnode="assess"]')
    page.wait_for_selector('#detail[data-shows="assess"]')
    assert '"result": true' in page.inner_text("#detail-output")
    screenshot(page, "console-execution.png")

    box.query_selector("textarea").fill("fine by me")
    box.query_selector("button.approve").click()
    page.wait_for_selector('g[data-gnode="sign_off"][data-state="succeeded"]', timeout=30_000)
    assert fill_of(page, "sign_off") == SUCCEEDED_FILL  # the colour changed live, no reload
    page.wait_for_selector('#execution-state[data-state="succeeded"]', timeout=30_000)

    decision = client.node_output(client.node_records(arn)["sign_off"])
    assert (decision["decision"], decision["comment"], decision["approver"]) == (
        "approve",
        "fine by me",
        "local-user",
    )
    # the arms not taken are greyed, their edges too; the ones taken are not
    for not_taken in ("auto_refund", "decline"):
        assert "not-taken" in page.get_attribute(f'g[data-gnode="{not_taken}"]', "class")
    assert "not-taken" in page.get_attribute('g.edge[data-target="decline"]', "class")
    assert "not-taken" not in page.get_attribute('g[data-gnode="refund"]', "class")
    assert page.get_attribute('g[data-gnode="refund"]', "data-state") == "succeeded"

    page.click('tr[data-node="refund"]')
    page.wait_for_selector('#detail[data-shows="refund"]')
    assert '"refunded": 250' in page.inner_text("#detail-output")
    assert page.inner_text("#detail-meta").startswith("transform · succeeded")
    page.close()


def test_a_workflow_is_rolled_back_from_its_versions_page(browser: Any, endpoint: LocalEndpoint) -> None:
    api = api_for(locate(endpoint.url), "default")
    first = refund_workflow("console-rollback")
    second = refund_workflow("console-rollback")
    second["nodes"].append(transform("audit", {"logged": True}, label="audit"))
    second["edges"].append(edge("refund", "audit"))
    second["nodes"][0]["config"]["condition"] = "{{ input.amount > input.customer }}"
    api.publish(first, message="first")
    api.publish(second, message="second: audit every refund")
    assert api.workflow("console-rollback")["active_version"] == 2

    page = browser.new_page(viewport={"width": 1280, "height": 820})
    page.goto(f"{endpoint.url}/_segflow/api/console#workflow=console-rollback&tenant=default")
    page.wait_for_selector('tr[data-version="2"] .badge.active', timeout=20_000)
    page.wait_for_selector('#diff[data-diff="1-2"]')
    diff = page.inner_text("#diff")
    for change in ("+ node audit", "+ edge refund → audit", "~ node assess: config.condition"):
        assert change in diff, diff

    page.click('button[data-rollback="1"]')
    assert page.inner_text("#rollback-title").startswith("Roll back to v1")
    page.click("#rollback-confirm")  # no reason: refused by the page, nothing sent
    assert "say why" in page.inner_text("#wf-message")
    page.fill("#rollback-reason", "v2 declines good refunds")
    screenshot(page, "console-versions.png")
    page.click("#rollback-confirm")
    page.wait_for_selector('body[data-active-version="1"]', timeout=20_000)
    page.wait_for_selector('tr[data-version="1"] .badge.active')
    assert page.inner_text("#wf-message") == "v1 is active (was v2)"

    assert api.workflow("console-rollback")["active_version"] == 1
    latest = max(api.versions("console-rollback")["history"], key=lambda entry: entry["seq"])
    assert (latest["kind"], latest["from_version"], latest["to_version"], latest["reason"]) == (
        "rollback",
        2,
        1,
        "v2 declines good refunds",
    )
    assert page.inner_text("#history tr:first-child td:last-child") == "v2 declines good refunds"
    page.close()


def test_the_executions_list_filters_by_status_and_opens_an_execution(
    browser: Any, endpoint: LocalEndpoint
) -> None:
    client = client_of(endpoint)
    done = client.start(workflow("console-list", [transform("only", {"x": 1})]), {})
    client.wait(done, timeout_seconds=60)
    done_id = execution_id_of(done)

    page = browser.new_page(viewport={"width": 1280, "height": 820})
    page.goto(f"{endpoint.url}/_segflow/api/console#tenant=default")
    page.wait_for_selector(f'tr[data-execution="{done_id}"][data-state="succeeded"]', timeout=20_000)
    page.fill("#filter-workflow", "console-list")
    page.select_option("#filter-status", "RUNNING")
    page.click("#filter-apply")
    page.wait_for_selector("#list-message:text('no executions match')")
    assert page.locator("tr[data-execution]").count() == 0
    page.select_option("#filter-status", "SUCCEEDED")
    page.click("#filter-apply")
    page.wait_for_selector(f'tr[data-execution="{done_id}"]')
    assert page.locator("tr[data-execution]").count() == 1

    # an execution opened from the list has no socket link: the page reads its log from the API
    page.click(f'tr[data-execution="{done_id}"] a >> nth=0')
    page.wait_for_selector('#execution-state[data-state="succeeded"]', timeout=20_000)
    assert page.get_attribute('g[data-gnode="only"]', "data-state") == "succeeded"
    assert page.inner_text("#progress-text") == "1 / 1 nodes"
    page.close()
