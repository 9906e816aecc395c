"""100 WebSocket subscribers to one execution that emits 10,000 events, on ``segflow local up``.

Every subscriber records exactly what the server sent: every seq from 1 to 10,000, once, in order. Ten of
them drop their connection midway and resubscribe with ``since_seq``; they too end with the full sequence.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from segflow.domain.ids import execution_id_of

from bench.live_subscribers import Subscriber, follow, latency_summary
from segflow_cli.client import SegflowClient
from segflow_cli.live import local_url
from segflow_cli.locate import locate
from tests.cli.conftest import LocalEndpoint, start_local_endpoint
from tests.support.waiting import wait_for
from tests.support.workflows import large_workflow

pytestmark = pytest.mark.e2e

SUBSCRIBERS = 100
DROPPING = 10
EVENTS = 10_000
NODES = EVENTS - 2  # one event per pure node, plus the execution's start and end


@pytest.fixture(scope="module")
def endpoint() -> Iterator[LocalEndpoint]:
    with start_local_endpoint("fanout") as started:
        yield started


def test_a_hundred_subscribers_each_get_all_ten_thousand_events_once_in_order(
    endpoint: LocalEndpoint, record_property: pytest.RecordProperty
) -> None:
    deployment = locate(endpoint.url)
    client = SegflowClient(deployment.session, deployment.resources)
    workflow = large_workflow("fanout", NODES, fan_outs=4, fan_width=3)
    subscribers = [
        Subscriber(index, drop_at_seq=900 * (index + 1) if index < DROPPING else None)
        for index in range(SUBSCRIBERS)
    ]
    began = time.monotonic()
    arn = client.start(workflow, {})
    # Subscribe once the execution has its record (InitializeStateBag writes it): a hundred subscribers
    # asking every 0.2 s before that would only slow the initialization they wait for.
    wait_for(lambda: client.execution_record(arn) is not None, "the execution has its record", timeout=120)
    follow(
        local_url(endpoint.outputs["LiveWebSocketUrl"], client.tenant_id), execution_id_of(arn), subscribers
    )
    elapsed = time.monotonic() - began

    assert client.wait(arn)["status"] == "SUCCEEDED"
    assert [event.seq for event in client.events(arn)][-1] == EVENTS
    expected = list(range(1, EVENTS + 1))
    for subscriber in subscribers:
        assert subscriber.seqs == expected, (subscriber.index, _first_difference(subscriber.seqs, expected))
    for subscriber in subscribers[:DROPPING]:
        assert subscriber.reconnects == 1
        first, again = subscriber.subscribed_since  # resubscribed after what it had, once
        assert first == 0 and again >= 900 * (subscriber.index + 1)
    summary = latency_summary(subscribers)
    record_property("fanout", {**summary, "elapsed_s": round(elapsed, 1)})
    print(f"\n100 subscribers x {EVENTS} events in {elapsed:.1f} s: {summary}")


def _first_difference(got: list[int], expected: list[int]) -> str:
    for index, (a, b) in enumerate(zip(got, expected, strict=False)):
        if a != b:
            return f"at {index}: got {got[max(0, index - 3) : index + 3]}, expected {b}"
    return f"lengths {len(got)} vs {len(expected)}"
