"""approval: the execution waits on a task token until someone decides; the decision routes a judgment."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from segflow.adapters import factory
from segflow.domain.approvals import ApprovalNotPending
from segflow.domain.ids import execution_id_of
from segflow.engine.approval_decisions import ApproverNotAllowed, decide_approval
from segflow.engine.history_budget import APPROVAL_EVENTS
from segflow.services.executions import ExecutionNotRunning

from segflow_cli.client import SegflowClient
from tests.conftest import history
from tests.support.history import event_types
from tests.support.waiting import wait_for
from tests.support.workflows import approval, edge, judgment, transform, workflow

pytestmark = pytest.mark.e2e


def review_workflow(name: str, **approval_config: Any) -> dict[str, Any]:
    return workflow(
        name,
        [
            transform("prepare", {"amount": "{{ input.amount }}"}),
            approval("sign_off", "Release {{ input.amount }} EUR?", **approval_config),
            judgment("approved", "{{ nodes.sign_off.approved }}"),
            transform("pay", {"paid": "{{ nodes.prepare.amount }}", "by": "{{ nodes.sign_off.approver }}"}),
            transform("refuse", {"refused": "{{ nodes.sign_off.comment }}"}),
        ],
        [
            edge("prepare", "sign_off"),
            edge("sign_off", "approved"),
            edge("approved", "pay", "true"),
            edge("approved", "refuse", "false"),
        ],
    )


_EMBEDDED: list[Any] = []


@pytest.fixture(autouse=True)
def _embedded(embedded: Any) -> None:
    _EMBEDDED[:] = [embedded]


def approvals() -> Any:
    """The approval store, as the management API (which decides approvals) builds it."""
    with _EMBEDDED[0].running_as("ManagementApi"):
        return factory.approvals()


def task_tokens() -> Any:
    with _EMBEDDED[0].running_as("ManagementApi"):
        return factory.task_tokens()


def wait_until_pending(client: SegflowClient, arn: str, node_id: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = approvals().get(client.tenant_id, execution_id_of(arn), node_id)
        if record is not None and record.task_token:
            return
        time.sleep(0.1)
    raise AssertionError(f"{node_id} never waited for a decision")


def decide(
    client: SegflowClient, arn: str, node_id: str, decision: str, who: str, comment: str | None
) -> Any:
    return decide_approval(
        approvals(),
        task_tokens(),
        client.tenant_id,
        execution_id_of(arn),
        node_id,
        decision,  # type: ignore[arg-type]
        who,
        comment,
        time.time(),
    )


def node_output(client: SegflowClient, arn: str, node_id: str) -> Any:
    record = client.node_records(arn)[node_id]
    return client.node_output(record)


def test_the_execution_waits_and_an_approval_takes_the_approve_arm(client: SegflowClient) -> None:
    arn = client.start(review_workflow("approve-arm"), {"amount": 120})
    wait_until_pending(client, arn, "sign_off")
    assert client.describe(arn)["status"] == "RUNNING"
    pending = [e for e in client.events(arn) if e.node_id == "sign_off"]
    assert pending[-1].new_state == "waiting" and pending[-1].reason == "approval pending: Release 120 EUR?"

    decide(client, arn, "sign_off", "approve", "arn:aws:iam::123456789012:user/ada", "budget ok")
    description = client.wait(arn, timeout_seconds=60)

    assert description["status"] == "SUCCEEDED", description.get("cause")
    output = node_output(client, arn, "sign_off")
    assert output["decision"] == "approve" and output["approved"] is True
    assert (output["approver"], output["comment"]) == ("arn:aws:iam::123456789012:user/ada", "budget ok")
    assert node_output(client, arn, "pay") == {"paid": 120, "by": "arn:aws:iam::123456789012:user/ada"}
    assert client.node_records(arn)["refuse"].status == "skipped"
    decided = [e for e in client.events(arn) if e.node_id == "sign_off" and e.new_state == "succeeded"]
    assert decided[0].reason == "approve by arn:aws:iam::123456789012:user/ada: budget ok"
    events = history(client, arn)
    types = event_types(events)
    assert types.count("TaskSubmitted") == 1, "one callback task waited"
    entered = next(
        i
        for i, e in enumerate(events)
        if e.get("stateEnteredEventDetails", {}).get("name") == "WaitForApproval"
    )
    after = next(
        i
        for i, e in enumerate(events)
        if e.get("stateExitedEventDetails", {}).get("name") == "RouteStageAfterWait"
    )
    assert after - entered + 1 == APPROVAL_EVENTS, "the history estimate counts the approval's states exactly"
    assert types.count("WaitStateEntered") == 0, "no polling: the token resumed it"
    # What watchers and readers get (the execution log, node outputs) never holds the task token.
    token = approvals().get(client.tenant_id, execution_id_of(arn), "sign_off").task_token
    seen = json.dumps([e.model_dump() for e in client.events(arn)]) + json.dumps(client.output(arn))
    seen += json.dumps([node_output(client, arn, n) for n in ("prepare", "sign_off", "approved", "pay")])
    assert token and token not in seen


def test_a_rejection_takes_the_reject_arm_and_a_second_decision_is_refused(client: SegflowClient) -> None:
    arn = client.start(review_workflow("reject-arm"), {"amount": 9000})
    wait_until_pending(client, arn, "sign_off")
    decide(client, arn, "sign_off", "reject", "jwt:grace", "over the limit")
    with pytest.raises(ApprovalNotPending, match="decided already: reject by jwt:grace"):
        decide(client, arn, "sign_off", "approve", "jwt:mallory", None)

    description = client.wait(arn, timeout_seconds=60)

    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert node_output(client, arn, "refuse") == {"refused": "over the limit"}
    assert client.node_records(arn)["pay"].status == "skipped"


def test_stopping_an_execution_that_waits_for_an_approval_aborts_it_at_once(client: SegflowClient) -> None:
    # Given an execution waiting for a decision (a .waitForTaskToken task) that would wait an hour
    arn = client.start(review_workflow("stop-waiting", timeout_seconds=3600), {"amount": 40})
    wait_until_pending(client, arn, "sign_off")

    # When it is stopped
    stopped = client.stop(arn, cause="changed our mind")

    # Then it is ABORTED at once, as in AWS, and its log says so
    assert stopped["status"] == "ABORTED"
    wait_for(
        lambda: any(e.kind == "execution" and e.new_state == "aborted" for e in client.events(arn)),
        "the execution log records the stop",
        30,
    )
    # and a decision for it is refused, naming its status: nothing waits any more
    with pytest.raises(ExecutionNotRunning, match="is ABORTED: node 'sign_off' can no longer be decided"):
        client.executions.decide(client.tenant_id, arn, "sign_off", "reject", "jwt:grace")
    assert not task_tokens().resume(
        approvals().get(client.tenant_id, execution_id_of(arn), "sign_off").task_token, {}
    )
    # and so is stopping it again
    with pytest.raises(ExecutionNotRunning, match="is ABORTED"):
        client.stop(arn)
    assert [n for n, r in client.node_records(arn).items() if r.status == "succeeded"] == ["prepare"]


def test_a_timeout_takes_the_default_decision(client: SegflowClient) -> None:
    arn = client.start(
        review_workflow("timeout", timeout_seconds=2, default_decision="reject"), {"amount": 5}
    )
    description = client.wait(arn, timeout_seconds=60)

    assert description["status"] == "SUCCEEDED", description.get("cause")
    output = node_output(client, arn, "sign_off")
    assert (output["decision"], output["timed_out"], output["approver"]) == ("reject", True, None)
    assert client.node_records(arn)["refuse"].status == "succeeded"


def test_only_listed_approvers_may_decide(client: SegflowClient) -> None:
    wf = review_workflow("listed", approvers=["jwt:ada"], timeout_seconds=60)
    arn = client.start(wf, {"amount": 1})
    wait_until_pending(client, arn, "sign_off")
    with pytest.raises(ApproverNotAllowed, match="jwt:eve may not decide node 'sign_off'"):
        decide(client, arn, "sign_off", "approve", "jwt:eve", None)
    decide(client, arn, "sign_off", "approve", "jwt:ada", None)
    assert client.wait(arn, timeout_seconds=60)["status"] == "SUCCEEDED"


def test_a_decision_before_the_token_is_stored_still_resumes_the_execution(client: SegflowClient) -> None:
    """The node records the request, then the state machine stores the token: a quick approver is first."""
    arn = client.start(review_workflow("early"), {"amount": 3})
    deadline = time.monotonic() + 60
    while approvals().get(client.tenant_id, execution_id_of(arn), "sign_off") is None:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    decide(client, arn, "sign_off", "approve", "jwt:quick", None)
    assert client.wait(arn, timeout_seconds=60)["status"] == "SUCCEEDED"
    assert node_output(client, arn, "pay")["by"] == "jwt:quick"


def test_approvals_in_parallel_branches_are_each_decided(client: SegflowClient) -> None:
    wf = workflow(
        "two-approvals",
        [
            transform("start", 1),
            approval("legal", "legal ok?"),
            approval("finance", "finance ok?"),
            transform("done", ["{{ nodes.legal.decision }}", "{{ nodes.finance.decision }}"]),
        ],
        [edge("start", "legal"), edge("start", "finance"), edge("legal", "done"), edge("finance", "done")],
    )
    arn = client.start(wf, {})
    for node_id, decision in (("finance", "reject"), ("legal", "approve")):
        threading.Event().wait(0.2)
        deadline = time.monotonic() + 60
        while approvals().get(client.tenant_id, execution_id_of(arn), node_id) is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        decide(client, arn, node_id, decision, "jwt:board", None)
    description = client.wait(arn, timeout_seconds=60)
    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert node_output(client, arn, "done") == ["approve", "reject"]
