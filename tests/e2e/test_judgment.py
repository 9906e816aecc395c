"""Conditional routing: only the chosen arm runs; the rest is skipped, never run.

Prior art: a router with two targets was partitioned as a parallel fork, so both arms ran.
"""

from __future__ import annotations

from typing import Any

import pytest

from segflow_cli.client import SegflowClient
from tests.conftest import run_to_end
from tests.support.e2e import final_output, node_outputs, statuses, unique_path
from tests.support.http_server import LocalHttpServer
from tests.support.workflows import api_call, edge, judgment, transform, workflow

pytestmark = pytest.mark.e2e


def if_else(server: LocalHttpServer, big_path: str, small_path: str) -> dict[str, Any]:
    """fetch -> judge -> (true) big_call -> big_followup -> big_only_sink
                    \\-> (false) small_call ---------------> join
    big_followup -> join"""
    return workflow(
        "if-else",
        [
            transform("fetch", {"amount": "{{ input.amount }}"}),
            judgment("judge", "{{ nodes.fetch.amount > `100` }}"),
            api_call("big_call", server.url + big_path, body={"amount": "{{ nodes.fetch.amount }}"}),
            transform("big_followup", {"arm": "big"}),
            transform("big_only_sink", {"after": "{{ nodes.big_followup.arm }}"}),
            api_call("small_call", server.url + small_path, body={"amount": "{{ nodes.fetch.amount }}"}),
            transform(
                "join", {"arm": "{{ nodes.big_followup.arm || 'small' }}", "route": "{{ nodes.judge.route }}"}
            ),
        ],
        [
            edge("fetch", "judge"),
            edge("judge", "big_call", "true"),
            edge("judge", "small_call", "false"),
            edge("big_call", "big_followup"),
            edge("big_followup", "big_only_sink"),
            edge("big_followup", "join"),
            edge("small_call", "join"),
        ],
    )


@pytest.mark.parametrize(
    ("amount", "taken", "skipped", "arm"),
    [
        (150, ["big_call", "big_followup", "big_only_sink"], ["small_call"], "big"),
        (50, ["small_call"], ["big_call", "big_followup", "big_only_sink"], "small"),
    ],
    ids=["true-arm", "false-arm"],
)
def test_only_the_chosen_arm_runs_and_the_join_after_it_still_runs(
    client: SegflowClient,
    http_server: LocalHttpServer,
    amount: int,
    taken: list[str],
    skipped: list[str],
    arm: str,
) -> None:
    # Given an if/else whose arms call an API, and a join after both
    big_path, small_path = unique_path("big-arm"), unique_path("small-arm")
    http_server.route("POST", big_path, body={"arm": "big"})
    http_server.route("POST", small_path, body={"arm": "small"})
    wf = if_else(http_server, big_path, small_path)

    # When it runs
    arn, description = run_to_end(client, wf, {"amount": amount})

    # Then only the chosen arm's API was called, once
    assert description["status"] == "SUCCEEDED", description.get("cause")
    called = {
        "big": len(http_server.requests_to(big_path)),
        "small": len(http_server.requests_to(small_path)),
    }
    assert called == {"big": int(arm == "big"), "small": int(arm == "small")}
    # and everything reachable only through the other arm is skipped
    seen = statuses(client, arn, wf)
    assert {node: seen[node] for node in taken} == dict.fromkeys(taken, "succeeded")
    assert {node: seen[node] for node in skipped} == dict.fromkeys(skipped, "skipped")
    assert seen["fetch"] == seen["judge"] == seen["join"] == "succeeded"
    # and the join ran with the taken arm
    outputs = node_outputs(client, arn)
    assert outputs["join"] == {"arm": arm, "route": "true" if arm == "big" else "false"}
    assert outputs["judge"]["route"] == ("true" if arm == "big" else "false")
    # and the final output holds the sinks that ran, not the skipped ones
    expected_sinks = {"join": outputs["join"]}
    if arm == "big":
        expected_sinks["big_only_sink"] = {"after": "big"}
    assert final_output(client, arn) == expected_sinks


def tiers(default: bool) -> dict[str, Any]:
    nodes = [
        judgment("judge", "{{ input.tier }}"),
        transform("gold", "gold treatment"),
        transform("silver", "silver treatment"),
        transform("after_gold", "{{ nodes.gold }}"),
    ]
    edges = [edge("judge", "gold", "gold"), edge("judge", "silver", "silver"), edge("gold", "after_gold")]
    if default:
        nodes.append(transform("fallback", "standard treatment for {{ input.tier }}"))
        edges.append(edge("judge", "fallback", "default"))
    return workflow("tiers-default" if default else "tiers", nodes, edges)


def test_a_label_routes_to_its_edge_only(client: SegflowClient) -> None:
    wf = tiers(default=True)
    arn, description = run_to_end(client, wf, {"tier": "silver"})
    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert statuses(client, arn, wf) == {
        "judge": "succeeded",
        "gold": "skipped",
        "silver": "succeeded",
        "after_gold": "skipped",
        "fallback": "skipped",
    }
    assert final_output(client, arn) == {"silver": "silver treatment"}


def test_the_default_edge_is_taken_when_no_label_matches(client: SegflowClient) -> None:
    wf = tiers(default=True)
    arn, description = run_to_end(client, wf, {"tier": "bronze"})
    assert description["status"] == "SUCCEEDED", description.get("cause")
    seen = statuses(client, arn, wf)
    assert seen["fallback"] == "succeeded"
    assert seen["gold"] == seen["silver"] == seen["after_gold"] == "skipped"
    assert final_output(client, arn) == {"fallback": "standard treatment for bronze"}
    assert node_outputs(client, arn)["judge"] == {"result": "bronze", "route": "default"}


def test_no_match_and_no_default_fails_the_execution_naming_the_judgment(client: SegflowClient) -> None:
    # Given a judgment whose edges accept only gold and silver
    wf = tiers(default=False)

    # When the condition yields bronze
    arn, description = run_to_end(client, wf, {"tier": "bronze"})

    # Then the execution fails with NoBranchMatched, naming the node
    assert description["status"] == "FAILED"
    assert "NoBranchMatched" in f"{description.get('error')} {description.get('cause')}"
    assert "'judge'" in description["cause"]
    record = client.node_records(arn)["judge"]
    assert (record.status, record.error_type) == ("failed", "NoBranchMatched")
    assert "bronze" in record.error_message
    # and nothing after it ran
    seen = statuses(client, arn, wf)
    assert all(seen[node] in ("pending", "skipped") for node in ("gold", "silver", "after_gold")), seen
    execution = client.execution_record(arn)
    assert execution is not None and execution.status == "FAILED"
    assert "'judge'" in (execution.cause or "")
