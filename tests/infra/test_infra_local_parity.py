"""The local provisioner and the CDK stack deploy the same functions, tables and ASL substitutions.

Both read lambdas/segflow/declaration.py; this test fails on any difference in what they actually produce.
"""

from __future__ import annotations

import pytest
from segflow import declaration
from segflow.declaration import Substitution

from segflow_local.embedded import EmbeddedAws
from segflow_local.lambda_invocation import local_function_arn
from segflow_local.provisioner import ProvisionedStack, substitution_values

pytestmark = pytest.mark.infra


@pytest.fixture(scope="module")
def stack_summary(synth):
    from segflow_infra.summary import summarize_template

    return summarize_template(synth.template)


def _local_functions(embedded: EmbeddedAws) -> dict[str, tuple[str, frozenset[str]]]:
    stack: ProvisionedStack = embedded.stack
    functions = {}
    for name in embedded.runtime.function_names:
        spec = embedded.runtime._specs[name]
        functions[spec.logical_id] = (spec.handler, frozenset(stack.function_environment(spec)))
    return functions


def _stack_environment(stack_summary, logical_id: str) -> frozenset[str]:
    """The stack's variables, less those that describe API Gateway's authorizer (auth mode, tenant claim):
    locally there is no API Gateway authorizer; the local gateway passes a Lambda-authorizer-style context."""
    from segflow_infra.api_auth import API_AUTH_ENV, TENANT_CLAIM_ENV

    names = stack_summary.functions[logical_id].env_var_names
    if logical_id in {api.function for api in declaration.HTTP_APIS}:
        return names - {API_AUTH_ENV, TENANT_CLAIM_ENV}
    return names


def test_same_functions_handlers_and_environment(embedded: EmbeddedAws, stack_summary) -> None:
    stack = {
        lid: (f.handler, _stack_environment(stack_summary, lid)) for lid, f in stack_summary.functions.items()
    }
    assert _local_functions(embedded) == stack


def test_each_function_sees_its_own_environment_and_the_process_none_of_it(
    embedded: EmbeddedAws, stack_summary
) -> None:
    """Locally, as in Lambda, a function sees the stack's variables for it and nothing of another's."""
    import os

    for spec in declaration.FUNCTIONS:
        _, environment = embedded.runtime.identity(spec)
        assert environment is not None
        stack = _stack_environment(stack_summary, spec.logical_id)
        assert stack <= set(environment), spec.logical_id
        others = {
            name for other in stack_summary.functions for name in _stack_environment(stack_summary, other)
        } - stack
        assert not others & set(environment), spec.logical_id
    assert declaration.EXECUTIONS_TABLE.env_var not in os.environ


def test_http_apis_route_to_declared_functions_the_local_runtime_serves(
    embedded: EmbeddedAws, stack_summary
) -> None:
    local = {embedded.runtime._specs[name].logical_id for name in embedded.runtime.function_names}
    for logical_id, api in stack_summary.http_apis.items():
        assert api.functions <= local, logical_id
    assert set(stack_summary.http_apis) == {api.logical_id for api in declaration.HTTP_APIS}


def test_same_tables(embedded: EmbeddedAws, stack_summary) -> None:
    dynamodb = embedded.client("dynamodb")
    local = {}
    for logical_id, name in embedded.stack.table_names.items():
        table = dynamodb.describe_table(TableName=name)["Table"]
        keys = {k["KeyType"]: k["AttributeName"] for k in table["KeySchema"]}
        ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        indexes = {
            index["IndexName"]: tuple(k["AttributeName"] for k in index["KeySchema"])
            for index in table.get("GlobalSecondaryIndexes", [])
        }
        stream = table.get("StreamSpecification", {})
        local[logical_id] = (
            keys["HASH"],
            keys.get("RANGE"),
            ttl.get("AttributeName") if ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING") else None,
            indexes,
            stream.get("StreamViewType") if stream.get("StreamEnabled") else None,
        )
    stack = {
        logical_id: (
            t.partition_key,
            t.sort_key,
            t.ttl_attribute,
            {
                name: tuple(k for k in (i.partition_key, i.sort_key) if k)
                for name, i in t.global_indexes.items()
            },
            t.stream,
        )
        for logical_id, t in stack_summary.tables.items()
    }
    assert local == stack


def test_same_buckets(embedded: EmbeddedAws, synth) -> None:
    declared = {b.logical_id for b in declaration.BUCKETS}
    assert set(embedded.stack.bucket_names) == declared
    assert declared <= set(synth.of_type("AWS::S3::Bucket"))


def test_same_substitutions(embedded: EmbeddedAws, stack_summary) -> None:
    stack = embedded.stack
    reverse: dict[str, Substitution] = {}
    for logical_id in stack.function_names:
        spec = declaration.function_by_id(logical_id)
        reverse[local_function_arn(stack.stage, spec)] = Substitution("function_arn", logical_id)
    reverse.update({name: Substitution("bucket_name", lid) for lid, name in stack.bucket_names.items()})
    reverse.update({name: Substitution("table_name", lid) for lid, name in stack.table_names.items()})
    local = {
        machine.logical_id: {
            placeholder: reverse[value] for placeholder, value in substitution_values(stack, machine).items()
        }
        for machine in declaration.STATE_MACHINES
    }
    assert local == stack_summary.substitutions
    assert set(stack.state_machine_arns) == set(stack_summary.substitutions)


def test_streamed_tables_have_a_stream_locally(embedded: EmbeddedAws, stack_summary) -> None:
    """What the stream consumers read: the local table has a latest stream, as the stack's table does."""
    dynamodb = embedded.client("dynamodb")
    streamed = {logical_id: t.stream for logical_id, t in stack_summary.tables.items() if t.stream}
    assert streamed == {t.logical_id: t.stream for t in declaration.TABLES if t.stream}
    for logical_id in streamed:
        table = dynamodb.describe_table(TableName=embedded.stack.table_names[logical_id])["Table"]
        assert table["LatestStreamArn"].startswith(f"{table['TableArn']}/stream/"), logical_id
