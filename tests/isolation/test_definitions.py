"""Stored definitions are verified when loaded for a run. The attack: tenant B overwrote tenant A's stored
definition (an api_call's url pointed at B's server), so that A's next ordinary run posted A's input there.
Now a published version must hash to the sha256 stored when it was published, and a submission to the
digest its key names: otherwise the execution fails with DefinitionIntegrityError before anything runs,
and the url is never called (a loopback server records every request it gets)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from segflow.adapters.dynamo_items import encode_item
from segflow.adapters.workflow_versions import WorkflowVersionStore, version_sk, workflow_pk
from segflow.domain.integrity import canonical_json

from segflow_cli.client import SegflowClient
from segflow_local.embedded import EmbeddedAws
from tests.support.e2e import unique_path
from tests.support.http_server import LocalHttpServer
from tests.support.stores import stores_of
from tests.support.workflows import api_call, edge, transform, workflow

pytestmark = pytest.mark.e2e

SECRET_INPUT = {"ssn": "078-05-1120"}


def posting_workflow(workflow_id: str, url: str, padding: int = 0) -> dict[str, Any]:
    """Posts the execution's input to ``url``; ``padding`` bytes make it large enough to be kept in S3."""
    nodes = [
        transform("prepare", {"pad": "p" * padding}),
        api_call("post", url, body={"ssn": "{{ input.ssn }}"}),
    ]
    return workflow(workflow_id, nodes, [edge("prepare", "post")])


def redirected(definition: dict[str, Any], url: str) -> dict[str, Any]:
    """The definition with its api_call pointed at ``url``: what the attacker wrote."""
    changed = json.loads(json.dumps(definition))
    for node in changed["nodes"]:
        if node["node_id"] == "post":
            node["config"]["url"] = url
    return changed


def tenant_client(client: SegflowClient) -> SegflowClient:
    return SegflowClient(client.session, client.resources, f"defs-{uuid.uuid4().hex[:8]}")


def versions(tenant: SegflowClient) -> WorkflowVersionStore:
    store = tenant.executions.versions
    assert store is not None, "the embedded stack has a workflows table"
    return store


def assert_refused_before_anything_ran(
    tenant: SegflowClient, arn: str, description: dict[str, Any], workflow_id: str, what: str
) -> None:
    assert description["status"] == "FAILED"
    assert description["error"] == "DefinitionIntegrityError", description
    assert workflow_id in description["cause"] and what in description["cause"], description["cause"]
    assert tenant.execution_record(arn) is None  # nothing initialized: no record, no node, no event
    assert tenant.node_records(arn) == {}
    assert tenant.events(arn) == []


def test_a_published_definition_changed_in_its_table_item_fails_the_run_and_calls_nothing(
    client: SegflowClient,
    embedded: EmbeddedAws,
    http_server: LocalHttpServer,
    fresh_http_server: LocalHttpServer,
) -> None:
    # Given tenant A's published workflow posting its input to A's endpoint, which ran once as published
    a = tenant_client(client)
    own_path = unique_path("a-endpoint")
    http_server.route("POST", own_path, body={"ok": True})
    definition = posting_workflow("payroll", http_server.url + own_path)
    versions(a).publish(a.tenant_id, definition, "ada")
    first = a.executions.start(a.tenant_id, "payroll", execution_input=SECRET_INPUT).execution_arn
    assert a.wait(first, timeout_seconds=120)["status"] == "SUCCEEDED"
    assert len(http_server.requests_to(own_path)) == 1

    # When the stored definition's bytes are overwritten in the workflows table, its url now the attacker's
    attacker = fresh_http_server.url + "/collect"
    embedded.client("dynamodb").update_item(
        TableName=client.resources.workflows_table,
        Key=encode_item({"pk": workflow_pk(a.tenant_id, "payroll"), "sk": version_sk(1)}),
        UpdateExpression="SET definition_json = :text",
        ExpressionAttributeValues=encode_item({":text": canonical_json(redirected(definition, attacker))}),
    )
    # and A starts an ordinary run of it
    arn = a.executions.start(a.tenant_id, "payroll", execution_input=SECRET_INPUT).execution_arn
    description = a.wait(arn, timeout_seconds=120)

    # Then the run fails naming the workflow and its version, and nothing of the changed definition ran
    assert_refused_before_anything_ran(a, arn, description, "'payroll'", "version 1")
    assert fresh_http_server.requests == []
    assert len(http_server.requests_to(own_path)) == 1


def test_a_published_definition_kept_in_s3_and_changed_there_fails_the_run(
    client: SegflowClient, embedded: EmbeddedAws, fresh_http_server: LocalHttpServer
) -> None:
    # Given a definition too large for its table item (kept in the bucket)
    a = tenant_client(client)
    definition = posting_workflow("big", "http://127.0.0.1:9/unused", padding=40_000)
    info, _ = versions(a).publish(a.tenant_id, definition, "ada")
    assert info.definition_key is not None

    # When its object is overwritten, pointed at the attacker's server
    body = canonical_json(redirected(definition, fresh_http_server.url + "/collect")).encode()
    stores_of(client).s3.put_object(Bucket=client.resources.bucket, Key=info.definition_key, Body=body)
    arn = a.executions.start(a.tenant_id, "big", execution_input=SECRET_INPUT).execution_arn
    description = a.wait(arn, timeout_seconds=120)

    # Then the run fails before anything of it ran
    assert_refused_before_anything_ran(a, arn, description, "'big'", "version 1")
    assert fresh_http_server.requests == []


def test_a_submitted_definition_changed_after_upload_fails_the_run(
    client: SegflowClient, fresh_http_server: LocalHttpServer
) -> None:
    # Given a workflow document uploaded to start an execution (its key is its body's sha256)
    a = tenant_client(client)
    definition = posting_workflow("adhoc", "http://127.0.0.1:9/unused")
    launcher = a.executions.launcher
    key = launcher.upload_submission(a.tenant_id, "workflows", definition)

    # When its object is overwritten before a run reads it
    body = canonical_json(redirected(definition, fresh_http_server.url + "/collect")).encode()
    stores_of(client).s3.put_object(Bucket=client.resources.bucket, Key=key, Body=body)
    arn = launcher.start(a.tenant_id, {"s3_key": key}, SECRET_INPUT, f"adhoc-{uuid.uuid4().hex[:8]}")
    description = a.wait(arn, timeout_seconds=120)

    # Then the run fails naming the submission, and the url is never called
    assert_refused_before_anything_ran(a, arn, description, key, "changed after it was uploaded")
    assert fresh_http_server.requests == []
