"""A node's deadline, without the embedded AWS: the arithmetic, and every kind of blocking call it caps (an
HTTP request, an AWS SDK request, a retry's backoff in a sub-flow, a node's whole run)."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator

import boto3
import pytest
from botocore.config import Config
from pydantic import BaseModel
from segflow.adapters.call_deadline import limited_by_node_deadline
from segflow.domain.deadline import Deadline, check_deadline, current_deadline
from segflow.domain.errors import DeadlineReached, NodeFailure, NodeTimedOut
from segflow.nodes.base import ExecutionInfo, NodeContext, NodeResult, run_executor
from segflow.nodes.for_each import ForEachConfig, run_for_each
from segflow.nodes.http_client import HttpTimeout, send
from segflow.nodes.loop import LoopConfig, run_loop
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
        assert current_deadline() is ctx.deadline  # what AWS SDK calls in this thread read
        assert ctx.deadline is not None and ctx.deadline.parent is deadline  # the node's, within it
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


# --- a node's own deadline: its timeout_seconds within the invocation's -----------------------------------


def test_a_node_sees_its_own_deadline_not_only_the_invocations() -> None:
    def reads(ctx: NodeContext) -> NodeResult:
        assert ctx.deadline is not None and current_deadline() is ctx.deadline
        return NodeResult(output=ctx.deadline.left())

    left = run_executor(reads, context(Deadline.after(30), timeout_seconds=2)).output

    assert 1 < left <= 2, "a custom function reads the time its node has left"


def test_a_request_cut_by_the_nodes_timeout_is_a_node_timeout_not_an_http_timeout(
    server: LocalHttpServer,
) -> None:
    server.route("POST", "/slow", delay_seconds=SLOW)

    with pytest.raises(NodeTimedOut) as raised:
        send(
            "POST",
            f"{server.url}/slow",
            idempotency_key="k",
            timeout=30,
            deadline=Deadline.after(30).within(0.3),
        )
    assert "timeout_seconds 0.3" in str(raised.value)

    # and a node whose request may wait as long as the node itself fails the same way, every time
    def calls(ctx: NodeContext) -> NodeResult:
        send("POST", f"{server.url}/slow", idempotency_key="k", timeout=0.3, deadline=ctx.deadline)
        return NodeResult(output=None)

    names = set()
    for _ in range(5):
        with pytest.raises(NodeFailure) as failed:
            run_executor(calls, context(Deadline.after(30), timeout_seconds=0.3))
        names.add(failed.value.error_type)
    assert names == {"NodeTimeout"}


def test_an_attempt_given_up_at_its_timeout_sends_nothing_afterwards(server: LocalHttpServer) -> None:
    aws_path = "/2015-03-31/functions/late/invocations"
    server.route("POST", aws_path, body={"ok": True})
    server.route("POST", "/late", body={"ok": True})
    client = lambda_client(server.url)
    go_on, ended = threading.Event(), threading.Event()
    refused: list[str] = []

    def goes_on_after_its_timeout(ctx: NodeContext) -> NodeResult:
        go_on.wait(SLOW)
        for call in (
            lambda: client.invoke(FunctionName="late", Payload=b"{}"),  # type: ignore[attr-defined]
            lambda: send("POST", f"{server.url}/late", idempotency_key="k", timeout=5),
            lambda: check_deadline("its own request"),
        ):
            try:
                call()
            except NodeFailure as failure:
                refused.append(failure.error_type)
        ended.set()
        return NodeResult(output="too late")

    with pytest.raises(NodeTimedOut):
        run_executor(goes_on_after_its_timeout, context(Deadline.after(30), timeout_seconds=0.2))
    go_on.set()
    assert ended.wait(SLOW)

    assert refused == ["NodeTimeout"] * 3
    assert server.requests_to(aws_path) == [] and server.requests_to("/late") == []


def test_a_retry_does_not_start_while_the_attempt_it_replaces_still_runs() -> None:
    lock = threading.Lock()
    running: list[int] = []
    overlaps: list[list[int]] = []

    def slow_first_attempt(ctx: NodeContext) -> NodeResult:
        with lock:
            running.append(ctx.attempt)
            if len(running) > 1:
                overlaps.append(list(running))
        time.sleep(0.8 if ctx.attempt == 1 else 0.0)
        with lock:
            running.remove(ctx.attempt)
        return NodeResult(output=ctx.attempt)

    with pytest.raises(NodeTimedOut):
        run_executor(slow_first_attempt, context(Deadline.after(30), timeout_seconds=0.3))
    retry = dataclasses.replace(context(Deadline.after(30), timeout_seconds=0.3), attempt=2)
    result = run_executor(slow_first_attempt, retry)

    assert result.output == 2, "the wait for attempt 1 did not count against attempt 2's timeout"
    assert overlaps == []


def sub_flow_node(
    kind: str, server: LocalHttpServer, deadline: Deadline, timeout_seconds: float
) -> tuple[NodeContext, Callable[[NodeContext], NodeResult]]:
    call = {
        "node_id": "call",
        "type": "action",
        "action_type": "api_call",
        "config": {"url": f"{server.url}/slow"},
    }
    executor: Callable[[NodeContext], NodeResult]
    if kind == "for_each":
        config: BaseModel = ForEachConfig.model_validate(
            {"items": list(range(20)), "max_concurrency": 2, "flow": {"nodes": [call]}}
        )
        executor = run_for_each
    else:
        config = LoopConfig.model_validate(
            {"flow": {"nodes": [call]}, "until": "{{ result.never }}", "max_iterations": 20}
        )
        executor = run_loop
    ctx = NodeContext(
        node_id=kind,
        config=config,
        execution=ExecutionInfo("t", "e", "w", "2026-01-01T00:00:00Z"),
        template_context={"input": {}},
        timeout_seconds=timeout_seconds,
        deadline=deadline,
    )
    return ctx, executor


@pytest.mark.parametrize("kind", ["for_each", "loop"])
def test_a_for_each_or_loop_past_its_timeout_starts_no_more_calls(server: LocalHttpServer, kind: str) -> None:
    # Given 20 calls (items or iterations) that each take 0.4 s, and a node that may take 1 s
    server.route("POST", "/slow", delay_seconds=0.4, body={"ok": True})
    ctx, executor = sub_flow_node(kind, server, Deadline.after(60), timeout_seconds=1)
    ended = threading.Event()

    def runs_then_says_so(c: NodeContext) -> NodeResult:
        try:
            return executor(c)
        finally:
            ended.set()

    # When it runs past its timeout
    with pytest.raises(NodeTimedOut):
        run_executor(runs_then_says_so, ctx)
    reported = time.time()

    # Then once its work has ended, no call was sent after the failure was reported
    assert ended.wait(SLOW), "the node's work ended"
    sent = server.requests_to("/slow")
    assert 0 < len(sent) < 20
    assert [r.at for r in sent if r.at > reported] == []
