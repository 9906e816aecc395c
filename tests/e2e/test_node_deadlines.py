"""No node starts what it cannot finish: with ExecuteSegment's Lambda timeout a few seconds beyond the yield
margin, a node's call is cut at the time left (never by Lambda killing the invocation mid-call), a node that
may not finish in what is left waits for the next invocation, and a cut node runs again there."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from pydantic import BaseModel
from segflow.declaration import EXECUTE_SEGMENT
from segflow.domain.limits import SEGMENT_YIELD_MARGIN_MS
from segflow.nodes.base import NodeContext
from segflow.nodes.custom import node_type

from segflow_cli.client import SegflowClient
from segflow_local.embedded import EmbeddedAws
from segflow_local.lambda_invocation import local_function_name
from tests.conftest import history, run_to_end
from tests.support.history import lambda_inputs
from tests.support.http_server import LocalHttpServer
from tests.support.workflows import api_call, workflow

pytestmark = pytest.mark.e2e

BUDGET_SECONDS = 3  # what each ExecuteSegment invocation has before it must yield
SLOW = 30.0  # a first answer slower than the whole invocation, margin included

_naps: dict[str, int] = {}
_lock = threading.Lock()


class NapConfig(BaseModel):
    key: str
    seconds: list[float]  # how long each run takes


@node_type("test_deadline_nap", config=NapConfig, description="Sleeps; declares no time it may need.")
def nap(config: NapConfig, context: NodeContext) -> dict:
    with _lock:
        _naps[config.key] = run = _naps.get(config.key, 0) + 1
    time.sleep(config.seconds[min(run, len(config.seconds)) - 1])
    return {"run": run}


Overruns = Callable[[], list[str]]


@pytest.fixture()
def short_invocations(embedded: EmbeddedAws) -> Iterator[Overruns]:
    """ExecuteSegment's timeout is the yield margin plus BUDGET_SECONDS. Yields what lists the ExecuteSegment
    invocations (request ids) that have run past their timeout meanwhile: Lambda would have killed them."""
    runtime = embedded.runtime
    name = local_function_name(runtime.stage, EXECUTE_SEGMENT)
    original = runtime._specs[name]
    runtime._specs[name] = dataclasses.replace(
        original, timeout_seconds=SEGMENT_YIELD_MARGIN_MS // 1000 + BUDGET_SECONDS
    )
    before = len(runtime.overruns)
    segment_function = EXECUTE_SEGMENT.logical_id
    yield lambda: [request for function, request in runtime.overruns[before:] if function == segment_function]
    runtime._specs[name] = original


def node_events(client: SegflowClient, arn: str, node_id: str) -> list[tuple[str, str | None]]:
    return [(e.new_state, e.reason) for e in client.events(arn) if e.node_id == node_id]


def test_a_call_that_would_outlast_the_invocation_is_cut_and_sent_again_with_the_same_key(
    client: SegflowClient, fresh_http_server: LocalHttpServer, short_invocations: Overruns
) -> None:
    # Given an API whose first answer takes longer than the whole invocation, and a node whose policy
    # retries a call cut by the deadline
    fresh_http_server.route("POST", "/slow", delay_seconds=SLOW, delay_times=1, body={"ok": True})
    retry = {"max_attempts": 2, "backoff_seconds": 0, "retry_on": ["InvocationDeadline"]}
    wf = workflow("deadline-cut", [api_call("call", f"{fresh_http_server.url}/slow", retry=retry)], [])

    # When it runs
    arn, description = run_to_end(client, wf)

    # Then it succeeds, no invocation ran past its timeout (none was killed mid-call), and the node's second
    # attempt ran in a later invocation
    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert short_invocations() == []
    assert client.node_records(arn)["call"].attempt == 2
    # the server saw the request twice, both times with the same Idempotency-Key
    keys = [r.headers["Idempotency-Key"] for r in fresh_http_server.requests_to("/slow")]
    assert len(keys) == 2 and keys[0] == keys[1]
    # and watchers were told why the node waited
    waiting = [reason or "" for state, reason in node_events(client, arn, "call") if state == "waiting"]
    assert any("attempt 2 of 2 after InvocationDeadline, in the next invocation" in r for r in waiting)


def test_a_node_cut_with_all_an_invocation_gives_fails_with_invocation_deadline_not_a_timeout(
    client: SegflowClient, fresh_http_server: LocalHttpServer, short_invocations: Overruns
) -> None:
    fresh_http_server.route("POST", "/slow", delay_seconds=SLOW, body={"ok": True})
    wf = workflow("deadline-fail", [api_call("call", f"{fresh_http_server.url}/slow")], [])

    arn, description = run_to_end(client, wf)

    assert description["status"] == "FAILED"
    record = client.node_records(arn)["call"]
    assert record.error_type == "InvocationDeadline"
    assert "cut by the invocation's deadline" in (record.error_message or "")
    assert short_invocations() == []
    assert len(fresh_http_server.requests_to("/slow")) == 1


def test_a_node_that_may_not_finish_in_the_time_left_waits_for_the_next_invocation(
    client: SegflowClient, fresh_http_server: LocalHttpServer, short_invocations: Overruns
) -> None:
    # Given a first call that uses half the invocation, then one that may take 2.5 s
    fresh_http_server.route("POST", "/first", delay_seconds=BUDGET_SECONDS / 2, body={"ok": 1})
    fresh_http_server.route("POST", "/second", body={"ok": 2})
    url = fresh_http_server.url
    nodes = [api_call("first", f"{url}/first"), api_call("second", f"{url}/second", timeout_seconds=2.5)]
    wf = workflow("deadline-defer", nodes, [{"source": "first", "target": "second"}])

    arn, description = run_to_end(client, wf)

    # Then the second was not started with 1.5 s left: the segment yielded and the next invocation ran it
    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert len(lambda_inputs(history(client, arn), "ExecuteSegment")) >= 2
    records = client.node_records(arn)
    assert records["first"].attempt == 1 and records["second"].attempt == 1
    assert len(fresh_http_server.requests_to("/first")) == 1
    assert len(fresh_http_server.requests_to("/second")) == 1
    assert short_invocations() == []


def test_a_node_cut_after_others_ran_runs_again_in_the_next_invocation_without_failing(
    client: SegflowClient, fresh_http_server: LocalHttpServer, short_invocations: Overruns
) -> None:
    # Given a call that uses half the invocation, then a node that declares nothing and takes 5 s once
    fresh_http_server.route("POST", "/first", delay_seconds=BUDGET_SECONDS / 2, body={"ok": 1})
    napper = {"node_id": "nap", "type": "test_deadline_nap", "config": {"key": "cut", "seconds": [5.0, 0.0]}}
    nodes = [api_call("first", f"{fresh_http_server.url}/first"), napper]
    wf = workflow("deadline-rerun", nodes, [{"source": "first", "target": "nap"}])

    arn, description = run_to_end(client, wf)

    # Then the nap was cut at the deadline and ran again, as the same attempt, in the next invocation
    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert client.output(arn)["output"] == {"nap": {"run": 2}}
    assert client.node_records(arn)["nap"].attempt == 1
    waiting = [reason or "" for state, reason in node_events(client, arn, "nap") if state == "waiting"]
    assert any("cut by the invocation's deadline" in r for r in waiting)
    assert short_invocations() == []
