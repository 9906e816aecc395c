"""Verifying a caller's JWT as API Gateway's JWT authorizer does, for the WebSocket API's REQUEST authorizer.

The checks are those of the HTTP API's JWT authorizer (``auth=jwt``), with the same issuer, audiences and
tenant claim, so one token works on both APIs:

- the signing keys: the issuer's JWKS, found through its OpenID discovery document
  (``<issuer>/.well-known/openid-configuration`` -> ``jwks_uri``; ``<issuer>/.well-known/jwks.json`` for
  Cognito and most providers);
- the signature (RSA: RS256, RS384, RS512, with the key the header's ``kid`` names), ``exp`` (required),
  ``nbf`` and ``iat`` when present, ``iss`` equal to the issuer;
- ``aud`` containing one of the audiences, or, for tokens without ``aud`` (Cognito access tokens),
  ``client_id`` equal to one of them;
- the tenant claim, a valid tenant id.

PyJWT does the cryptography and the time checks; keys are fetched once per execution environment and again
when a token names an unknown ``kid`` (key rotation).
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt

from segflow.api.identity import DEFAULT_TENANT_CLAIM, JWT_AUDIENCE_ENV, JWT_ISSUER_ENV, TENANT_CLAIM_ENV
from segflow.domain.ids import is_tenant_id

ALGORITHMS = ("RS256", "RS384", "RS512")  # what API Gateway's JWT authorizer accepts
FETCH_TIMEOUT_SECONDS = 5.0
# Tokens naming an unknown kid refetch the keys at most this often: made-up kids cannot hammer the issuer.
REFETCH_MIN_SECONDS = 60.0
DISCOVERY_PATH = "/.well-known/openid-configuration"


class InvalidToken(Exception):
    """The token is not one the issuer signed for these audiences, or carries no valid tenant."""


class KeysUnavailable(Exception):
    """The issuer's signing keys could not be fetched: the token cannot be judged either way."""


@dataclass(frozen=True)
class VerifiedCaller:
    tenant_id: str
    principal: str  # jwt:<sub>, as the HTTP API names a JWT caller


def _fetch_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_SECONDS) as response:
        return json.load(response)


class IssuerKeys:
    """The issuer's JWKS by ``kid``; fetched on first use and again (at most once a minute) for a ``kid`` it
    does not know."""

    def __init__(self, issuer: str, fetch_json: Callable[[str], Any] = _fetch_json) -> None:
        self._issuer = issuer.rstrip("/")
        self._fetch = fetch_json
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._lock = threading.Lock()

    def _load(self) -> None:
        try:
            discovery = self._fetch(self._issuer + DISCOVERY_PATH)
            jwks_uri = discovery["jwks_uri"]
            key_set = jwt.PyJWKSet.from_dict(self._fetch(jwks_uri))
        except (OSError, ValueError, KeyError, TypeError, jwt.PyJWKSetError) as error:
            raise KeysUnavailable(f"cannot read the signing keys of {self._issuer}: {error}") from error
        self._keys = {key.key_id: key for key in key_set.keys if key.key_id}
        self._fetched_at = time.monotonic()

    def key(self, kid: str) -> jwt.PyJWK:
        with self._lock:
            stale = self._fetched_at is None or time.monotonic() - self._fetched_at >= REFETCH_MIN_SECONDS
            if kid not in self._keys and stale:
                self._load()
            try:
                return self._keys[kid]
            except KeyError:
                raise InvalidToken(f"no signing key {kid!r} at the issuer") from None


class JwtVerifier:
    def __init__(
        self, issuer: str, audiences: tuple[str, ...], tenant_claim: str, keys: IssuerKeys | None = None
    ) -> None:
        if not issuer or not audiences or not all(audiences):
            raise ValueError("a JWT verifier needs an issuer and one or more audiences")
        self.issuer = issuer
        self.audiences = audiences
        self.tenant_claim = tenant_claim
        self._keys = keys or IssuerKeys(issuer)

    @classmethod
    def from_environment(cls) -> JwtVerifier:
        """From the variables the stack sets; ValueError when they are missing (auth=iam deploys)."""
        issuer = os.environ.get(JWT_ISSUER_ENV, "")
        audiences = tuple(a.strip() for a in os.environ.get(JWT_AUDIENCE_ENV, "").split(",") if a.strip())
        return cls(issuer, audiences, os.environ.get(TENANT_CLAIM_ENV) or DEFAULT_TENANT_CLAIM)

    def verify(self, token: str) -> VerifiedCaller:
        """The caller a valid token names; InvalidToken otherwise, KeysUnavailable when no key can be read."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise InvalidToken(f"not a JWT: {error}") from error
        if header.get("alg") not in ALGORITHMS:
            raise InvalidToken(f"algorithm {header.get('alg')!r} is not one of {', '.join(ALGORITHMS)}")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("the token names no signing key (kid)")
        key = self._keys.key(kid)
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=list(ALGORITHMS),
                issuer=self.issuer,
                options={"require": ["exp", "iss"], "verify_aud": False},
            )
        except jwt.PyJWTError as error:
            raise InvalidToken(str(error)) from error
        self._check_audience(claims)
        tenant = claims.get(self.tenant_claim)
        if not is_tenant_id(tenant):
            raise InvalidToken(f"the token has no valid {self.tenant_claim!r} claim")
        principal = claims.get("sub") or claims.get("client_id") or "unknown"
        return VerifiedCaller(tenant, f"jwt:{principal}")

    def _check_audience(self, claims: dict[str, Any]) -> None:
        if "aud" in claims:
            audience = claims["aud"]
            given = {audience} if isinstance(audience, str) else set(audience or ())
            if given & set(self.audiences):
                return
            raise InvalidToken("the token's aud is none of the accepted audiences")
        if claims.get("client_id") in self.audiences:
            return
        raise InvalidToken("the token has neither an accepted aud nor an accepted client_id")
