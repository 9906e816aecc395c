"""Who is calling, and for which tenant: read from the request context API Gateway fills in, never the body.

- JWT authorizer: the tenant is the claim named by ``SEGFLOW_TENANT_CLAIM`` (default ``tenant_id``);
- IAM authorizer: single-tenant, the tenant is ``default``; the caller is the IAM principal;
- Lambda authorizer context: ``tenant_id`` and ``principal`` keys (the WebSocket API's JWT authorizer,
  ``segflow.handlers.websocket_authorizer``, and the local gateways of ``segflow local up``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from segflow.contracts import DEFAULT_TENANT
from segflow.domain.errors import SegflowError
from segflow.domain.ids import is_tenant_id

TENANT_CLAIM_ENV = "SEGFLOW_TENANT_CLAIM"
DEFAULT_TENANT_CLAIM = "tenant_id"
# Set by the stack: "iam" or "jwt". Then only that kind of identity is accepted; unset (the local gateway),
# only a Lambda-authorizer context is.
API_AUTH_ENV = "SEGFLOW_API_AUTH"
# Set on the WebSocket API's JWT authorizer (auth=jwt): the HTTP API's issuer and audiences (comma-separated).
JWT_ISSUER_ENV = "SEGFLOW_JWT_ISSUER"
JWT_AUDIENCE_ENV = "SEGFLOW_JWT_AUDIENCE"


class Unauthenticated(SegflowError):
    """The request carries no identity API Gateway vouched for."""

    kind = "unauthenticated"


class Forbidden(SegflowError):
    """The identity carries no usable tenant."""

    kind = "forbidden"


@dataclass(frozen=True)
class Caller:
    tenant_id: str
    principal: str


def caller_from_request_context(request_context: dict[str, Any]) -> Caller:
    authorizer = request_context.get("authorizer") or {}
    expected = os.environ.get(API_AUTH_ENV) or "lambda"
    if expected not in authorizer:
        raise Unauthenticated(f"the request was not authorized by API Gateway ({expected} authorization)")
    if expected == "jwt":
        claims = (authorizer["jwt"] or {}).get("claims") or {}
        claim = os.environ.get(TENANT_CLAIM_ENV, DEFAULT_TENANT_CLAIM)
        tenant = claims.get(claim)
        principal = claims.get("sub") or claims.get("client_id") or "unknown"
        if not is_tenant_id(tenant):
            raise Forbidden(f"the token has no valid {claim!r} claim")
        return Caller(tenant, f"jwt:{principal}")
    if expected == "lambda":
        context = authorizer["lambda"] or {}
        tenant, principal = context.get("tenant_id"), context.get("principal") or "unknown"
        if not is_tenant_id(tenant):
            raise Forbidden("the authorizer gave no valid tenant_id")
        return Caller(tenant, str(principal))
    iam = authorizer["iam"] or {}
    principal = iam.get("userArn") or iam.get("callerId") or "unknown"
    return Caller(DEFAULT_TENANT, str(principal))


def caller_from_websocket_context(request_context: dict[str, Any]) -> Caller:
    """The caller of a WebSocket ``$connect``: a Lambda authorizer's context (``tenant_id``, ``principal``:
    the JWT authorizer with auth=jwt, the local gateway locally), or the IAM principal API Gateway's IAM
    authorizer verified (single tenant). Anything else was not authorized by API Gateway."""
    authorizer = request_context.get("authorizer") or {}
    if "tenant_id" in authorizer:
        tenant = authorizer["tenant_id"]
        if not is_tenant_id(tenant):
            raise Forbidden("the authorizer gave no valid tenant_id")
        return Caller(tenant, str(authorizer.get("principal") or "unknown"))
    identity = request_context.get("identity") or {}
    principal = identity.get("userArn") or identity.get("caller")
    if principal:
        return Caller(DEFAULT_TENANT, str(principal))
    raise Unauthenticated("the connection was not authorized by API Gateway")
