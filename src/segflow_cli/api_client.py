"""The management HTTP API, from the command line.

Where the API is comes from the deployment's outputs (``ManagementApiUrl``: the stack's output on AWS, the
local endpoint's ``/_segflow/outputs`` with ``--endpoint``). How a request proves who sends it depends on
where it goes:

- a local endpoint: ``X-Segflow-Tenant`` (``--tenant``) and, when ``$SEGFLOW_PRINCIPAL`` is set,
  ``X-Segflow-Principal``, which its gateway turns into the authorizer context;
- AWS with ``$SEGFLOW_TOKEN`` set: ``Authorization: Bearer <token>`` (the stack's JWT authorizer);
- AWS otherwise: SigV4 for ``execute-api``, signed with the boto3 session's credentials (IAM authorizer).
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote, urlencode, urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from segflow_cli.common import EXIT_FAILED, EXIT_INVALID
from segflow_cli.locate import LocatedStack, LocateError, region_of

TOKEN_ENV = "SEGFLOW_TOKEN"
PRINCIPAL_ENV = "SEGFLOW_PRINCIPAL"
TENANT_HEADER = "X-Segflow-Tenant"
PRINCIPAL_HEADER = "X-Segflow-Principal"
TIMEOUT_SECONDS = 35.0  # API Gateway gives up on the integration after 30 s
_EXECUTE_API_HOST = re.compile(r"\.execute-api\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?$")


class ApiError(Exception):
    """The API answered with an error: ``{code, message, details}`` from segflow, ``{message}`` from API
    Gateway itself (no route, not authorized)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list[dict[str, Any]] | None = None,
        from_gateway: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []
        self.from_gateway = from_gateway  # API Gateway's own answer (no such route, not authorized)

    def lines(self) -> list[str]:
        """The details, each naming where the problem is, or the message when there are none."""
        lines = []
        for detail in self.details:
            location, message = detail.get("location"), detail.get("message")
            if message:
                lines.append(f"{location}: {message}" if location else str(message))
        return lines or [self.message]

    @property
    def exit_code(self) -> int:
        """2 for a request the API found invalid (400, 422), 1 otherwise (unknown, a conflict, refused)."""
        return EXIT_INVALID if self.status in (400, 422) else EXIT_FAILED


class Authenticator(Protocol):
    def headers(
        self, method: str, url: str, body: bytes | None, headers: dict[str, str]
    ) -> dict[str, str]: ...


@dataclass(frozen=True)
class LocalIdentity:
    """A local endpoint's gateway takes the tenant (and the caller) from headers."""

    tenant_id: str
    principal: str | None = None

    def headers(self, method: str, url: str, body: bytes | None, headers: dict[str, str]) -> dict[str, str]:
        extra = {TENANT_HEADER: self.tenant_id}
        if self.principal:
            extra[PRINCIPAL_HEADER] = self.principal
        return {**headers, **extra}


@dataclass(frozen=True)
class BearerToken:
    token: str

    def headers(self, method: str, url: str, body: bytes | None, headers: dict[str, str]) -> dict[str, str]:
        return {**headers, "Authorization": f"Bearer {self.token}"}


class SigV4Signer:
    """Signs each request for ``execute-api`` with the session's current credentials."""

    def __init__(self, session: Any, region: str) -> None:
        self.session = session
        self.region = region

    def headers(self, method: str, url: str, body: bytes | None, headers: dict[str, str]) -> dict[str, str]:
        credentials = self.session.get_credentials()
        if credentials is None:
            raise LocateError(
                "no AWS credentials found to sign the request; configure them, or set SEGFLOW_TOKEN"
            )
        request = AWSRequest(method=method, url=url, data=body or b"", headers=dict(headers))
        SigV4Auth(credentials.get_frozen_credentials(), "execute-api", self.region).add_auth(request)
        return dict(request.headers.items())


