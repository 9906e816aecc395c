"""The embedded AWS enforces the node role as AWS would: who may assume it, with which session tags, and what
its sessions may do (policy variables taking the session's tags)."""

from __future__ import annotations

import uuid
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from segflow.adapters.tenant_sessions import TenantSessions
from segflow.declaration import NODE_ROLE

from segflow_local.embedded import EmbeddedAws
from segflow_local.iam_policy import AuthorizationRequest, Policy, Statement, substitute

SECRETS = "arn:aws:secretsmanager:us-east-1:123456789012:secret:segflow/${aws:PrincipalTag/tenant}/*"


def secret_arn(name: str) -> str:
    return f"arn:aws:secretsmanager:us-east-1:123456789012:secret:{name}-AbCdEf"


def tagged(tenant: str | None) -> dict[str, str | tuple[str, ...]]:
    return {} if tenant is None else {"aws:PrincipalTag/tenant": tenant}


@pytest.mark.parametrize(
    ("tenant", "secret", "allowed"),
    [
        ("acme", "segflow/acme/openai", True),
        ("acme", "segflow/globex/openai", False),
        ("acme-eu", "segflow/acme/openai", False),
        (None, "segflow/acme/openai", False),  # no tag: the variable matches nothing
        ("*", "segflow/acme/openai", False),  # a tag's own wildcard is a character, not a wildcard
    ],
)
def test_a_policy_variable_takes_the_sessions_tag(tenant: str | None, secret: str, allowed: bool) -> None:
    policy = Policy((Statement("Allow", actions=("secretsmanager:GetSecretValue",), resources=(SECRETS,)),))
    request = AuthorizationRequest("secretsmanager:GetSecretValue", secret_arn(secret), tagged(tenant))
    assert policy.allows(request) is allowed


def test_special_characters_are_not_variables() -> None:
    assert substitute("a${*}b", {}) == "a${*}b"
    assert substitute("${aws:PrincipalTag/tenant}#*", {"aws:PrincipalTag/tenant": "t1"}) == "t1#*"


def test_an_explicit_deny_wins_over_any_allow() -> None:
    table = "arn:aws:dynamodb:us-east-1:123456789012:table/segflow"
    policy = Policy(
        (
            Statement("Allow", actions=("dynamodb:*",), resources=("*",)),
            Statement("Deny", not_actions=("dynamodb:PutItem",), resources=(table,)),
        )
    )
    assert policy.decide(AuthorizationRequest("dynamodb:GetItem", table)) == "explicit_deny"
    assert policy.decide(AuthorizationRequest("dynamodb:PutItem", table)) == "allow"


def assume(embedded: EmbeddedAws, tags: list[dict[str, str]]) -> dict[str, Any]:
    sts = boto3.session.Session().client("sts")
    request: dict[str, Any] = {"RoleArn": embedded.stack.node_role_arn, "RoleSessionName": "probe"}
    if tags:
        request["Tags"] = tags
    return dict(sts.assume_role(**request))


def test_only_the_function_that_runs_nodes_may_assume_the_node_role(embedded: EmbeddedAws) -> None:
    with embedded.running_as("ManagementApi"), pytest.raises(ClientError) as refused:
        assume(embedded, [{"Key": "tenant", "Value": "acme"}])
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    with embedded.running_as(NODE_ROLE.assumed_by[0]):
        assert assume(embedded, [{"Key": "tenant", "Value": "acme"}])["Credentials"]["AccessKeyId"]


@pytest.mark.parametrize(
    "tags",
    [
        [],  # untagged: a session with no tenant
        [{"Key": "tenant", "Value": ""}],
        [{"Key": "tenant", "Value": "acme"}, {"Key": "admin", "Value": "true"}],
    ],
    ids=["no-tag", "empty-tenant", "extra-tag"],
)
def test_the_node_role_is_assumed_only_with_exactly_a_tenant_tag(
    embedded: EmbeddedAws, tags: list[dict[str, str]]
) -> None:
    with embedded.running_as(NODE_ROLE.assumed_by[0]), pytest.raises(ClientError) as refused:
        assume(embedded, tags)
    assert refused.value.response["Error"]["Code"] == "AccessDenied"


def test_a_tenant_session_reads_its_own_secrets_only(embedded: EmbeddedAws) -> None:
    own, other = (f"segflow/{tenant}/key-{uuid.uuid4().hex[:6]}" for tenant in ("acme", "globex"))
    for name in (own, other):
        embedded.client("secretsmanager").create_secret(Name=name, SecretString="sk")
    with embedded.running_as(NODE_ROLE.assumed_by[0]):
        secrets = TenantSessions(embedded.stack.node_role_arn).client("acme", "secretsmanager")
        assert secrets.get_secret_value(SecretId=own)["SecretString"] == "sk"
        with pytest.raises(ClientError) as refused:
            secrets.get_secret_value(SecretId=other)
    message = refused.value.response["Error"]["Message"]
    assert "assumed-role/segflow-test-tenantnoderole/tenant-acme is not authorized" in message
