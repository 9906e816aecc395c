"""A node's deadline, without the embedded AWS: the arithmetic, and every kind of blocking call it caps (an
HTTP request, an AWS SDK request, a retry's backoff in a sub-flow, a node's whole run)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import boto3
import pytest
from botocore.config import Config
from segflow.adapters.call_deadline import limited_by_node_deadline
from segflow.domain.deadline import Deadline, current_deadline
from segflow.domain.errors import DeadlineReached, NodeFailure, NodeTimedOut
from segflow.nodes.base import ExecutionInfo, NodeContext, NodeResult, run_executor
from segflow.nodes.http_client import HttpTimeout, send
from segflow.nodes.subflow import SubFlow, SubFlowRunner

from tests.support.http_server import LocalHttpServer, start_http_server

SLOW = 20.0  # how long the slow server holds a request: far longer than any deadline here


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def server() -> Iterator[LocalHttpServer]:
    local = start_http_server()
    yield local
    local.server.shutdown()


def context(deadline: Deadline | None, timeout_seconds: float | None = None) -> NodeContext:
    return NodeContext(
        node_id="n",
        config=None,
        execution=ExecutionInfo("t", "e", "w", "2026-01-01T00:00:00Z"),
        timeout_seconds=timeout_seconds,
        deadline=deadline,
    )


# --- arithmetic -----------------------------------------------------------------------------------------


def test_a_call_waits_its_own_timeout_or_the_time_left_whichever_is_shorter() -> None:
    clock = FakeClock()
    deadline = Deadline.after(10, clock)

    assert deadline.cap(30, "call") == (10, True)
    assert deadline.cap(4, "call") == (4, False)
    clock.now += 7
    assert deadline.left() == pytest.approx(3)
    assert deadline.cap(4, "call") == (pytest.approx(3), True)


def test_no_call_starts_once_the_deadline_has_passed() -> None:
    clock = FakeClock()
    deadline = Deadline.after(1, clock)
    clock.now += 1

    assert deadline.reached()
    with pytest.raises(DeadlineReached) as raised:
        deadline.cap(30, "POST https://example.com/x")
    assert raised.value.error_type == "InvocationDeadline" and raised.value.retryable


def test_a_node_starts_when_what_it_may_need_fits_or_no_later_invocation_would_give_more() -> None:
    clock = FakeClock()
    deadline = Deadline.after(60, clock, fresh_seconds=100)

    assert deadline.allows(30)  # fits
    assert not deadline.allows(90)  # a fresh invocation (100 s) would give it more
    assert not deadline.allows(30, after=40)  # a retry 40 s from now would have 20 s
    assert Deadline.after(96, clock, fresh_seconds=100).allows(900)  # 96 s is all it will ever get
    assert deadline.allows(0) and not deadline.allows(0, after=60)  # nothing starts at the deadline


# --- a node's whole run -----------------------------------------------------------------------------------


def test_a_node_running_past_the_deadline_is_cut_with_its_own_error_not_a_node_timeout() -> None:
    release = threading.Event()

    def blocks(ctx: NodeContext) -> NodeResult:
        release.wait(SLOW)
        return NodeResult(output=None)

    with pytest.raises(DeadlineReached) as raised:
        run_executor(blocks, context(Deadline.after(0.3), timeout_seconds=10))
    release.set()
    assert "cut by the invocation's deadline" in str(raised.value)


def test_the_node_timeout_still_wins_when_it_comes_first() -> None:
    release = threading.Event()

    def blocks(ctx: NodeContext) -> NodeResult:
        release.wait(SLOW)
        return NodeResult(output=None)

    with pytest.raises(NodeTimedOut):
        run_executor(blocks, context(Deadline.after(10), timeout_seconds=0.3))
    release.set()


def test_a_failure_once_the_deadline_has_passed_is_the_deadlines() -> None:
    clock = FakeClock()
    deadline = Deadline.after(5, clock)

    def times_out_at_the_deadline(ctx: NodeContext) -> NodeResult:
        assert current_deadline() is deadline  # what AWS SDK calls in this thread read
        clock.now += 5  # its call waited all the time left
        raise HttpTimeout("POST http://example.com timed out after 5s")

    with pytest.raises(DeadlineReached) as raised:
        run_executor(times_out_at_the_deadline, context(deadline))
    assert "HttpTimeout" in str(raised.value)


def test_an_early_failure_keeps_its_own_error() -> None:
    def fails(ctx: NodeContext) -> NodeResult:
        raise NodeFailure("no", "Refused")

    with pytest.raises(NodeFailure) as raised:
        run_executor(fails, context(Deadline.after(10)))
    assert raised.value.error_type == "Refused"


# --- HTTP -------------------------------------------------------------------------------------------------


def test_an_http_request_is_cut_at_the_deadline_and_says_it_may_have_been_received(
    server: LocalHttpServer,
) -> None:
    server.route("POST", "/slow", delay_seconds=SLOW)
    started = time.monotonic()

    with pytest.raises(DeadlineReached) as raised:
        send("POST", f"{server.url}/slow", idempotency_key="k-1", timeout=30, deadline=Deadline.after(0.5))

    assert time.monotonic() - started < SLOW / 2, "cut at the deadline, not when the server answered"
    assert "may have reached the server" in str(raised.value)
    assert [r.headers["Idempotency-Key"] for r in server.requests_to("/slow")] == ["k-1"]


def test_its_own_timeout_is_still_an_http_timeout(server: LocalHttpServer) -> None:
    server.route("POST", "/slow", delay_seconds=SLOW)
    with pytest.raises(HttpTimeout):
        send("POST", f"{server.url}/slow", idempotency_key="k-2", timeout=0.3, deadline=Deadline.after(10))


def test_no_request_is_sent_after_the_deadline(server: LocalHttpServer) -> None:
    server.route("POST", "/slow")
    clock = FakeClock()
    deadline = Deadline.after(1, clock)
    clock.now += 2

    with pytest.raises(DeadlineReached):
        send("POST", f"{server.url}/slow", idempotency_key="k-3", timeout=30, deadline=deadline)
    assert server.requests_to("/slow") == []


# --- AWS SDK ----------------------------------------------------------------------------------------------


def lambda_client(endpoint: str) -> object:
    session = boto3.session.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    )
    config = Config(read_timeout=60, retries={"mode": "standard", "max_attempts": 3})
    return limited_by_node_deadline(session.client("lambda", endpoint_url=endpoint, config=config))


def test_an_aws_call_in_a_node_waits_at_most_until_the_deadline_retries_included(
    server: LocalHttpServer,
) -> None:
    path = "/2015-03-31/functions/slow/invocations"
    server.route("POST", path, delay_seconds=SLOW, body={"ok": True})
    client = lambda_client(server.url)

    def invokes(ctx: NodeContext) -> NodeResult:
        client.invoke(FunctionName="slow", Payload=b"{}")  # type: ignore[attr-defined]
        return NodeResult(output=None)

    started = time.monotonic()
    # In this thread (no watchdog to give up on it): the call itself must end at the deadline.
    with pytest.raises(DeadlineReached):
        run_executor(invokes, context(Deadline.after(1.0)), may_block=False)

    assert time.monotonic() - started < SLOW / 2
    # the read timed out at the deadline; the retry botocore then sends was refused before sending
    assert len(server.requests_to(path)) == 1


def test_an_aws_call_outside_a_node_keeps_its_clients_timeout(server: LocalHttpServer) -> None:
    path = "/2015-03-31/functions/quick/invocations"
    server.route("POST", path, delay_seconds=0.5, body={"ok": True})
    client = lambda_client(server.url)

    answer = client.invoke(FunctionName="quick", Payload=b"{}")  # type: ignore[attr-defined]

    assert answer["StatusCode"] == 200


# --- sub-flows --------------------------------------------------------------------------------------------


def owner(deadline: Deadline) -> NodeContext:
    return NodeContext(
        node_id="each",
        config=None,
        execution=ExecutionInfo("t", "e", "w", "2026-01-01T00:00:00Z"),
        template_context={"input": {}},
        deadline=deadline,
    )


def test_a_sub_flow_retry_whose_backoff_would_pass_the_deadline_is_not_waited_for(
    server: LocalHttpServer,
) -> None:
    server.route("POST", "/flaky", fail_times=5, body={"ok": True})
    flow = SubFlow.model_validate(
        {
            "nodes": [
                {
                    "node_id": "call",
                    "type": "action",
                    "action_type": "api_call",
                    "config": {"url": f"{server.url}/flaky", "timeout_seconds": 1},
                    "retry": {"max_attempts": 3, "backoff_seconds": SLOW, "retry_on": ["HttpError"]},
                }
            ]
        }
    )
    started = time.monotonic()

    with pytest.raises(DeadlineReached) as raised:
        SubFlowRunner(flow, owner(Deadline.after(5))).run("0", {})

    assert time.monotonic() - started < SLOW / 2, "did not sleep the backoff"
    assert "would pass the invocation's deadline" in str(raised.value)
    assert len(server.requests_to("/flaky")) == 1


def test_a_sub_flow_node_that_may_not_finish_in_the_time_left_is_not_started(server: LocalHttpServer) -> None:
    server.route("POST", "/call", body={"ok": True})
    flow = SubFlow.model_validate(
        {
            "nodes": [
                {
                    "node_id": "call",
                    "type": "action",
                    "action_type": "api_call",
                    "config": {"url": f"{server.url}/call", "timeout_seconds": 10},
                }
            ]
        }
    )

    with pytest.raises(DeadlineReached):
        SubFlowRunner(flow, owner(Deadline.after(2, fresh_seconds=60))).run("0", {})
    assert server.requests_to("/call") == []
