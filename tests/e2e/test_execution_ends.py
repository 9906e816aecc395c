"""Ends no handler sees (StopExecution, the execution's timeout) still close the record and reach the log,
through the EventBridge rule on execution status changes (emulated by the embedded AWS)."""

from __future__ import annotations

import json
import time

import pytest
from segflow.declaration import RECORD_EXECUTION_STATUS

from segflow_cli.client import SegflowClient
from segflow_local.embedded import EmbeddedAws
from tests.support.stores import stores_of
from tests.support.workflows import chain_edges, transform, wait, workflow

pytestmark = pytest.mark.e2e


def wait_for(predicate, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


def slow_workflow(workflow_id: str) -> dict:
    return workflow(
        workflow_id, [transform("a", 1), wait("long", 30), transform("b", 2)], chain_edges(["a", "long", "b"])
    )


def test_a_stopped_execution_is_recorded_aborted_with_a_terminal_event(client: SegflowClient) -> None:
    arn = client.start(slow_workflow("stopped"), {})
    wait_for(lambda: client.node_records(arn).get("long"))
    sfn = stores_of(client).sfn
    sfn.stop_execution(executionArn=arn, error="Operator.Stop", cause="changed my mind")  # moto drops both

    last = wait_for(lambda: [e for e in client.events(arn) if e.ends_execution])
    assert (last[0].new_state, last[0].previous_state) == ("aborted", "running")
    assert last[0].reason == "stopped (StopExecution)"
    record = client.execution_record(arn)
    assert record is not None and record.status == "ABORTED" and record.finished_at
    assert sum(1 for e in client.events(arn) if e.ends_execution) == 1


def test_a_timed_out_execution_is_recorded_timed_out(client: SegflowClient, embedded: EmbeddedAws) -> None:
    # The state machine has no timeout of its own: a user's caller can stop one at any time; here the
    # EventBridge detail says TIMED_OUT, as Step Functions does when an execution passes its TimeoutSeconds.
    from segflow.adapters.event_log import EventLog
    from segflow.adapters.journal import ExecutionJournal
    from segflow.engine.execution_events import record_status_change

    arn = client.start(slow_workflow("timed-out"), {})
    wait_for(lambda: client.node_records(arn).get("long"))
    stores = stores_of(client)
    description = stores.sfn.describe_execution(executionArn=arn)
    detail = {"name": description["name"], "status": "TIMED_OUT", "input": description["input"]}
    journal = ExecutionJournal(
        stores.records,
        EventLog(
            client.resources.events_table,
            client.resources.executions_table,
            client.session.client("dynamodb"),
        ),
    )
    assert record_status_change(stores.records, journal, detail, "2026-12-03T00:00:00Z") is True
    assert record_status_change(stores.records, journal, detail, "2026-12-03T00:00:00Z") is False  # once
    ends = [e for e in client.events(arn) if e.ends_execution]
    assert [(e.new_state, e.error) for e in ends] == [("timed_out", "States.Timeout")]
    # a later StopExecution (ABORTED) reaches the status rule too, and changes nothing: the end stands
    runtime = embedded.runtime
    before = runtime.completed.get(RECORD_EXECUTION_STATUS.logical_id, 0)
    stores.sfn.stop_execution(executionArn=arn)
    wait_for(lambda: runtime.completed.get(RECORD_EXECUTION_STATUS.logical_id, 0) > before)
    assert [e.new_state for e in client.events(arn) if e.ends_execution] == ["timed_out"]
    assert json.loads(description["input"])["tenant_id"] == "default"
