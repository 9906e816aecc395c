"""The local API Gateway of ``segflow local up`` (no server): routing, authorizer, events, proxy results; and
the management API's own route table against the declaration."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest
from segflow import declaration
from segflow.declaration import HttpApiSpec, HttpRoute

from segflow_local.http_api import (
    HttpRequest,
    LocalHttpApi,
    RouteMatch,
    RouteTable,
    build_event,
    compile_route,
    local_authorizer,
    proxy_response,
)
from segflow_local.lambda_invocation import InvokeResult

ROUTES = declaration.MANAGEMENT_HTTP_API.routes


def declared_routes() -> set[tuple[str, str]]:
    return {(route.method, route.path) for route in ROUTES}


def test_the_resolver_implements_exactly_the_declared_routes() -> None:
    from segflow.handlers.management_api import app

    resolver_routes = app._static_routes + app._dynamic_routes  # powertools' route table
    implemented = {(route.method, re.sub(r"<(\w+)>", r"{\1}", route.path)) for route in resolver_routes}
    assert implemented == declared_routes()


# --- routing -----------------------------------------------------------------------------------------------


def test_routes_match_method_and_template() -> None:
    table = RouteTable(ROUTES)
    assert table.match("POST", "/workflows") == RouteMatch("POST /workflows", {})
    assert table.match("GET", "/workflows/orders") == RouteMatch(
        "GET /workflows/{workflow_id}", {"workflow_id": "orders"}
    )
    assert table.match("GET", "/workflows/orders/versions/3") == RouteMatch(
        "GET /workflows/{workflow_id}/versions/{version}", {"workflow_id": "orders", "version": "3"}
    )
    assert table.match("get", "/workflows/a%2Fb/versions") == RouteMatch(
        "GET /workflows/{workflow_id}/versions", {"workflow_id": "a/b"}
    )
    for method, path in [
        ("DELETE", "/workflows"),
        ("POST", "/workflows/orders"),
        ("GET", "/workflows/"),
        ("GET", "/workflows//versions"),
        ("GET", "/workflows/orders/versions/3/more"),
        ("GET", "/"),
        ("GET", ""),
    ]:
        assert table.match(method, path) is None, (method, path)


def test_literal_segments_win_over_parameters_and_greedy_last() -> None:
    table = RouteTable(
        [
            HttpRoute("GET", "/items/{proxy+}"),
            HttpRoute("GET", "/items/{item_id}"),
            HttpRoute("GET", "/items/special"),
        ]
    )
    assert table.match("GET", "/items/special") == RouteMatch("GET /items/special", {})
    assert table.match("GET", "/items/7") == RouteMatch("GET /items/{item_id}", {"item_id": "7"})
    assert table.match("GET", "/items/7/parts/2") == RouteMatch("GET /items/{proxy+}", {"proxy": "7/parts/2"})


def test_malformed_templates_are_refused() -> None:
    with pytest.raises(ValueError, match="whole segment"):
        compile_route(HttpRoute("GET", "/items/x{id}"))
    with pytest.raises(ValueError, match="greedy"):
        compile_route(HttpRoute("GET", "/items/{rest+}/more"))


# --- the authorizer ----------------------------------------------------------------------------------------


def test_the_local_authorizer() -> None:
    assert local_authorizer({}) == {"lambda": {"tenant_id": "default", "principal": "local-user"}}
    headers = {"x-segflow-tenant": "acme", "x-segflow-principal": "ada"}
    assert local_authorizer(headers) == {"lambda": {"tenant_id": "acme", "principal": "ada"}}
    for tenant in ("Acme", "a_b", "-a", "a" * 64):
        assert local_authorizer({"x-segflow-tenant": tenant}) is None
    assert local_authorizer({"x-segflow-principal": "\x07"}) is None


# --- events ------------------------------------------------------------------------------------------------


def request(**overrides: Any) -> HttpRequest:
    fields: dict[str, Any] = {
        "method": "GET",
        "raw_path": "/workflows/orders/diff",
        "raw_query": "from=1&to=2&to=3&flag",
        "headers": {
            "content-type": "application/json",
            "user-agent": "segflow-test",
            "x-segflow-tenant": "acme",
            "x-segflow-principal": "ada",
            "cookie": "a=1; b=2",
            "x-custom": "yes",
        },
        "body": b"",
    }
    return HttpRequest(**{**fields, **overrides})


def test_event_is_payload_format_2() -> None:
    match = RouteMatch("GET /workflows/{workflow_id}/diff", {"workflow_id": "orders"})
    authorizer = {"lambda": {"tenant_id": "acme", "principal": "ada"}}
    event = build_event(request(), match, authorizer, "req-1", 1_700_000_000.5)
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /workflows/{workflow_id}/diff"
    assert event["rawPath"] == "/workflows/orders/diff"
    assert event["rawQueryString"] == "from=1&to=2&to=3&flag"
    assert event["queryStringParameters"] == {"from": "1", "to": "2,3", "flag": ""}
    assert event["pathParameters"] == {"workflow_id": "orders"}
    assert event["cookies"] == ["a=1", "b=2"]
    assert event["isBase64Encoded"] is False
    assert "body" not in event
    # The identity headers are the authorizer's business: the function never sees them.
    assert "x-segflow-tenant" not in event["headers"] and "x-segflow-principal" not in event["headers"]
    assert event["headers"]["x-custom"] == "yes"
    assert "cookie" not in event["headers"]
    context = event["requestContext"]
    assert context["authorizer"] == authorizer
    assert context["http"] == {
        "method": "GET",
        "path": "/workflows/orders/diff",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "segflow-test",
    }
    assert (context["requestId"], context["routeKey"], context["stage"]) == (
        "req-1",
        event["routeKey"],
        "$default",
    )
    assert context["timeEpoch"] == 1_700_000_000_500

    # The function's own view of it: powertools parses it as API Gateway's event.
    from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

    parsed = APIGatewayProxyEventV2(event)
    assert (parsed.path, parsed.http_method, parsed.route_key) == (
        "/workflows/orders/diff",
        "GET",
        event["routeKey"],
    )
    assert parsed.request_context.authorizer.get_lambda == authorizer["lambda"]


def test_bodies_text_or_base64() -> None:
    match = RouteMatch("POST /workflows", {})
    auth = local_authorizer({})
    assert auth is not None
    text = build_event(request(method="POST", body=b'{"a": "\xc3\xa9"}', raw_query=""), match, auth, "r", 0)
    assert (text["body"], text["isBase64Encoded"]) == ('{"a": "é"}', False)
    assert "queryStringParameters" not in text and "pathParameters" not in text
    binary_headers = {"content-type": "application/octet-stream"}
    binary = build_event(
        request(method="POST", body=b"\x00\xff", headers=binary_headers), match, auth, "r", 0
    )
    assert binary["isBase64Encoded"] is True
    assert base64.b64decode(binary["body"]) == b"\x00\xff"


# --- results -----------------------------------------------------------------------------------------------


def result(payload: Any, error: str | None = None) -> InvokeResult:
    return InvokeResult(200, json.dumps(payload).encode(), error)


def test_proxy_results_become_http_responses() -> None:
    response = proxy_response(
        result(
            {
                "statusCode": 201,
                "headers": {"Content-Type": "application/json", "X-Thing": "1"},
                "cookies": ["s=1; Path=/", "t=2"],
                "body": '{"ok": true}',
                "isBase64Encoded": False,
            }
        )
    )
    assert response.status == 201
    assert ("X-Thing", "1") in response.headers
    assert [value for name, value in response.headers if name == "Set-Cookie"] == ["s=1; Path=/", "t=2"]
    assert json.loads(response.body) == {"ok": True}

    encoded = proxy_response(
        result({"statusCode": 200, "body": base64.b64encode(b"\x01\x02").decode(), "isBase64Encoded": True})
    )
    assert encoded.body == b"\x01\x02"
    # Without a statusCode, format 2.0 takes the whole result as a JSON 200.
    bare = proxy_response(result({"hello": "world"}))
    assert (bare.status, json.loads(bare.body)) == (200, {"hello": "world"})
    assert ("Content-Type", "application/json") in bare.headers


@pytest.mark.parametrize(
    "invoke_result",
    [
        InvokeResult(200, b'{"errorType": "Boom", "errorMessage": "x"}', "Unhandled"),
        InvokeResult(404, b"{}", "ResourceNotFoundException"),
        InvokeResult(200, b"not json"),
        InvokeResult(200, b'{"statusCode": "two hundred"}'),
        InvokeResult(200, b'{"statusCode": 700}'),
    ],
)
def test_function_failures_are_500(invoke_result: InvokeResult) -> None:
    response = proxy_response(invoke_result)
    assert (response.status, json.loads(response.body)) == (500, {"message": "Internal Server Error"})


# --- the gateway -------------------------------------------------------------------------------------------


class RecordingFunction:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, name: str, payload: bytes) -> InvokeResult:
        self.calls.append((name, json.loads(payload)))
        return result({"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": "{}"})


def test_the_gateway_invokes_the_declared_function_only_for_authorized_routes() -> None:
    function = RecordingFunction()
    gateway = LocalHttpApi(declaration.MANAGEMENT_HTTP_API, "unit", function)
    assert gateway.owns("/_segflow/api") and gateway.owns("/_segflow/api/workflows")
    assert not gateway.owns("/_segflow/apix")

    assert gateway.handle(request(raw_path="/nope")).status == 404
    assert gateway.handle(request(headers={"x-segflow-tenant": "BAD"})).status == 403
    assert function.calls == []

    answered = gateway.handle(request())
    assert answered.status == 200
    assert any(name == "apigw-requestid" for name, _ in answered.headers)
    [(name, event)] = function.calls
    assert name == "segflow-unit-ManagementApi"
    assert event["requestContext"]["authorizer"] == {"lambda": {"tenant_id": "acme", "principal": "ada"}}


def test_every_declared_http_api_function_is_declared() -> None:
    for spec in declaration.HTTP_APIS:
        assert isinstance(spec, HttpApiSpec)
        declaration.function_by_id(spec.function)
        RouteTable(spec.routes)  # every template compiles


def test_one_invocation_at_a_time() -> None:
    """Like one Lambda execution environment: the resolver's state is per process, so never two at once."""
    import threading
    import time

    running, overlaps, lock = [0], [0], threading.Lock()

    def slow_function(name: str, payload: bytes) -> InvokeResult:
        with lock:
            running[0] += 1
            overlaps[0] = max(overlaps[0], running[0])
        time.sleep(0.01)
        with lock:
            running[0] -= 1
        return result({"statusCode": 204})

    gateway = LocalHttpApi(declaration.MANAGEMENT_HTTP_API, "unit", slow_function)
    threads = [threading.Thread(target=gateway.handle, args=(request(),)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlaps[0] == 1
