"""The local API Gateway: the management HTTP API of ``segflow local up``, served like an HTTP API would.

API Gateway in front of the ManagementApi function does four things, and so does this gateway:

- route: the request must match one of the routes DECLARED in ``segflow.declaration`` (method and path
  template, ``{param}`` segments, ``{param+}`` greedy); anything else is ``404 {"message":"Not Found"}``
  without invoking the function;
- authorize: here the gateway plays a Lambda authorizer. ``X-Segflow-Tenant`` (default ``default``) and
  ``X-Segflow-Principal`` (default ``local-user``) become ``requestContext.authorizer.lambda``; an invalid
  tenant is ``403 {"message":"Forbidden"}``. Both headers are removed from what the function sees, so the
  handler can only learn the caller from the authorizer, as in the cloud;
- build the payload format 2.0 event and invoke the function through the same local Lambda runtime the
  state machine uses, one invocation at a time: Lambda never runs two invocations in one execution
  environment, and the function relies on it (powertools' resolver keeps the current event in class-level
  state, ``BaseRouter.current_event``, and the matched route in the app's ``context``), so two concurrent
  invocations in this one process would read each other's request, tenant included;
- turn the Lambda proxy result (``statusCode``, ``headers``, ``cookies``, ``body``, ``isBase64Encoded``)
  into the HTTP response; a function error is ``500 {"message":"Internal Server Error"}``.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, unquote

from segflow.contracts import DEFAULT_TENANT
from segflow.declaration import HttpApiSpec, HttpRoute, function_by_id
from segflow.domain.ids import is_tenant_id
from segflow.domain.limits import HTTP_API_MAX_REQUEST_BYTES

from segflow_local.lambda_invocation import LOCAL_ACCOUNT_ID, InvokeResult, local_function_name

API_PREFIX = "/_segflow/api"
TENANT_HEADER = "x-segflow-tenant"
PRINCIPAL_HEADER = "x-segflow-principal"
DEFAULT_PRINCIPAL = "local-user"
PRINCIPAL_PATTERN = re.compile(r"[\x21-\x7e][\x20-\x7e]{0,255}")  # printable ASCII, 1-256 characters
LOCAL_API_ID = "segflowlocal"
DEFAULT_STAGE = "$default"
MAX_REQUEST_BYTES = HTTP_API_MAX_REQUEST_BYTES
_TEXT_TYPES = ("json", "xml", "javascript", "x-www-form-urlencoded", "yaml", "graphql")
_PARAM = re.compile(r"^\{(?P<name>[A-Za-z0-9_.-]+)(?P<greedy>\+)?\}$")

StartResponse = Callable[..., Any]
Invoke = Callable[[str, bytes], InvokeResult]


# --- routes ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    literal: str | None  # None: a parameter
    name: str | None = None
    greedy: bool = False


@dataclass(frozen=True)
class CompiledRoute:
    route: HttpRoute
    segments: tuple[Segment, ...]

    @property
    def route_key(self) -> str:
        return f"{self.route.method} {self.route.path}"

    def specificity(self) -> tuple[int, ...]:
        """Lower is more specific: API Gateway prefers literal segments over parameters, greedy last."""
        return tuple(0 if s.literal is not None else 2 if s.greedy else 1 for s in self.segments)

    def match(self, parts: list[str]) -> dict[str, str] | None:
        params: dict[str, str] = {}
        for index, segment in enumerate(self.segments):
            if segment.greedy:
                rest = parts[index:]
                if not rest or not all(rest):
                    return None
                params[segment.name or ""] = unquote("/".join(rest))
                return params
            if index >= len(parts):
                return None
            part = parts[index]
            if segment.literal is not None:
                if part != segment.literal:
                    return None
            elif not part:
                return None
            else:
                params[segment.name or ""] = unquote(part)
        return params if len(parts) == len(self.segments) else None


def compile_route(route: HttpRoute) -> CompiledRoute:
    if not route.path.startswith("/"):
        raise ValueError(f"route path {route.path!r} must start with /")
    segments = []
    raw = route.path[1:].split("/") if route.path != "/" else []
    for index, text in enumerate(raw):
        param = _PARAM.match(text)
        if param is None:
            if "{" in text or "}" in text:
                raise ValueError(f"route {route.path!r}: a parameter must be a whole segment")
            segments.append(Segment(literal=text))
            continue
        greedy = bool(param.group("greedy"))
        if greedy and index != len(raw) - 1:
            raise ValueError(f"route {route.path!r}: a greedy parameter must be the last segment")
        segments.append(Segment(literal=None, name=param.group("name"), greedy=greedy))
    return CompiledRoute(route, tuple(segments))


@dataclass(frozen=True)
class RouteMatch:
    route_key: str
    path_parameters: dict[str, str]
    public: bool = False


class RouteTable:
    """The declared routes; a request matches the most specific one with its method."""

    def __init__(self, routes: Iterable[HttpRoute]) -> None:
        self.routes = [compile_route(route) for route in routes]

    def match(self, method: str, raw_path: str) -> RouteMatch | None:
        parts = raw_path[1:].split("/") if raw_path not in ("", "/") else []
        candidates = []
        for compiled in self.routes:
            if compiled.route.method != method.upper():
                continue
            params = compiled.match(parts)
            if params is not None:
                candidates.append((compiled.specificity(), compiled, params))
        if not candidates:
            return None
        _, best, params = min(candidates, key=lambda candidate: candidate[0])
        return RouteMatch(best.route_key, params, best.route.public)


# --- the authorizer ----------------------------------------------------------------------------------------


def local_authorizer(headers: Mapping[str, str]) -> dict[str, Any] | None:
    """The Lambda-authorizer context for these (lower-cased) headers; None means 403. The tenant header is
    taken as sent: anything but a whole tenant id (surrounding whitespace, a trailing newline) is refused."""
    tenant = headers.get(TENANT_HEADER) or DEFAULT_TENANT
    principal = headers.get(PRINCIPAL_HEADER, "").strip() or DEFAULT_PRINCIPAL
    if not is_tenant_id(tenant) or not PRINCIPAL_PATTERN.fullmatch(principal):
        return None
    return {"lambda": {"tenant_id": tenant, "principal": principal}}


# --- events and results ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HttpRequest:
    """One request as the gateway received it; ``raw_path`` is without the gateway's prefix."""

    method: str
    raw_path: str
    raw_query: str
    headers: dict[str, str]  # lower-cased names, repeated headers joined with ","
    body: bytes
    source_ip: str = "127.0.0.1"
    protocol: str = "HTTP/1.1"
    domain: str = "localhost"


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def _is_text(content_type: str, body: bytes) -> bool:
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind and not (kind.startswith("text/") or any(marker in kind for marker in _TEXT_TYPES)):
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def build_event(
    request: HttpRequest, match: RouteMatch, authorizer: dict[str, Any] | None, request_id: str, now: float
) -> dict[str, Any]:
    """The API Gateway HTTP API payload format 2.0 event of ``request``."""
    headers = {
        name: value
        for name, value in request.headers.items()
        if name not in (TENANT_HEADER, PRINCIPAL_HEADER, "cookie")
    }
    headers.setdefault("x-forwarded-for", request.source_ip)
    headers.setdefault("x-forwarded-proto", "http")
    headers.setdefault("host", request.domain)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": match.route_key,
        "rawPath": request.raw_path,
        "rawQueryString": request.raw_query,
        "headers": headers,
    }
    cookie = request.headers.get("cookie")
    if cookie:
        event["cookies"] = [part.strip() for part in cookie.split(";") if part.strip()]
    query: dict[str, str] = {}
    for name, value in parse_qsl(request.raw_query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    if query:
        event["queryStringParameters"] = query
    if match.path_parameters:
        event["pathParameters"] = dict(match.path_parameters)
    moment = datetime.fromtimestamp(now, UTC)
    event["requestContext"] = {
        "accountId": LOCAL_ACCOUNT_ID,
        "apiId": LOCAL_API_ID,
        **({"authorizer": authorizer} if authorizer is not None else {}),
        "domainName": request.domain,
        "domainPrefix": request.domain.split(".", 1)[0],
        "http": {
            "method": request.method.upper(),
            "path": request.raw_path,
            "protocol": request.protocol,
            "sourceIp": request.source_ip,
            "userAgent": request.headers.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": match.route_key,
        "stage": DEFAULT_STAGE,
        "time": moment.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(now * 1000),
    }
    if request.body:
        if _is_text(request.headers.get("content-type", ""), request.body):
            event["body"] = request.body.decode("utf-8")
            event["isBase64Encoded"] = False
        else:
            event["body"] = base64.b64encode(request.body).decode("ascii")
            event["isBase64Encoded"] = True
    else:
        event["isBase64Encoded"] = False
    return event


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def gateway_error(status: int, message: str | None = None) -> HttpResponse:
    """An answer of API Gateway itself (not of the function): ``{"message": ...}``."""
    body = json.dumps({"message": message or _phrase(status)}, separators=(",", ":")).encode()
    return HttpResponse(status, [("Content-Type", "application/json")], body)


def proxy_response(result: InvokeResult) -> HttpResponse:
    """The HTTP response for the function's result, read the way API Gateway reads payload format 2.0."""
    if result.status != 200 or result.function_error:
        return gateway_error(500, "Internal Server Error")
    try:
        value = json.loads(result.payload) if result.payload else None
    except ValueError:
        return gateway_error(500, "Internal Server Error")
    if not isinstance(value, dict) or "statusCode" not in value:
        # Format 2.0 without a statusCode: the whole result is the JSON body of a 200.
        return HttpResponse(200, [("Content-Type", "application/json")], json.dumps(value).encode())
    try:
        status = int(value["statusCode"])
    except (TypeError, ValueError):
        return gateway_error(500, "Internal Server Error")
    if not 100 <= status <= 599:
        return gateway_error(500, "Internal Server Error")
    headers: list[tuple[str, str]] = []
    for name, header_value in (value.get("headers") or {}).items():
        values = header_value if isinstance(header_value, list) else [header_value]
        headers.append((str(name), ",".join(str(v) for v in values)))
    for name, many in (value.get("multiValueHeaders") or {}).items():
        headers.extend((str(name), str(v)) for v in many or [])
    headers.extend(("Set-Cookie", str(cookie)) for cookie in value.get("cookies") or [])
    body = value.get("body")
    if body is None:
        data = b""
    elif not isinstance(body, str):
        data = json.dumps(body).encode()
    elif value.get("isBase64Encoded"):
        try:
            data = base64.b64decode(body)
        except ValueError:
            return gateway_error(500, "Internal Server Error")
    else:
        data = body.encode("utf-8")
    if data and not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", "application/json"))
    return HttpResponse(status, headers, data)


# --- the gateway -------------------------------------------------------------------------------------------


def _request_from_environ(environ: dict[str, Any], prefix: str) -> HttpRequest | HttpResponse:
    headers: dict[str, str] = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            name = key[5:].replace("_", "-").lower()
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            name = key.replace("_", "-").lower()
        else:
            continue
        if value != "":
            headers[name] = str(value).encode("latin-1").decode("utf-8", errors="replace")
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_REQUEST_BYTES:
        return gateway_error(413, "Request Entity Too Large")
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    # The path as sent (percent-encoding kept), like rawPath; PATH_INFO is already decoded.
    raw_uri = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw_uri and raw_uri.startswith("/"):
        raw_path = raw_uri.split("?", 1)[0]
    else:
        raw_path = environ.get("PATH_INFO", "")
    raw_path = raw_path[len(prefix) :] if raw_path.startswith(prefix) else raw_path
    host = headers.get("host") or environ.get("SERVER_NAME", "localhost")
    return HttpRequest(
        method=environ.get("REQUEST_METHOD", "GET").upper(),
        raw_path=raw_path or "/",
        raw_query=environ.get("QUERY_STRING", ""),
        headers=headers,
        body=body,
        source_ip=environ.get("REMOTE_ADDR") or "127.0.0.1",
        protocol=environ.get("SERVER_PROTOCOL") or "HTTP/1.1",
        domain=host.split(":", 1)[0],
    )


class LocalHttpApi:
    """One declared HTTP API, served under ``prefix``; requests go to its function through ``invoke``."""

    def __init__(self, spec: HttpApiSpec, stage: str, invoke: Invoke, prefix: str = API_PREFIX) -> None:
        self.spec = spec
        self.prefix = prefix.rstrip("/")
        self.function_name = local_function_name(stage, function_by_id(spec.function))
        self.routes = RouteTable(spec.routes)
        self._invoke = invoke
        self._environment = threading.Lock()  # one execution environment: one invocation at a time

    def owns(self, path: str) -> bool:
        return path == self.prefix or path.startswith(self.prefix + "/")

    def handle(self, request: HttpRequest) -> HttpResponse:
        request_id = str(uuid.uuid4())
        match = self.routes.match(request.method, request.raw_path)
        if match is None:
            response = gateway_error(404, "Not Found")
        else:
            # A public route has no authorizer: its function sees no caller, as behind API Gateway.
            authorizer = None if match.public else local_authorizer(request.headers)
            if authorizer is None and not match.public:
                response = gateway_error(403, "Forbidden")
            else:
                event = build_event(request, match, authorizer, request_id, time.time())
                with self._environment:
                    result = self._invoke(self.function_name, json.dumps(event).encode())
                response = proxy_response(result)
        headers = [(name, value) for name, value in response.headers if name.lower() != "content-length"]
        headers.append(("apigw-requestid", request_id))
        return HttpResponse(response.status, headers, response.body)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        request = _request_from_environ(environ, self.prefix)
        response = request if isinstance(request, HttpResponse) else self.handle(request)
        status = f"{response.status} {_phrase(response.status)}".rstrip()
        start_response(status, [*response.headers, ("Content-Length", str(len(response.body)))])
        return [response.body]
