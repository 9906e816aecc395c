"""Resuming a failed execution: a new execution reuses every completed node and runs only what is left."""

from __future__ import annotations

import pytest
from segflow.domain.ids import execution_id_of
from segflow.engine.resume import ResumeRefused

from segflow_cli.client import SegflowClient
from tests.conftest import run_to_end
from tests.support.e2e import final_output, unique_path
from tests.support.http_server import LocalHttpServer
from tests.support.stores import stores_of
from tests.support.workflows import api_call, chain_edges, transform, workflow

pytestmark = pytest.mark.e2e

NO_RETRY = {"max_attempts": 1}


def flaky_pipeline(server: LocalHttpServer, workflow_id: str) -> tuple[dict, str, str]:
    """load -> notify (an API call: a side effect) -> charge (fails while its API answers 500) -> report."""
    notify, charge = unique_path("notify"), unique_path("charge")
    server.route("POST", notify, body={"notified": True})
    server.route("POST", charge, status=500, body={"error": "card processor down"})
    nodes = [
        transform("load", {"order": "{{ input.order }}", "amount": 42}),
        api_call("notify", server.url + notify, body={"order": "{{ nodes.load.order }}"}, retry=NO_RETRY),
        api_call("charge", server.url + charge, body={"amount": "{{ nodes.load.amount }}"}, retry=NO_RETRY),
        transform("report", {"order": "{{ nodes.load.order }}", "charged": "{{ nodes.charge.body }}"}),
    ]
    return workflow(workflow_id, nodes, chain_edges(["load", "notify", "charge", "report"])), notify, charge


def test_a_failed_execution_resumes_running_only_the_failed_node_and_its_successors(
    client: SegflowClient, fresh_http_server: LocalHttpServer
) -> None:
    # Given a pipeline whose third node fails until its API is fixed
    wf, notify, charge = flaky_pipeline(fresh_http_server, "resume-after-failure")
    failed_arn, failed = run_to_end(client, wf, {"order": "o-7"})
    assert failed["status"] == "FAILED"
    assert "'charge'" in failed["cause"]

    # When the API is fixed (the flag is flipped) and the execution is resumed
    fresh_http_server.route("POST", charge, body={"charged": 42})
    arn = client.resume(failed_arn)
    description = client.wait(arn, timeout_seconds=120)

    # Then the new execution succeeds with the whole workflow's output
    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert final_output(client, arn)["report"] == {"order": "o-7", "charged": {"charged": 42}}
    # and only the failed node and its successor ran again: the side effect before it happened once
    assert len(fresh_http_server.requests_to(notify)) == 1
    assert len(fresh_http_server.requests_to(charge)) == 2
    records = client.node_records(arn)
    old_id = execution_id_of(failed_arn)
    assert {n: r.reused_from for n, r in records.items()} == {
        "load": old_id,
        "notify": old_id,
        "charge": None,
        "report": None,
    }
    assert all(r.status == "succeeded" for r in records.values())
    resumed = client.execution_record(arn)
    assert resumed is not None and resumed.resumed_from == old_id
    # and the failed execution's own records are untouched
    assert client.node_records(failed_arn)["charge"].status == "failed"


def test_resume_from_a_node_runs_it_and_everything_after_it_again(
    client: SegflowClient, fresh_http_server: LocalHttpServer
) -> None:
    wf, notify, charge = flaky_pipeline(fresh_http_server, "resume-from-node")
    failed_arn, failed = run_to_end(client, wf, {"order": "o-8"})
    assert failed["status"] == "FAILED"
    fresh_http_server.route("POST", charge, body={"charged": 42})

    arn = client.resume(failed_arn, from_node="notify")
    assert client.wait(arn, timeout_seconds=120)["status"] == "SUCCEEDED"

    assert len(fresh_http_server.requests_to(notify)) == 2  # asked for: replayed from notify on
    records = client.node_records(arn)
    assert records["load"].reused_from == execution_id_of(failed_arn)
    assert records["notify"].reused_from is None and records["report"].reused_from is None


def test_only_executions_that_ended_without_success_resume(
    client: SegflowClient, fresh_http_server: LocalHttpServer
) -> None:
    wf, _notify, charge = flaky_pipeline(fresh_http_server, "resume-refused")
    fresh_http_server.route("POST", charge, body={"charged": 42})
    arn, description = run_to_end(client, wf, {"order": "o-9"})
    assert description["status"] == "SUCCEEDED"
    with pytest.raises(ResumeRefused, match="SUCCEEDED"):
        client.resume(arn)


def test_an_unknown_from_node_is_refused_naming_it_and_starts_nothing(
    client: SegflowClient, fresh_http_server: LocalHttpServer
) -> None:
    wf, _notify, _charge = flaky_pipeline(fresh_http_server, "resume-unknown-node")
    failed_arn, failed = run_to_end(client, wf, {"order": "o-10"})
    assert failed["status"] == "FAILED"
    sfn = stores_of(client).sfn
    before = sfn.list_executions(stateMachineArn=client.resources.state_machine_arn)["executions"]

    with pytest.raises(ResumeRefused, match="'nope'"):
        client.resume(failed_arn, from_node="nope")

    after = sfn.list_executions(stateMachineArn=client.resources.state_machine_arn)["executions"]
    assert len(after) == len(before)
