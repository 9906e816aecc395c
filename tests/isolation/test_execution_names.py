"""Execution names are per tenant: a Step Functions execution is named ``<tenant>.<id>``, so a tenant
starting an execution under another tenant's name starts its own (no 409 telling it the other exists, no
squatting), and can neither read, stop nor resume the other's by that name or its ARN. Execution ids users
see stay ``<id>``; names segflow makes fit Step Functions' 80 characters with the longest tenant."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from segflow.adapters.execution_launcher import ExecutionAlreadyExists, execution_name
from segflow.declaration import MANAGEMENT_HTTP_API
from segflow.domain.ids import InvalidExecutionName, execution_id_of, tenant_in_reference
from segflow.domain.limits import EXECUTION_NAME_MAX_CHARS, TENANT_ID_MAX_CHARS
from segflow.engine.continuation import part_name
from segflow.engine.resume import resumed_execution_name
from segflow.services.executions import ExecutionNotFound

from segflow_cli.client import SegflowClient
from segflow_local.embedded import EmbeddedAws
from segflow_local.http_api import HttpRequest, LocalHttpApi
from tests.support.e2e import execution_count, final_output
from tests.support.waiting import wait_for
from tests.support.workflows import chain_edges, transform, wait, workflow

LONGEST_TENANT = "t" * TENANT_ID_MAX_CHARS


def tenant_client(client: SegflowClient, label: str) -> SegflowClient:
    return SegflowClient(client.session, client.resources, f"{label}-{uuid.uuid4().hex[:8]}")


def echo(workflow_id: str) -> dict[str, Any]:
    return workflow(workflow_id, [transform("echo", "{{ input.owner }}")])


def slow(workflow_id: str) -> dict[str, Any]:
    nodes = [transform("a", 1), wait("long", 60), transform("b", 2)]
    return workflow(workflow_id, nodes, chain_edges(["a", "long", "b"]))


@pytest.mark.e2e
def test_two_tenants_run_executions_of_the_same_name_each_reading_only_its_own(client: SegflowClient) -> None:
    # Given tenant A's execution named "shared-…"
    a, b = tenant_client(client, "names-a"), tenant_client(client, "names-b")
    name = f"shared-{uuid.uuid4().hex[:8]}"
    arn_a = a.start(echo("echo"), {"owner": "a"}, name=name)

    # When tenant B starts one of the same name: it is B's own execution, not a 409
    arn_b = b.start(echo("echo"), {"owner": "b"}, name=name)

    # Then both run to completion, distinct, each named by its tenant, both known to users by the same id
    assert arn_a != arn_b
    assert (tenant_in_reference(arn_a), tenant_in_reference(arn_b)) == (a.tenant_id, b.tenant_id)
    assert execution_id_of(arn_a) == execution_id_of(arn_b) == name
    assert a.wait(name, timeout_seconds=120)["status"] == "SUCCEEDED"
    assert b.wait(name, timeout_seconds=120)["status"] == "SUCCEEDED"
    # and each tenant reads only its own, by the id or by its ARN
    assert (final_output(a, name), final_output(b, name)) == ({"echo": "a"}, {"echo": "b"})
    assert final_output(a, arn_a) == {"echo": "a"}
    for tenant, own in ((a, arn_a), (b, arn_b)):
        record = tenant.execution_record(name)
        assert record is not None and record.tenant_id == tenant.tenant_id and record.execution_id == name
        assert tenant.describe(name)["executionArn"] == own
    # and a 409 only ever comes from the tenant's own names
    with pytest.raises(ExecutionAlreadyExists):
        a.start(echo("echo"), {"owner": "a"}, name=name)


@pytest.mark.e2e
def test_a_tenant_cannot_describe_stop_or_resume_another_tenants_execution_by_name_or_arn(
    client: SegflowClient,
) -> None:
    # Given tenant A's execution, waiting in a node
    a, b = tenant_client(client, "owner"), tenant_client(client, "intruder")
    name = f"private-{uuid.uuid4().hex[:8]}"
    arn = a.start(slow("slow"), {}, name=name)
    wait_for(lambda: a.node_records(name).get("long"), "A's execution waits in its wait node")

    # When tenant B names it, by id or by ARN, it does not exist for B
    for reference in (name, arn):
        with pytest.raises(ExecutionNotFound):
            b.describe(reference)
        with pytest.raises(ExecutionNotFound):
            b.stop(reference)
        assert b.execution_record(reference) is None
        assert b.node_records(reference) == {}
        assert b.events(reference) == []
    # and A's execution runs on, untouched
    assert a.describe(name)["status"] == "RUNNING"

    # When A stops it (resumable now, for A), B cannot resume it either
    assert a.stop(name)["status"] == "ABORTED"
    for reference in (name, arn):
        with pytest.raises(ExecutionNotFound):
            b.resume(reference)


@pytest.mark.e2e
def test_a_name_with_a_dot_or_too_long_for_the_tenant_is_refused_naming_the_field(
    client: SegflowClient, embedded: EmbeddedAws
) -> None:
    tenant = tenant_client(client, "badnames")
    room = EXECUTION_NAME_MAX_CHARS - len(tenant.tenant_id) - 1
    executions_before = execution_count(client)

    with pytest.raises(InvalidExecutionName, match=r"name 'other\.run'.*'\.'"):
        tenant.start(echo("echo"), {}, name="other.run")
    with pytest.raises(InvalidExecutionName, match=rf"name '{'n' * (room + 1)}'.* {room} at most"):
        tenant.start(echo("echo"), {}, name="n" * (room + 1))
    assert execution_count(client) == executions_before  # nothing was started

    # Through the management API: 400, naming the field
    gateway = LocalHttpApi(MANAGEMENT_HTTP_API, embedded.runtime.stage, embedded.runtime.invoke)

    def post(path: str, body: dict[str, Any]) -> tuple[int, Any]:
        headers = {"content-type": "application/json", "x-segflow-tenant": tenant.tenant_id}
        response = gateway.handle(HttpRequest("POST", path, "", headers, json.dumps(body).encode()))
        return response.status, json.loads(response.body)

    assert post("/workflows", {"definition": echo("echo")})[0] == 201
    status, answer = post("/executions", {"workflow_id": "echo", "name": "n" * (room + 1)})
    assert (status, answer["code"]) == (400, "InvalidExecutionName"), answer
    assert answer["message"].startswith("name ")
    status, answer = post("/executions", {"workflow_id": "echo", "name": "n" * room})
    assert status == 201, answer
    assert answer["execution_id"] == "n" * room


@pytest.mark.e2e
def test_generated_names_fit_with_the_longest_tenant_and_run(client: SegflowClient) -> None:
    tenant = SegflowClient(client.session, client.resources, LONGEST_TENANT)
    arn = tenant.start(echo("w" * 40), {"owner": "long"})
    assert len(arn.rsplit(":", 1)[-1]) <= EXECUTION_NAME_MAX_CHARS
    assert tenant.wait(arn, timeout_seconds=120)["status"] == "SUCCEEDED"
    assert final_output(tenant, arn) == {"echo": "long"}


def test_names_segflow_makes_fit_step_functions_for_every_tenant_length() -> None:
    longest_id = "x" * (EXECUTION_NAME_MAX_CHARS - 2)
    for tenant in ("t", "t" * 20, LONGEST_TENANT):
        room = EXECUTION_NAME_MAX_CHARS - len(tenant) - 1
        made = [
            execution_name(tenant, "a.b" + "w" * 60),
            resumed_execution_name(tenant, longest_id, uuid.uuid4().hex),
            *(part_name(tenant, longest_id, part) for part in (1, 99, 10_000)),
        ]
        for name in made:
            assert len(name) <= room and "." not in name, (tenant, name)
        # parts of two executions sharing a long prefix stay apart
        assert part_name(tenant, longest_id, 1) != part_name(tenant, longest_id[:-1] + "y", 1)
