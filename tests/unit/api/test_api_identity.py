"""The management API takes tenant and caller from what API Gateway's authorizer vouched for, nothing else."""

from __future__ import annotations

import pytest
from segflow.api.identity import (
    API_AUTH_ENV,
    TENANT_CLAIM_ENV,
    Caller,
    Forbidden,
    Unauthenticated,
    caller_from_request_context,
)

JWT = {"authorizer": {"jwt": {"claims": {"sub": "u-1", "custom:tenant_id": "acme"}, "scopes": None}}}
IAM = {"authorizer": {"iam": {"userArn": "arn:aws:iam::111122223333:role/deployer", "accountId": "1111"}}}
LOCAL = {"authorizer": {"lambda": {"tenant_id": "acme", "principal": "ada"}}}


def test_jwt_mode_reads_the_configured_tenant_claim(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(API_AUTH_ENV, "jwt")
    monkeypatch.setenv(TENANT_CLAIM_ENV, "custom:tenant_id")
    assert caller_from_request_context(JWT) == Caller("acme", "jwt:u-1")


def test_a_token_without_a_valid_tenant_claim_is_forbidden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(API_AUTH_ENV, "jwt")
    monkeypatch.setenv(TENANT_CLAIM_ENV, "tenant_id")
    with pytest.raises(Forbidden, match="'tenant_id' claim"):
        caller_from_request_context(JWT)


def test_iam_mode_is_single_tenant(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(API_AUTH_ENV, "iam")
    assert caller_from_request_context(IAM) == Caller("default", "arn:aws:iam::111122223333:role/deployer")


def test_the_local_gateway_context_is_accepted_only_without_a_cloud_auth_mode(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(API_AUTH_ENV, raising=False)
    assert caller_from_request_context(LOCAL) == Caller("acme", "ada")
    monkeypatch.setenv(API_AUTH_ENV, "iam")
    with pytest.raises(Unauthenticated):
        caller_from_request_context(LOCAL)


def test_a_context_of_the_wrong_kind_or_none_is_unauthenticated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(API_AUTH_ENV, "jwt")
    with pytest.raises(Unauthenticated):
        caller_from_request_context(IAM)
    with pytest.raises(Unauthenticated):
        caller_from_request_context({})


def test_an_invalid_local_tenant_is_forbidden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(API_AUTH_ENV, raising=False)
    with pytest.raises(Forbidden):
        caller_from_request_context({"authorizer": {"lambda": {"tenant_id": "Bad Tenant"}}})
