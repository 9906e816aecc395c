"""What a synthesized template deploys, in declaration terms, for comparison with the local deployer.

Plain Python over the template JSON: no aws_cdk import, so it is cheap to use from any test. Declared
resources carry their declaration logical id in the template (see ``cdk_util.pin_logical_id``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from segflow.declaration import Substitution

LAMBDA_FUNCTION = "AWS::Lambda::Function"
DYNAMODB_TABLE = "AWS::DynamoDB::Table"
S3_BUCKET = "AWS::S3::Bucket"
STATE_MACHINE = "AWS::StepFunctions::StateMachine"
HTTP_API = "AWS::ApiGatewayV2::Api"  # HTTP and WebSocket APIs alike; ProtocolType tells them apart
HTTP_ROUTE = "AWS::ApiGatewayV2::Route"
HTTP_INTEGRATION = "AWS::ApiGatewayV2::Integration"


@dataclass(frozen=True)
class FunctionSummary:
    handler: str
    env_var_names: frozenset[str]


@dataclass(frozen=True)
class IndexSummary:
    partition_key: str
    sort_key: str | None


@dataclass(frozen=True)
class TableSummary:
    partition_key: str
    sort_key: str | None
    ttl_attribute: str | None
    global_indexes: dict[str, IndexSummary]
    stream: str | None = None  # the stream's view type (NEW_IMAGE), None without a stream


@dataclass(frozen=True)
class HttpApiSummary:
    routes: frozenset[tuple[str, str]]  # (method, path)
    functions: frozenset[str]  # logical ids of the functions its routes invoke
    authorization_types: frozenset[str]  # AWS_IAM, JWT, ... over its routes


@dataclass(frozen=True)
class WebSocketApiSummary:
    routes: frozenset[str]  # route keys: $connect, subscribe, ...
    functions: frozenset[str]  # logical ids of the functions its routes invoke
    route_selection: str


@dataclass(frozen=True)
class TemplateSummary:
    functions: dict[str, FunctionSummary]  # logical id -> handler and environment variable names
    tables: dict[str, TableSummary]  # logical id -> key schema
    substitutions: dict[str, dict[str, Substitution]]  # state machine logical id -> placeholder -> value
    http_apis: dict[str, HttpApiSummary]  # logical id -> routes, their functions and authorization
    websocket_apis: dict[str, WebSocketApiSummary]  # logical id -> route keys and their functions


def load_template(cdk_out: Path, stack_name: str) -> dict[str, Any]:
    return json.loads((cdk_out / f"{stack_name}.template.json").read_text())


def summarize_template(template: dict[str, Any]) -> TemplateSummary:
    resources: dict[str, Any] = template["Resources"]

    def of_type(resource_type: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource.get("Properties", {})
            for logical_id, resource in resources.items()
            if resource["Type"] == resource_type
        }

    return TemplateSummary(
        functions={logical_id: _function(props) for logical_id, props in of_type(LAMBDA_FUNCTION).items()},
        tables={logical_id: _table(props) for logical_id, props in of_type(DYNAMODB_TABLE).items()},
        substitutions={
            logical_id: {
                name: _substitution(value, resources)
                for name, value in props.get("DefinitionSubstitutions", {}).items()
            }
            for logical_id, props in of_type(STATE_MACHINE).items()
        },
        http_apis={
            logical_id: _http_api(logical_id, of_type(HTTP_ROUTE), of_type(HTTP_INTEGRATION))
            for logical_id, props in of_type(HTTP_API).items()
            if props.get("ProtocolType") == "HTTP"
        },
        websocket_apis={
            logical_id: _websocket_api(logical_id, props, of_type(HTTP_ROUTE), of_type(HTTP_INTEGRATION))
            for logical_id, props in of_type(HTTP_API).items()
            if props.get("ProtocolType") == "WEBSOCKET"
        },
    )


def _function(props: dict[str, Any]) -> FunctionSummary:
    variables = props.get("Environment", {}).get("Variables", {})
    return FunctionSummary(handler=props["Handler"], env_var_names=frozenset(variables))


def _keys(key_schema: list[dict[str, str]]) -> tuple[str, str | None]:
    by_type = {key["KeyType"]: key["AttributeName"] for key in key_schema}
    return by_type["HASH"], by_type.get("RANGE")


def _table(props: dict[str, Any]) -> TableSummary:
    partition_key, sort_key = _keys(props["KeySchema"])
    ttl = props.get("TimeToLiveSpecification", {})
    return TableSummary(
        stream=props.get("StreamSpecification", {}).get("StreamViewType"),
        partition_key=partition_key,
        sort_key=sort_key,
        ttl_attribute=ttl.get("AttributeName") if ttl.get("Enabled") else None,
        global_indexes={
            index["IndexName"]: IndexSummary(*_keys(index["KeySchema"]))
            for index in props.get("GlobalSecondaryIndexes", [])
        },
    )


def _http_api(
    api_id: str, routes: dict[str, dict[str, Any]], integrations: dict[str, dict[str, Any]]
) -> HttpApiSummary:
    """Routes of one API (``{"Ref": api}`` as ApiId), each resolved through its integration to a function."""
    keys: set[tuple[str, str]] = set()
    functions: set[str] = set()
    authorization: set[str] = set()
    for props in routes.values():
        if props["ApiId"] != {"Ref": api_id}:
            continue
        method, path = props["RouteKey"].split(" ", 1)
        keys.add((method, path))
        authorization.add(props.get("AuthorizationType", "NONE"))
        prefix, integration = props["Target"]["Fn::Join"][1]
        uri = integrations[integration["Ref"]]["IntegrationUri"]
        if prefix != "integrations/" or "Fn::GetAtt" not in uri or uri["Fn::GetAtt"][1] != "Arn":
            raise ValueError(f"route {props['RouteKey']} does not target a function of the stack")
        functions.add(uri["Fn::GetAtt"][0])
    return HttpApiSummary(frozenset(keys), frozenset(functions), frozenset(authorization))


def _websocket_api(
    api_id: str,
    api: dict[str, Any],
    routes: dict[str, dict[str, Any]],
    integrations: dict[str, dict[str, Any]],
) -> WebSocketApiSummary:
    """Route keys of one WebSocket API, each resolved through its Lambda proxy integration to a function.

    A WebSocket integration URI is the function's invocation path; it embeds ``{"Fn::GetAtt": [fn, "Arn"]}``.
    """
    keys: set[str] = set()
    functions: set[str] = set()
    for props in routes.values():
        if props["ApiId"] != {"Ref": api_id}:
            continue
        keys.add(props["RouteKey"])
        prefix, integration = props["Target"]["Fn::Join"][1]
        uri = integrations[integration["Ref"]]["IntegrationUri"]
        parts = uri.get("Fn::Join", ["", []])[1] if isinstance(uri, dict) else []
        targets = [part["Fn::GetAtt"][0] for part in parts if isinstance(part, dict) and "Fn::GetAtt" in part]
        if prefix != "integrations/" or len(targets) != 1:
            raise ValueError(f"route {props['RouteKey']} does not target a function of the stack")
        functions.add(targets[0])
    return WebSocketApiSummary(frozenset(keys), frozenset(functions), api.get("RouteSelectionExpression", ""))


def _substitution(value: Any, resources: dict[str, Any]) -> Substitution:
    """``{"Fn::GetAtt": [fn, "Arn"]}`` or ``{"Ref": bucket-or-table}`` back to a declared Substitution."""
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        logical_id, attribute = value["Fn::GetAtt"]
        if attribute == "Arn" and resources[logical_id]["Type"] == LAMBDA_FUNCTION:
            return Substitution("function_arn", logical_id)
    if isinstance(value, dict) and "Ref" in value:
        logical_id = value["Ref"]
        kinds = {S3_BUCKET: "bucket_name", DYNAMODB_TABLE: "table_name"}
        kind = kinds.get(resources.get(logical_id, {}).get("Type", ""))
        if kind is not None:
            return Substitution(kind, logical_id)  # type: ignore[arg-type]
    raise ValueError(f"definition substitution {value!r} is not a function ARN, bucket name or table name")
