"""``timeout_seconds`` and ``retry`` hold for every node type, one of a team's own types included."""

from __future__ import annotations

import threading
import time

import pytest
from pydantic import BaseModel
from segflow.nodes.base import NodeContext
from segflow.nodes.custom import node_type

from segflow_cli.client import SegflowClient
from tests.conftest import run_to_end
from tests.support.http_server import LocalHttpServer
from tests.support.waiting import wait_for
from tests.support.workflows import api_call, for_each, subflow, workflow

pytestmark = pytest.mark.e2e

_calls: dict[str, int] = {}
_lock = threading.Lock()


class NapConfig(BaseModel):
    key: str
    seconds: list[float]  # how long each attempt takes


@node_type("test_nap", config=NapConfig, description="Sleeps (a different time on each attempt).")
def nap(config: NapConfig, context: NodeContext) -> dict:
    with _lock:
        _calls[config.key] = attempt = _calls.get(config.key, 0) + 1
    time.sleep(config.seconds[min(attempt, len(config.seconds)) - 1])
    return {"attempt": attempt}


def nap_node(key: str, seconds: list[float], **extra: object) -> dict:
    return {"node_id": "nap", "type": "test_nap", "config": {"key": key, "seconds": seconds}, **extra}


def test_a_node_past_its_timeout_fails_at_the_timeout(client: SegflowClient) -> None:
    started = time.monotonic()
    arn, description = run_to_end(
        client, workflow("nap-timeout", [nap_node("slow", [5.0], timeout_seconds=1)], [])
    )

    assert description["status"] == "FAILED"
    record = client.node_records(arn)["nap"]
    assert record.error_type == "NodeTimeout"
    assert "did not finish within timeout_seconds 1" in record.error_message
    assert time.monotonic() - started < 4.5, "failed at its timeout, not when the work ended"


def test_a_timed_out_attempt_is_retried_when_the_policy_lists_it(client: SegflowClient) -> None:
    retry = {"max_attempts": 2, "backoff_seconds": 0, "retry_on": ["NodeTimeout"]}
    wf = workflow("nap-retry", [nap_node("retried", [3.0, 0.1], timeout_seconds=1, retry=retry)], [])

    arn, description = run_to_end(client, wf)

    assert description["status"] == "SUCCEEDED", description.get("cause")
    record = client.node_records(arn)["nap"]
    assert record.attempt == 2
    assert client.output(arn)["output"] == {"nap": {"attempt": 2}}


def test_a_for_each_past_its_timeout_sends_nothing_after_the_execution_reports_it(
    client: SegflowClient, fresh_http_server: LocalHttpServer
) -> None:
    # Given 20 items, each a call to a slow server (0.5 s), four at a time, in a node that may take 1 s
    fresh_http_server.route("POST", "/slow", delay_seconds=0.5, body={"ok": True})
    flow = subflow([api_call("call", f"{fresh_http_server.url}/slow")])
    each = {**for_each("each", list(range(20)), flow, max_concurrency=4), "timeout_seconds": 1}

    # When it runs
    arn, description = run_to_end(client, workflow("deadline-stops", [each], []))

    # Then it fails with NodeTimeout
    assert description["status"] == "FAILED"
    record = client.node_records(arn)["each"]
    assert record.error_type == "NodeTimeout", record.error_message
    assert record.finished_at is not None
    # and once every request it sent has been answered, none was sent after the failure was recorded
    wait_for(lambda: fresh_http_server.in_flight == 0, "the server answered every request it got", 30)
    sent = fresh_http_server.requests_to("/slow")
    assert 0 < len(sent) < 20
    assert [round(r.at - record.finished_at, 2) for r in sent if r.at > record.finished_at] == []
