"""The WebSocket JWT authorizer accepts exactly the tokens the HTTP API's JWT authorizer accepts: signed by
the issuer's keys (discovered and served over HTTP here, on 127.0.0.1), unexpired, of the issuer, for one of
the audiences, with a valid tenant claim. Keys are generated locally; nothing leaves the machine."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from segflow.api import jwt_tokens
from segflow.api.jwt_tokens import InvalidToken, IssuerKeys, JwtVerifier, KeysUnavailable
from segflow.declaration import LIVE_WEBSOCKET_API
from segflow.handlers import websocket_authorizer

from tests.support.http_server import LocalHttpServer, start_http_server

AUDIENCES = ("segflow-cli", "segflow-console")
CLAIM = "custom:tenant_id"
METHOD_ARN = "arn:aws:execute-api:eu-west-1:123456789012:abc123/live/$connect"


@dataclass
class SigningKey:
    kid: str
    private: rsa.RSAPrivateKey

    def jwk(self) -> dict[str, Any]:
        public = RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        return {**public, "kid": self.kid, "alg": "RS256", "use": "sig"}


def new_key(kid: str) -> SigningKey:
    return SigningKey(kid, rsa.generate_private_key(public_exponent=65537, key_size=2048))


@dataclass
class Issuer:
    server: LocalHttpServer
    url: str
    keys: list[SigningKey]

    def publish(self, *keys: SigningKey) -> None:
        """Serve the discovery document and a JWKS of these keys, as an OpenID provider does."""
        self.keys = list(keys)
        self.server.route(
            "GET", "/pool/.well-known/openid-configuration", body={"jwks_uri": f"{self.url}/keys"}
        )
        self.server.route("GET", "/pool/keys", body={"keys": [key.jwk() for key in keys]})

    def key_fetches(self) -> int:
        return len(self.server.requests_to("/pool/keys"))

    def token(self, key: SigningKey | None = None, algorithm: str = "RS256", **claims: Any) -> str:
        now = int(time.time())
        payload = {
            "iss": self.url,
            "sub": "user-1",
            "aud": "segflow-cli",
            "iat": now,
            "exp": now + 300,
            CLAIM: "acme",
            **claims,
        }
        payload = {name: value for name, value in payload.items() if value is not None}
        signer = key or self.keys[0]
        return jwt.encode(payload, signer.private, algorithm=algorithm, headers={"kid": signer.kid})


@pytest.fixture(scope="module")
def server() -> Iterator[LocalHttpServer]:
    server = start_http_server()
    yield server
    server.server.shutdown()


@pytest.fixture
def issuer(server: LocalHttpServer) -> Issuer:
    server.requests.clear()
    issuer = Issuer(server, f"{server.url}/pool", [])
    issuer.publish(new_key("k1"))
    return issuer


def verifier(issuer: Issuer) -> JwtVerifier:
    return JwtVerifier(issuer.url, AUDIENCES, CLAIM)


def test_a_valid_token_names_its_tenant_and_subject(issuer: Issuer) -> None:
    caller = verifier(issuer).verify(issuer.token())
    assert (caller.tenant_id, caller.principal) == ("acme", "jwt:user-1")


def test_an_access_token_without_aud_is_accepted_by_its_client_id(issuer: Issuer) -> None:
    """Cognito access tokens carry client_id instead of aud; API Gateway accepts either."""
    token = issuer.token(aud=None, client_id="segflow-console", sub=None)
    assert verifier(issuer).verify(token).principal == "jwt:segflow-console"


def test_an_aud_list_needs_one_accepted_audience(issuer: Issuer) -> None:
    assert verifier(issuer).verify(issuer.token(aud=["other", "segflow-console"])).tenant_id == "acme"


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"exp": int(time.time()) - 10}, "expired"),
        ({"exp": None}, "exp"),
        ({"iss": "https://cognito-idp.eu-west-1.amazonaws.com/other"}, "issuer"),
        ({"aud": "someone-else"}, "aud"),
        ({"aud": None, "client_id": "someone-else"}, "client_id"),
        ({"aud": None}, "client_id"),
        ({"nbf": int(time.time()) + 600}, "not yet valid"),
        ({CLAIM: None}, CLAIM),
        ({CLAIM: "not a tenant!"}, CLAIM),
    ],
)
def test_a_token_failing_a_check_is_refused_and_says_which(
    issuer: Issuer, claims: dict[str, Any], reason: str
) -> None:
    with pytest.raises(InvalidToken, match=reason):
        verifier(issuer).verify(issuer.token(**claims))


def test_a_token_signed_by_another_key_under_a_published_kid_is_refused(issuer: Issuer) -> None:
    forged = issuer.token(key=SigningKey("k1", new_key("k1").private))
    with pytest.raises(InvalidToken, match="Signature verification failed"):
        verifier(issuer).verify(forged)


def test_unsigned_and_symmetric_tokens_are_refused(issuer: Issuer) -> None:
    """alg none, and HS256 'signed' with the public key as the secret (algorithm confusion)."""
    public_pem = issuer.keys[0].jwk()["n"]
    for token in (
        jwt.encode({"iss": issuer.url, CLAIM: "acme"}, None, algorithm="none", headers={"kid": "k1"}),
        jwt.encode(
            {"iss": issuer.url, CLAIM: "acme"}, public_pem * 2, algorithm="HS256", headers={"kid": "k1"}
        ),
    ):
        with pytest.raises(InvalidToken, match="algorithm"):
            verifier(issuer).verify(token)


def test_garbage_and_tokens_without_kid_are_refused(issuer: Issuer) -> None:
    with pytest.raises(InvalidToken, match="not a JWT"):
        verifier(issuer).verify("not.a.token")
    with pytest.raises(InvalidToken, match="kid"):
        verifier(issuer).verify(jwt.encode({"iss": issuer.url}, issuer.keys[0].private, algorithm="RS256"))


def test_keys_are_fetched_once_and_again_for_a_rotated_key(
    issuer: Issuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    checker = verifier(issuer)
    for _ in range(3):
        checker.verify(issuer.token())
    assert issuer.key_fetches() == 1
    rotated = new_key("k2")
    issuer.publish(issuer.keys[0], rotated)
    monkeypatch.setattr(jwt_tokens, "REFETCH_MIN_SECONDS", 0.0)
    assert checker.verify(issuer.token(key=rotated)).tenant_id == "acme"
    assert issuer.key_fetches() == 2


def test_made_up_kids_do_not_make_the_authorizer_hammer_the_issuer(issuer: Issuer) -> None:
    checker = verifier(issuer)
    checker.verify(issuer.token())
    for n in range(5):
        with pytest.raises(InvalidToken, match="no signing key"):
            checker.verify(issuer.token(key=new_key(f"made-up-{n}")))
    assert issuer.key_fetches() == 1  # within REFETCH_MIN_SECONDS of the first fetch


def test_an_unreachable_issuer_is_not_an_invalid_token(issuer: Issuer) -> None:
    token = issuer.token()
    down = JwtVerifier(issuer.url, AUDIENCES, CLAIM, IssuerKeys("http://127.0.0.1:9/pool"))
    with pytest.raises(KeysUnavailable):
        down.verify(token)


# The Lambda handler: API Gateway's REQUEST authorizer answer.


@dataclass
class FakeContext:
    function_name: str = "segflow-test-WebSocketAuthorizer"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = (
        "arn:aws:lambda:eu-west-1:123456789012:function:segflow-test-WebSocketAuthorizer"
    )
    aws_request_id: str = "req-1"


@pytest.fixture
def configured(issuer: Issuer, monkeypatch: pytest.MonkeyPatch) -> Issuer:
    monkeypatch.setenv(jwt_tokens.JWT_ISSUER_ENV, issuer.url)
    monkeypatch.setenv(jwt_tokens.JWT_AUDIENCE_ENV, ",".join(AUDIENCES))
    monkeypatch.setenv(jwt_tokens.TENANT_CLAIM_ENV, CLAIM)
    monkeypatch.setattr(websocket_authorizer, "_verifier", None)
    return issuer


def connect_event(token: str | None) -> dict[str, Any]:
    query = {LIVE_WEBSOCKET_API.token_parameter: token} if token is not None else None
    return {"type": "REQUEST", "methodArn": METHOD_ARN, "queryStringParameters": query}


def test_the_handler_allows_a_valid_token_with_the_tenant_in_the_context(configured: Issuer) -> None:
    answer = websocket_authorizer.handler(connect_event(configured.token()), FakeContext())
    [statement] = answer["policyDocument"]["Statement"]
    assert statement == {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": METHOD_ARN}
    assert answer["context"] == {"tenant_id": "acme", "principal": "jwt:user-1"}
    assert answer["principalId"] == "jwt:user-1"


@pytest.mark.parametrize("token", [None, "", "nonsense"])
def test_the_handler_denies_a_missing_or_bad_token(configured: Issuer, token: str | None) -> None:
    answer = websocket_authorizer.handler(connect_event(token), FakeContext())
    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert "context" not in answer


def test_the_handler_denies_everything_when_deployed_without_jwt_settings(
    issuer: Issuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(jwt_tokens.JWT_ISSUER_ENV, raising=False)
    monkeypatch.setattr(websocket_authorizer, "_verifier", None)
    answer = websocket_authorizer.handler(connect_event(issuer.token()), FakeContext())
    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Deny"


def test_the_handler_fails_rather_than_denies_when_keys_cannot_be_fetched(
    configured: Issuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = configured.token()
    monkeypatch.setenv(jwt_tokens.JWT_ISSUER_ENV, "http://127.0.0.1:9/pool")
    with pytest.raises(KeysUnavailable):
        websocket_authorizer.handler(connect_event(token), FakeContext())
