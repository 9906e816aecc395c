"""The WebSocket API's REQUEST authorizer on ``$connect`` (``auth=jwt``): the token from the ``token`` query
parameter, verified against the HTTP API's issuer and audiences, allows the connection and names its tenant.

The answer is API Gateway's Lambda-authorizer policy: Allow with the context ``{tenant_id, principal}`` that
the WebSocketApi function reads from ``requestContext.authorizer``, or Deny (403) for a token that is not
valid. Signing keys that cannot be fetched are an error (the connection gets 500 and the function's error
alarm fires), not a Deny: an issuer outage must not look like bad tokens.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from segflow.api.jwt_tokens import InvalidToken, JwtVerifier
from segflow.declaration import LIVE_WEBSOCKET_API

logger = Logger()
_verifier: JwtVerifier | None = None


def verifier() -> JwtVerifier:
    """One per execution environment, so its signing keys are fetched once."""
    global _verifier
    if _verifier is None:
        _verifier = JwtVerifier.from_environment()
    return _verifier


def policy(
    effect: str, resource: str, principal: str, context: dict[str, str] | None = None
) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
        },
    }
    if context is not None:
        answer["context"] = context
    return answer


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    resource = event.get("methodArn", "")
    token = (event.get("queryStringParameters") or {}).get(LIVE_WEBSOCKET_API.token_parameter) or ""
    try:
        caller = verifier().verify(token)
    except (InvalidToken, ValueError) as error:  # ValueError: deployed without auth=jwt settings
        logger.warning("connection denied", extra={"reason": str(error)})
        return policy("Deny", resource, "anonymous")
    logger.info("connection allowed", extra={"tenant_id": caller.tenant_id, "principal": caller.principal})
    return policy(
        "Allow", resource, caller.principal, {"tenant_id": caller.tenant_id, "principal": caller.principal}
    )
