"""action/lambda_invoke through the real ASL: your function really runs (its zip, in the local runtime)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from segflow.declaration import UserResources
from segflow.domain.ids import execution_id_of

from segflow_cli.client import SegflowClient
from segflow_local.embedded import EmbeddedAws
from tests.conftest import run_to_end
from tests.support.e2e import node_outputs
from tests.support.lambda_functions import create_function as create_user_function
from tests.support.lambda_functions import zip_of
from tests.support.workflows import edge, transform, workflow

pytestmark = pytest.mark.e2e

ECHO = """
def handler(event, context):
    custom = context.client_context.custom if context.client_context else {}
    key = custom.get("segflow_idempotency_key")
    return {"received": event, "key": key, "function": context.function_name}
"""

REJECTS = """
from helpers import check

class OrderRejected(Exception):
    pass

def handler(event, context):
    check(event)
    raise OrderRejected(f"order {event['order_id']} is over the limit")
"""

HELPERS = """
def check(event):
    assert "order_id" in event
"""


def create_function(embedded: EmbeddedAws, name: str, code: bytes, *args: Any, **options: Any) -> Any:
    """Your function, created and named in the deployment (-c invoke_functions=…) so nodes may call it."""
    embedded.stack.grant_user_resources(UserResources(functions=(name,)))
    return create_user_function(embedded.session, name, code, *args, **options)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def invoke_node(function_name: str, payload: Any = None, **config: Any) -> dict[str, Any]:
    node_config = {"function_name": function_name, "payload": payload, **config}
    return {"node_id": "call", "type": "action", "action_type": "lambda_invoke", "config": node_config}


def call_then_report(node: dict[str, Any]) -> dict[str, Any]:
    return workflow(
        "lambda-invoke",
        [transform("prepare", {"order_id": "{{ input.order_id }}"}), node, transform("report", "done")],
        [edge("prepare", "call"), edge("call", "report")],
    )


def test_the_function_runs_with_the_templated_payload_and_its_result_is_the_output(
    client: SegflowClient, embedded: EmbeddedAws
) -> None:
    name = unique("echo")
    create_function(embedded, name, zip_of({"lambda_function.py": ECHO}))
    node = invoke_node(name, {"order": "{{ nodes.prepare.order_id }}", "fixed": [1, 2]})

    arn, description = run_to_end(client, call_then_report(node), {"order_id": "o-1"})

    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert node_outputs(client, arn)["call"] == {
        "received": {"order": "o-1", "fixed": [1, 2]},
        "key": f"default:{execution_id_of(arn)}:call",
        "function": name,
    }


def test_a_qualifier_invokes_that_alias(client: SegflowClient, embedded: EmbeddedAws) -> None:
    name = unique("versioned")
    lambda_ = embedded.client("lambda")
    create_function(embedded, name, zip_of({"app.py": "def run(e, c):\n    return 'v1'\n"}), "app.run")
    version = lambda_.publish_version(FunctionName=name)["Version"]
    lambda_.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    lambda_.update_function_code(
        FunctionName=name, ZipFile=zip_of({"app.py": "def run(e, c):\n    return 'v2'\n"})
    )

    live, _ = run_to_end(client, call_then_report(invoke_node(name, qualifier="live")), {"order_id": "o"})
    latest, _ = run_to_end(client, call_then_report(invoke_node(name)), {"order_id": "o"})

    assert node_outputs(client, live)["call"] == "v1"
    assert node_outputs(client, latest)["call"] == "v2"


def test_a_function_error_fails_the_node_with_the_functions_own_error_type(
    client: SegflowClient, embedded: EmbeddedAws
) -> None:
    name = unique("rejects")
    create_function(embedded, name, zip_of({"lambda_function.py": REJECTS, "helpers.py": HELPERS}))
    node = invoke_node(name, {"order_id": "{{ nodes.prepare.order_id }}"})

    arn, description = run_to_end(client, call_then_report(node), {"order_id": "o-9"})

    assert description["status"] == "FAILED"
    assert "node 'call' failed with OrderRejected" in description["cause"]
    record = client.node_records(arn)["call"]
    assert record.error_type == "OrderRejected"
    assert f"lambda '{name}' raised OrderRejected: order o-9 is over the limit" in record.error_message
    assert "lambda_function.py" in record.error_message, "the innermost frame says where it raised"
    assert "report" not in client.node_records(arn)


def test_the_functions_error_type_can_be_retried_by_name(
    client: SegflowClient, embedded: EmbeddedAws
) -> None:
    name = unique("flaky")
    flaky = "calls = []\nclass Flaky(Exception): pass\ndef handler(e, c):\n    calls.append(1)\n"
    flaky += "    if len(calls) < 2:\n        raise Flaky('first call')\n    return len(calls)\n"
    create_function(embedded, name, zip_of({"lambda_function.py": flaky}))
    node = invoke_node(name, retry={"max_attempts": 3, "backoff_seconds": 0, "retry_on": ["Flaky"]})
    node["retry"] = node["config"].pop("retry")

    arn, description = run_to_end(client, call_then_report(node), {"order_id": "o"})

    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert node_outputs(client, arn)["call"] == 2
    assert client.node_records(arn)["call"].attempt == 2


def test_an_unknown_function_fails_the_node_naming_it(client: SegflowClient, embedded: EmbeddedAws) -> None:
    name = unique("missing")
    embedded.stack.grant_user_resources(UserResources(functions=(name,)))  # named, never created
    arn, description = run_to_end(client, call_then_report(invoke_node(name)), {"order_id": "o"})

    assert description["status"] == "FAILED"
    record = client.node_records(arn)["call"]
    assert record.error_type == "LambdaFunctionNotFound"
    assert f"lambda '{name}' does not exist" in record.error_message


def test_a_handler_the_zip_lacks_fails_with_the_runtimes_error(
    client: SegflowClient, embedded: EmbeddedAws
) -> None:
    name = unique("nohandler")
    create_function(embedded, name, zip_of({"lambda_function.py": "x = 1\n"}))
    arn, description = run_to_end(client, call_then_report(invoke_node(name)), {"order_id": "o"})

    assert description["status"] == "FAILED"
    record = client.node_records(arn)["call"]
    assert record.error_type == "Runtime.HandlerNotFound"
    assert "Handler 'handler' missing on module 'lambda_function'" in record.error_message


def test_a_payload_over_lambdas_limit_fails_before_the_call(
    client: SegflowClient, embedded: EmbeddedAws
) -> None:
    name = unique("big")
    create_function(embedded, name, zip_of({"lambda_function.py": ECHO}))
    node = invoke_node(name, {"blob": "{{ input.blob }}"})
    arn, description = run_to_end(client, call_then_report(node), {"order_id": "o", "blob": "x" * 6_300_000})

    assert description["status"] == "FAILED"
    record = client.node_records(arn)["call"]
    assert record.error_type == "PayloadTooLarge"
    assert "Lambda accepts at most 6,291,456 bytes" in record.error_message


def test_a_bad_config_is_refused_naming_the_field(client: SegflowClient) -> None:
    from segflow.dsl.validation import WorkflowValidationError

    with pytest.raises(
        WorkflowValidationError, match=r"node 'call': config.function_name: .*'no such name!'"
    ):
        client.start(call_then_report(invoke_node("no such name!")), {"order_id": "o"})
    with pytest.raises(WorkflowValidationError, match=r"node 'call': config.function_name: is required"):
        client.start(call_then_report(invoke_node("x") | {"config": {"payload": {}}}), {"order_id": "o"})
    with pytest.raises(WorkflowValidationError, match=r"node 'call': config.qualifier: .*'not valid'"):
        client.start(call_then_report(invoke_node("fn", qualifier="not valid")), {"order_id": "o"})


def test_a_templated_name_that_renders_badly_fails_with_a_config_error(client: SegflowClient) -> None:
    node = invoke_node("{{ nodes.prepare.order_id }}")
    arn, description = run_to_end(client, call_then_report(node), {"order_id": "not/a/name"})

    assert description["status"] == "FAILED"
    record = client.node_records(arn)["call"]
    assert record.error_type == "ConfigError"
    assert "config.function_name" in record.error_message