def api_region(url: str, fallback: str | None) -> str:
    match = _EXECUTE_API_HOST.search(urlsplit(url).hostname or "")
    if match:
        return match.group("region")
    if not fallback:
        raise LocateError(f"cannot tell the region of {url}; set AWS_REGION")
    return fallback


class ManagementApi:
    def __init__(self, base_url: str, auth: Authenticator, timeout_seconds: float = TIMEOUT_SECONDS) -> None:
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.timeout_seconds = timeout_seconds

    def call(self, method: str, path: str, body: Any = None, query: dict[str, Any] | None = None) -> Any:
        """The JSON answer; raises :class:`ApiError` for an error answer, LocateError when unreachable."""
        url = self.base_url + path
        given = {key: value for key, value in (query or {}).items() if value is not None}
        if given:
            url += "?" + urlencode(given)
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        headers = self.auth.headers(method, url, data, headers)
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:
                raw = response.read()
        except urllib.error.HTTPError as error:
            raise _api_error(error.code, error.read()) from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise LocateError(f"cannot reach the management API at {self.base_url} ({reason})") from error
        try:
            return json.loads(raw) if raw else None
        except ValueError as error:
            raise ApiError(502, "BadResponse", f"{method} {path}: the API answered with non-JSON") from error

    def _object(
        self, method: str, path: str, body: Any = None, query: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """A call whose answer is a JSON object (every route's but the error ones)."""
        answer = self.call(method, path, body, query)
        if not isinstance(answer, dict):
            raise ApiError(502, "BadResponse", f"{method} {path}: the API answered with no JSON object")
        return answer

    # --- workflows --------------------------------------------------------------------------------------

    def publish(
        self,
        definition: Any,
        message: str = "",
        activate: bool = True,
        expected_active_version: int | None = None,
    ) -> dict[str, Any]:
        body = {"definition": definition, "message": message, "activate": activate}
        if expected_active_version is not None:
            body["expected_active_version"] = expected_active_version
        return self._object("POST", "/workflows", body)

    def workflows(self) -> list[dict[str, Any]]:
        workflows: list[dict[str, Any]] = self._object("GET", "/workflows")["workflows"]
        return workflows

    def workflow(self, workflow_id: str) -> dict[str, Any]:
        return self._object("GET", f"/workflows/{_segment(workflow_id)}")

    def versions(self, workflow_id: str) -> dict[str, Any]:
        return self._object("GET", f"/workflows/{_segment(workflow_id)}/versions")

    def version(self, workflow_id: str, version: int) -> dict[str, Any]:
        return self._object("GET", f"/workflows/{_segment(workflow_id)}/versions/{version}")

    def diff(self, workflow_id: str, from_version: int, to_version: int | None = None) -> dict[str, Any]:
        query = {"from": from_version, "to": to_version}
        return self._object("GET", f"/workflows/{_segment(workflow_id)}/diff", query=query)

    def activate(
        self, workflow_id: str, version: int, reason: str = "", expected_active_version: int | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"version": version, "reason": reason}
        if expected_active_version is not None:
            body["expected_active_version"] = expected_active_version
        return self._object("POST", f"/workflows/{_segment(workflow_id)}/activate", body)

    def rollback(
        self,
        workflow_id: str,
        to_version: int | None = None,
        reason: str = "",
        expected_active_version: int | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"reason": reason}
        if to_version is not None:
            body["to_version"] = to_version
        if expected_active_version is not None:
            body["expected_active_version"] = expected_active_version
        return self._object("POST", f"/workflows/{_segment(workflow_id)}/rollback", body)

    # --- executions -------------------------------------------------------------------------------------

    def start_execution(
        self,
        workflow_id: str,
        version: int | None = None,
        execution_input: dict[str, Any] | None = None,
        name: str | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"workflow_id": workflow_id, "input": execution_input or {}}
        if version is not None:
            body["version"] = version
        if name is not None:
            body["name"] = name
        return self._object("POST", "/executions", body)

    def list_executions(
        self,
        workflow_id: str | None = None,
        status: str | None = None,
        limit: int | None = None,
        next_token: str | None = None,
    ) -> dict[str, Any]:
        """A page of the caller's executions, newest first: ``executions`` and ``next_token``."""
        query = {"workflow_id": workflow_id, "status": status, "limit": limit, "next_token": next_token}
        return self._object("GET", "/executions", query=query)

    def execution(self, execution_id: str) -> dict[str, Any]:
        return self._object("GET", f"/executions/{_segment(execution_id)}")

    def events(self, execution_id: str, after: int = 0, limit: int | None = None) -> dict[str, Any]:
        """A page of the execution log after ``after``: ``events`` and ``next_after`` (None: the end)."""
        query = {"after": after, "limit": limit}
        return self._object("GET", f"/executions/{_segment(execution_id)}/events", query=query)

    def checkpoints(self, execution_id: str) -> dict[str, Any]:
        return self._object("GET", f"/executions/{_segment(execution_id)}/checkpoints")

    def node(self, execution_id: str, node_id: str) -> dict[str, Any]:
        return self._object("GET", f"/executions/{_segment(execution_id)}/nodes/{_segment(node_id)}")

    def execution_output(self, execution_id: str) -> dict[str, Any]:
        return self._object("GET", f"/executions/{_segment(execution_id)}/output")

    def execution_workflow(self, execution_id: str) -> dict[str, Any]:
        return self._object("GET", f"/executions/{_segment(execution_id)}/workflow")

    def resume(
        self, execution_id: str, from_node: str | None = None, name: str | None = None
    ) -> dict[str, Any]:
        body = {key: value for key, value in (("from_node", from_node), ("name", name)) if value is not None}
        return self._object("POST", f"/executions/{_segment(execution_id)}/resume", body)

    def stop(self, execution_id: str, cause: str | None = None) -> dict[str, Any]:
        body = {"cause": cause} if cause else {}
        return self._object("POST", f"/executions/{_segment(execution_id)}/stop", body)

    def decide(
        self, execution_id: str, node_id: str, decision: str, comment: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"decision": decision}
        if comment:
            body["comment"] = comment
        return self._object(
            "POST", f"/executions/{_segment(execution_id)}/approvals/{_segment(node_id)}", body
        )


def _segment(value: str) -> str:
    return quote(value, safe="")


def _api_error(status: int, raw: bytes) -> ApiError:
    try:
        body = json.loads(raw) if raw else {}
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    message = str(body.get("message") or raw.decode(errors="replace").strip() or f"HTTP {status}")
    code = str(body.get("code") or _GATEWAY_CODES.get(status, f"Http{status}"))
    if "code" not in body and status in (401, 403):
        message = f"{message}: the API did not accept this caller (credentials, token or tenant)"
    details = body.get("details") if isinstance(body.get("details"), list) else []
    return ApiError(status, code, message, details, from_gateway="code" not in body)


_GATEWAY_CODES = {
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    413: "RequestTooLarge",
    429: "TooManyRequests",
    500: "InternalServerError",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}


def api_for(stack: LocatedStack, tenant_id: str) -> ManagementApi:
    """The management API of ``deployment``, with the way of signing requests that it expects."""
    url = stack.resources.management_api_url
    if not url:
        where = stack.endpoint or "the stack"
        raise LocateError(f"{where} has no management API output (ManagementApiUrl); update the deployment")
    if stack.endpoint:
        return ManagementApi(url, LocalIdentity(tenant_id, os.environ.get(PRINCIPAL_ENV) or None))
    token = os.environ.get(TOKEN_ENV)
    if token:
        return ManagementApi(url, BearerToken(token))
    session = stack.session
    region = api_region(url, region_of(stack.resources.state_machine_arn))
    return ManagementApi(url, SigV4Signer(session, region))
