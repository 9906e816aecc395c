"""How callers of the management HTTP API authenticate, chosen per deployment through CDK context.

Plain Python (no aws_cdk import). Context keys, all optional (``-c key=value`` on the CDK CLI):

- ``auth``: ``iam`` (default) or ``jwt``;
- ``jwt_issuer``: the token issuer URL (``https://…``), required with ``auth=jwt``;
- ``jwt_audience``: accepted audiences (``aud``, or ``client_id`` for Cognito access tokens),
  comma-separated, required with ``auth=jwt``;
- ``tenant_claim``: the claim that carries the tenant id, ``tenant_id`` unless given; ``auth=jwt`` only.

IAM mode is single-tenant (tenant ``default``); the caller is the signing IAM principal. In JWT mode the
tenant is the value of the tenant claim of a token API Gateway has verified. The function learns the mode and
the claim name from its environment (``SEGFLOW_API_AUTH``, ``SEGFLOW_TENANT_CLAIM``).

The WebSocket API follows the same mode: IAM (SigV4) on ``$connect``, or, with ``auth=jwt``, a Lambda REQUEST
authorizer that checks the same issuer, audiences and tenant claim (``authorizer_environment``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from segflow.api.identity import JWT_AUDIENCE_ENV, JWT_ISSUER_ENV

AuthMode = Literal["iam", "jwt"]
AUTH_MODES: tuple[AuthMode, ...] = ("iam", "jwt")

CONTEXT_AUTH = "auth"
CONTEXT_JWT_ISSUER = "jwt_issuer"
CONTEXT_JWT_AUDIENCE = "jwt_audience"
CONTEXT_TENANT_CLAIM = "tenant_claim"

# Set on the function behind each HTTP API (lambdas/segflow/api/identity.py reads the claim name).
API_AUTH_ENV = "SEGFLOW_API_AUTH"
TENANT_CLAIM_ENV = "SEGFLOW_TENANT_CLAIM"
DEFAULT_TENANT_CLAIM = "tenant_id"

# Claim names as identity providers spell them, e.g. Cognito's ``custom:tenant_id``.
_CLAIM = re.compile(r"[A-Za-z0-9_.:/-]{1,128}")
_ISSUER = re.compile(r"https://[^\s,]+")


@dataclass(frozen=True)
class ApiAuth:
    mode: AuthMode = "iam"
    jwt_issuer: str | None = None
    jwt_audience: tuple[str, ...] = ()
    tenant_claim: str = DEFAULT_TENANT_CLAIM

    def __post_init__(self) -> None:
        if self.mode not in AUTH_MODES:
            raise ValueError(f"auth {self.mode!r} must be one of {', '.join(AUTH_MODES)}")
        if not _CLAIM.fullmatch(self.tenant_claim):
            raise ValueError(f"tenant_claim {self.tenant_claim!r} must match {_CLAIM.pattern}")
        if self.mode == "iam":
            if self.jwt_issuer or self.jwt_audience or self.tenant_claim != DEFAULT_TENANT_CLAIM:
                raise ValueError("jwt_issuer, jwt_audience and tenant_claim apply only with auth=jwt")
            return
        if not self.jwt_issuer or not _ISSUER.fullmatch(self.jwt_issuer):
            raise ValueError(f"auth=jwt needs jwt_issuer, an https:// URL (got {self.jwt_issuer!r})")
        if not self.jwt_audience or not all(self.jwt_audience):
            raise ValueError("auth=jwt needs jwt_audience: one or more comma-separated audiences")

    @classmethod
    def from_context(cls, get: Callable[[str], Any]) -> ApiAuth:
        """From CDK context (``node.try_get_context``); absent keys take their defaults."""
        audience = get(CONTEXT_JWT_AUDIENCE)
        if isinstance(audience, str):
            audience = [part.strip() for part in audience.split(",")]
        return cls(
            mode=str(get(CONTEXT_AUTH) or "iam"),  # type: ignore[arg-type]
            jwt_issuer=str(get(CONTEXT_JWT_ISSUER)) if get(CONTEXT_JWT_ISSUER) else None,
            jwt_audience=tuple(str(part) for part in audience or ()),
            tenant_claim=str(get(CONTEXT_TENANT_CLAIM) or DEFAULT_TENANT_CLAIM),
        )

    def environment(self) -> dict[str, str]:
        """What the function behind the API reads; the claim name matters in JWT mode only."""
        return {API_AUTH_ENV: self.mode, TENANT_CLAIM_ENV: self.tenant_claim}

    def authorizer_environment(self) -> dict[str, str]:
        """What the WebSocket API's JWT authorizer reads (JWT mode only): the HTTP API's issuer, audiences
        and tenant claim."""
        if self.mode != "jwt" or self.jwt_issuer is None:
            raise ValueError("the WebSocket JWT authorizer exists only with auth=jwt")
        return {
            JWT_ISSUER_ENV: self.jwt_issuer,
            JWT_AUDIENCE_ENV: ",".join(self.jwt_audience),
            TENANT_CLAIM_ENV: self.tenant_claim,
        }
