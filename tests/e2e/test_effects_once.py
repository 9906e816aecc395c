"""Side effects after a failure happen once however the failure is resumed: a resume re-sends a node with the
idempotency key of its first attempt (inside a for_each, per item), and a failure resumes only once, however
often or concurrently someone asks, so a receiving server and a DynamoDB counter each see one effect."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from segflow.adapters.execution_launcher import ExecutionAlreadyExists
from segflow.declaration import UserResources
from segflow.domain.ids import execution_id_of
from segflow.domain.limits import RESUME_CLAIM_STALE_SECONDS
from segflow.engine.resume import AlreadyResumed

from segflow_cli.client import SegflowClient
from segflow_local.embedded import EmbeddedAws
from tests.conftest import run_to_end
from tests.support.e2e import create_key_table, unique_path
from tests.support.http_server import LocalHttpServer
from tests.support.workflows import (
    api_call,
    chain_edges,
    dynamodb_update,
    edge,
    for_each,
    transform,
    workflow,
)

pytestmark = pytest.mark.e2e

NO_RETRY = {"max_attempts": 1}


def keys_sent(server: LocalHttpServer, path: str) -> list[str]:
    return [request.headers["Idempotency-Key"] for request in server.requests_to(path)]


def test_a_resumed_api_call_carries_the_key_of_its_first_attempt_through_a_chain_of_resumes(
    client: SegflowClient, fresh_http_server: LocalHttpServer
) -> None:
    charge = unique_path("charge")
    fresh_http_server.route("POST", charge, status=500, body={"error": "down"})
    definition = workflow(
        "stable-keys",
        [
            transform("load", {"amount": 42}),
            api_call("charge", fresh_http_server.url + charge, retry=NO_RETRY),
        ],
        chain_edges(["load", "charge"]),
    )
    failed_arn, failed = run_to_end(client, definition)
    assert failed["status"] == "FAILED"
    origin = execution_id_of(failed_arn)

    # A resume that fails again, and a resume of that resume that succeeds.
    again = client.resume(failed_arn)
    assert client.wait(again, timeout_seconds=120)["status"] == "FAILED"
    fresh_http_server.route("POST", charge, body={"charged": 42})
    last = client.resume(again)
    assert client.wait(last, timeout_seconds=120)["status"] == "SUCCEEDED"

    # Three executions, three requests, one key: the origin's.
    assert execution_id_of(again) != origin and execution_id_of(last) != origin
    assert keys_sent(fresh_http_server, charge) == [f"{client.tenant_id}:{origin}:charge"] * 3
    record = client.execution_record(last)
    assert record is not None and record.origin_execution_id == origin


def test_items_of_a_for_each_keep_their_keys_on_resume(
    client: SegflowClient, fresh_http_server: LocalHttpServer
) -> None:
    base = unique_path("item")
    for index in range(3):
        fresh_http_server.route("POST", f"{base}/{index}", body={"ok": index})
    fresh_http_server.route("POST", f"{base}/2", status=500, body={"error": "down"})
    flow = {
        "nodes": [api_call("call", fresh_http_server.url + base + "/{{ index }}", retry=NO_RETRY)],
        "edges": [],
    }
    definition = workflow(
        "stable-item-keys",
        [transform("start", {"items": [0, 1, 2]}), for_each("each", "{{ nodes.start.items }}", flow)],
        [edge("start", "each")],
    )
    failed_arn, failed = run_to_end(client, definition)
    assert failed["status"] == "FAILED"
    first = {index: keys_sent(fresh_http_server, f"{base}/{index}") for index in range(3)}
    assert all(len(sent) == 1 for sent in first.values()), first

    fresh_http_server.route("POST", f"{base}/2", body={"ok": 2})
    resumed = client.resume(failed_arn)
    assert client.wait(resumed, timeout_seconds=120)["status"] == "SUCCEEDED"

    origin = execution_id_of(failed_arn)
    for index in range(3):  # the for_each ran again: every item re-sent, each with its own first key
        assert (
            keys_sent(fresh_http_server, f"{base}/{index}")
            == [f"{client.tenant_id}:{origin}:each[{index}].call"] * 2
        )


# --- one resume per failure -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def counters(embedded: EmbeddedAws) -> Iterator[str]:
    name = f"counters-{uuid.uuid4().hex[:8]}"
    dynamodb = embedded.client("dynamodb")
    create_key_table(dynamodb, name, "id")
    embedded.stack.grant_user_resources(UserResources(tables=(name,)))  # -c data_tables=…
    yield name
    dynamodb.delete_table(TableName=name)


def counter(embedded: EmbeddedAws, table: str, counter_id: str) -> Any:
    item = embedded.client("dynamodb").get_item(TableName=table, Key={"id": {"S": counter_id}}).get("Item")
    return int(item["n"]["N"]) if item else 0


def test_a_failure_resumes_once_however_often_and_concurrently_it_is_asked(
    client: SegflowClient, embedded: EmbeddedAws, fresh_http_server: LocalHttpServer, counters: str
) -> None:
    # Given an execution that failed at 'charge', before a counter update and a notification
    charge, notify = unique_path("charge"), unique_path("notify")
    fresh_http_server.route("POST", charge, status=500, body={"error": "down"})
    fresh_http_server.route("POST", notify, body={"ok": True})
    counter_id = uuid.uuid4().hex
    definition = workflow(
        "resume-once",
        [
            api_call("charge", fresh_http_server.url + charge, retry=NO_RETRY),
            dynamodb_update(
                "count", counters, {"id": counter_id}, "ADD n :one", expression_attribute_values={":one": 1}
            ),
            api_call("notify", fresh_http_server.url + notify, retry=NO_RETRY),
        ],
        chain_edges(["charge", "count", "notify"]),
    )
    failed_arn, failed = run_to_end(client, definition)
    assert failed["status"] == "FAILED"
    fresh_http_server.route("POST", charge, body={"charged": 42})

    # When two resumes are asked for at once, then three more one after another
    def resume() -> str | AlreadyResumed:
        try:
            return client.resume(failed_arn)
        except AlreadyResumed as refused:
            return refused

    with ThreadPoolExecutor(max_workers=2) as pool:
        concurrent = list(pool.map(lambda _: resume(), range(2)))
    started = [outcome for outcome in concurrent if isinstance(outcome, str)]
    assert len(started) == 1, concurrent
    assert client.wait(started[0], timeout_seconds=120)["status"] == "SUCCEEDED"
    later = [resume() for _ in range(3)]

    # Then one resume ran; the others were refused naming it
    resumed_id = execution_id_of(started[0])
    for refused in [*[o for o in concurrent if not isinstance(o, str)], *later]:
        assert isinstance(refused, AlreadyResumed), refused
        assert refused.kind == "conflict" and resumed_id in str(refused)
    # and each side effect after the failure happened once
    assert len(fresh_http_server.requests_to(charge)) == 2  # the failed attempt, the resume's
    assert len(fresh_http_server.requests_to(notify)) == 1
    assert counter(embedded, counters, counter_id) == 1
    record = client.execution_record(failed_arn)
    assert record is not None and record.resumed_by == resumed_id
    # and the resume, should it fail, is the one to resume: it is not refused for its original's sake
    assert client.execution_record(started[0]).resumed_by is None  # type: ignore[union-attr]


def test_a_resume_that_died_before_starting_its_execution_does_not_block_the_failure_for_good(
    client: SegflowClient, fresh_http_server: LocalHttpServer
) -> None:
    charge = unique_path("charge")
    fresh_http_server.route("POST", charge, status=500, body={"error": "down"})
    definition = workflow(
        "resume-claims", [api_call("charge", fresh_http_server.url + charge, retry=NO_RETRY)]
    )
    records, tenant = client.executions.records, client.tenant_id
    failed_arn, _ = run_to_end(client, definition)
    other_arn, _ = run_to_end(client, definition)
    fresh_http_server.route("POST", charge, body={"charged": 42})

    # A claim made a moment ago by a resume whose execution is not (yet) there holds
    assert records.claim_resume(tenant, execution_id_of(other_arn), "starting-now", time.time()) is None
    with pytest.raises(AlreadyResumed, match="starting-now"):
        client.resume(other_arn)
    # a resume whose execution cannot start (its name is taken) withdraws its claim
    with pytest.raises(ExecutionAlreadyExists):
        client.resume(failed_arn, name=execution_id_of(other_arn))
    assert records.resume_claim(tenant, execution_id_of(failed_arn)) is None
    # a claim that old, of an execution that never started, is taken over
    stale = time.time() - RESUME_CLAIM_STALE_SECONDS - 1
    assert records.claim_resume(tenant, execution_id_of(failed_arn), "died-before-starting", stale) is None
    resumed = client.resume(failed_arn)
    assert client.wait(resumed, timeout_seconds=120)["status"] == "SUCCEEDED"
    record = client.execution_record(failed_arn)
    assert record is not None and record.resumed_by == execution_id_of(resumed)
