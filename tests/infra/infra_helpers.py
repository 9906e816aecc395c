"""Reading CloudFormation intrinsics and IAM statements in the infra tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from segflow.declaration import Substitution


def ref(logical_id: str) -> str:
    """How ``render`` shows ``{"Ref": logical_id}``."""
    return "${" + logical_id + "}"


def arn(logical_id: str) -> str:
    """How ``render`` shows ``{"Fn::GetAtt": [logical_id, "Arn"]}``."""
    return ref(f"{logical_id}.Arn")


def render(value: Any) -> str:
    """A readable string for a template value: ``${X.Arn}``, ``${X}``, joins concatenated."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Ref" in value:
        return ref(value["Ref"])
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return ref(".".join(value["Fn::GetAtt"]))
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(render(part) for part in parts)
    raise AssertionError(f"unexpected template value {value!r}")


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def role_statements(resources: dict[str, Any], role_logical_id: str) -> list[dict[str, Any]]:
    """Every statement of every AWS::IAM::Policy attached to the role."""
    statements: list[dict[str, Any]] = []
    for resource in resources.values():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        roles = [render(role) for role in resource["Properties"].get("Roles", [])]
        if ref(role_logical_id) in roles:
            statements.extend(resource["Properties"]["PolicyDocument"]["Statement"])
    return statements


def denials(statements: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """(action, resource) pairs of Deny statements; ``NotAction`` shows as ``not <action>``."""
    pairs: set[tuple[str, str]] = set()
    for statement in statements:
        assert statement["Effect"] == "Deny" and "Condition" not in statement
        actions = [f"not {a}" for a in as_list(statement["NotAction"])] if "NotAction" in statement else None
        for action in actions or as_list(statement["Action"]):
            for resource in as_list(statement["Resource"]):
                pairs.add((action, render(resource)))
    return pairs


def by_effect(statements: list[dict[str, Any]], effect: str) -> list[dict[str, Any]]:
    return [statement for statement in statements if statement["Effect"] == effect]


def grants(statements: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """(action, resource) pairs allowed by the statements; a statement's condition follows its resources'
    ARN as `` if <operator> <key> in [<values>]`` (see ``condition_suffix``)."""
    pairs: set[tuple[str, str]] = set()
    for statement in statements:
        assert statement["Effect"] == "Allow"
        assert not {"NotAction", "NotResource"} & set(statement)
        suffix = condition_suffix(
            {
                (operator, key): [render(value) for value in as_list(values)]
                for operator, keys in (statement.get("Condition") or {}).items()
                for key, values in keys.items()
            }
        )
        for action in as_list(statement["Action"]):
            for resource in as_list(statement["Resource"]):
                pairs.add((action, render(resource) + suffix))
    return pairs


def condition_suffix(condition: dict[tuple[str, str], list[str]]) -> str:
    """`` if ArnLike bedrock:InferenceProfileArn in [a, b]`` for {(operator, key): values}; "" for none."""
    parts = [
        f"{op} {key} in [{', '.join(sorted(values))}]" for (op, key), values in sorted(condition.items())
    ]
    return f" if {' and '.join(parts)}" if parts else ""


def role_of(resource: dict[str, Any]) -> str:
    """Logical id of the role a function or state machine runs as."""
    props = resource["Properties"]
    role = props.get("Role", props.get("RoleArn"))
    logical_id, attribute = role["Fn::GetAtt"]
    assert attribute == "Arn"
    return logical_id


def symbolic(substitution: Substitution) -> str:
    """The rendered template value a declared substitution must become."""
    if substitution.kind == "function_arn":
        return arn(substitution.ref)
    return ref(substitution.ref)


def iter_strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from iter_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from iter_strings(item)


STATES_ARN_PREFIX = "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}"


def state_machine_name(resources: dict[str, Any], logical_id: str) -> str:
    return resources[logical_id]["Properties"]["StateMachineName"]


def state_machine_arn(resources: dict[str, Any], logical_id: str) -> str:
    """How ``render`` shows the ARN a function's role and environment build from the fixed name."""
    return f"{STATES_ARN_PREFIX}:stateMachine:{state_machine_name(resources, logical_id)}"


def executions_arn(resources: dict[str, Any], logical_id: str) -> str:
    return f"{STATES_ARN_PREFIX}:execution:{state_machine_name(resources, logical_id)}:*"


def api_functions() -> set[str]:
    """Logical ids of the functions behind a declared HTTP API."""
    from segflow.declaration import HTTP_APIS

    return {api.function for api in HTTP_APIS}


def synth_resources(outdir: Any, context: dict[str, Any], nag: bool = True) -> dict[str, Any]:
    """The template's resources of a synth with extra CDK context (``-c key=value``), into ``outdir``."""
    import json

    from segflow_infra.application import build_app

    app, stack = build_app(outdir=str(outdir), context=context, nag=nag)
    app.synth()
    return json.loads((outdir / f"{stack.stack_name}.template.json").read_text())["Resources"]


def websocket_api_ids() -> set[str]:
    from segflow.declaration import WEBSOCKET_APIS

    return {api.logical_id for api in WEBSOCKET_APIS}


def websocket_api_spec(logical_id: str) -> Any:
    from segflow.declaration import WEBSOCKET_APIS

    return next(api for api in WEBSOCKET_APIS if api.logical_id == logical_id)


def websocket_endpoint(scheme: str, logical_id: str) -> str:
    """How ``render`` shows a WebSocket stage's URL: ``wss://`` (clients) or ``https://`` (@connections)."""
    stage = websocket_api_spec(logical_id).stage
    return f"{scheme}://{ref(logical_id)}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/{stage}"


EXECUTE_API_ARN_PREFIX = "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}"


def connections_arn(logical_id: str) -> str:
    """The @connections resources of the declared stage of a WebSocket API, by any method."""
    return (
        f"{EXECUTE_API_ARN_PREFIX}:{ref(logical_id)}/{websocket_api_spec(logical_id).stage}/*/@connections/*"
    )


def stream_consumer_functions() -> set[str]:
    from segflow.declaration import STREAM_CONSUMERS

    return {consumer.function for consumer in STREAM_CONSUMERS}
