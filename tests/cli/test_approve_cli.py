"""``segflow approve``: a waiting execution on a local endpoint is rejected (or approved) through the
management API; the approver and the comment reach the node's output and the events."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from segflow.domain.ids import execution_id_of

from tests.cli.conftest import LocalEndpoint, run_segflow, segflow_command, subprocess_env
from tests.support.waiting import wait_for
from tests.support.workflows import approval, edge, judgment, transform, workflow

pytestmark = pytest.mark.e2e


def events(endpoint: LocalEndpoint, arn: str) -> list[dict]:
    listed = run_segflow("events", arn, "--endpoint", endpoint.url, "--json")
    assert listed.returncode == 0, listed.stderr
    return json.loads(listed.stdout)


def test_approve_reject_takes_the_reject_arm_with_the_approver_and_comment(
    local_endpoint: LocalEndpoint, tmp_path: Path
) -> None:
    path = tmp_path / "payout.json"
    wf = workflow(
        "payout-review",
        [
            approval("sign_off", "Pay out {{ input.amount }}?"),
            judgment("check", "{{ nodes.sign_off.decision == 'approve' }}"),
            transform("pay", "paid"),
            transform(
                "stop", {"why": "{{ nodes.sign_off.comment }}", "who": "{{ nodes.sign_off.approver }}"}
            ),
        ],
        [edge("sign_off", "check"), edge("check", "pay", "true"), edge("check", "stop", "false")],
    )
    path.write_text(json.dumps(wf))
    run = subprocess.Popen(
        [
            *segflow_command(),
            "run",
            str(path),
            "--input",
            '{"amount": 700}',
            "--endpoint",
            local_endpoint.url,
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
    )
    try:
        arn = None
        deadline = time.monotonic() + 60
        while arn is None and time.monotonic() < deadline:
            sfn = local_endpoint.client("stepfunctions")
            machine = local_endpoint.outputs["StateMachineArn"]
            running = sfn.list_executions(stateMachineArn=machine, statusFilter="RUNNING")["executions"]
            arns = (e["executionArn"] for e in running)
            arn = next((a for a in arns if execution_id_of(a).startswith("payout-review")), None)
            time.sleep(0.2)
        assert arn, "the run started"
        while time.monotonic() < deadline:
            if any(
                e.get("node_id") == "sign_off" and e["new_state"] == "waiting"
                for e in events(local_endpoint, arn)
            ):
                break
            time.sleep(0.2)

        decided = run_segflow(
            "approve",
            arn,
            "sign_off",
            "--reject",
            "--comment",
            "no budget left",
            "--endpoint",
            local_endpoint.url,
            SEGFLOW_PRINCIPAL="arn:aws:iam::123456789012:user/grace",
        )
        assert decided.returncode == 0, decided.stderr
        assert "rejected sign_off" in decided.stdout and "user/grace" in decided.stdout

        again = run_segflow("approve", arn, "sign_off", "--endpoint", local_endpoint.url)
        assert again.returncode == 1 and "decided already: reject by" in again.stderr

        out, err = run.communicate(timeout=90)
    finally:
        run.kill()
    result = json.loads(out)
    assert result["status"] == "SUCCEEDED", err
    assert result["output"] == {
        "stop": {"why": "no budget left", "who": "arn:aws:iam::123456789012:user/grace"}
    }
    logged = [e for e in events(local_endpoint, arn) if e.get("node_id") == "sign_off"]
    assert logged[-1]["new_state"] == "succeeded"
    assert logged[-1]["reason"] == "reject by arn:aws:iam::123456789012:user/grace: no budget left"


def test_approve_answers_clearly_when_nothing_waits(local_endpoint: LocalEndpoint) -> None:
    missing = run_segflow("approve", "no-such-execution", "sign_off", "--endpoint", local_endpoint.url)
    assert missing.returncode == 1
    assert "execution 'no-such-execution' not found" in missing.stderr


def test_stop_aborts_an_execution_waiting_for_approval_and_later_actions_are_refused(
    local_endpoint: LocalEndpoint, tmp_path: Path
) -> None:
    # Given an execution on `segflow local up` waiting for an approval (a .waitForTaskToken task)
    path = tmp_path / "hold.json"
    wf = workflow(
        "hold-for-stop",
        [approval("sign_off", "Go ahead?", timeout_seconds=3600), transform("after", "done")],
        [edge("sign_off", "after")],
    )
    path.write_text(json.dumps(wf))
    run = subprocess.Popen(
        [*segflow_command(), "run", str(path), "--endpoint", local_endpoint.url, "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
    )
    try:
        sfn = local_endpoint.client("stepfunctions")
        machine = local_endpoint.outputs["StateMachineArn"]

        def started() -> str | None:
            running = sfn.list_executions(stateMachineArn=machine, statusFilter="RUNNING")["executions"]
            arns = (e["executionArn"] for e in running)
            return next((a for a in arns if execution_id_of(a).startswith("hold-for-stop")), None)

        arn = wait_for(started, "the run started", 60)
        wait_for(
            lambda: any(
                e.get("node_id") == "sign_off" and e["new_state"] == "waiting"
                for e in events(local_endpoint, arn)
            ),
            "the approval waits",
            60,
        )
        stopped = run_segflow("stop", arn, "--endpoint", local_endpoint.url)
        out, err = run.communicate(timeout=60)
    finally:
        run.kill()

    # Then the stop aborted it at once, and the run that followed it ended with it
    assert stopped.returncode == 0, stopped.stderr
    assert "ABORTED" in stopped.stdout
    assert json.loads(out)["status"] == "ABORTED", err
    # and approving, rejecting or stopping it afterwards says why not, and exits non-zero
    approve = run_segflow("approve", arn, "sign_off", "--endpoint", local_endpoint.url)
    assert (
        approve.returncode == 1 and "is ABORTED: node 'sign_off' can no longer be decided" in approve.stderr
    )
    assert "approved" not in approve.stdout and "rejected" not in approve.stdout
    again = run_segflow("stop", arn, "--endpoint", local_endpoint.url)
    assert again.returncode == 1 and "is ABORTED: only a RUNNING execution stops" in again.stderr
