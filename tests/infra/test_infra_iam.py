"""Least privilege: each role allows exactly what the declaration grants, and nothing else."""

from __future__ import annotations

import json
from typing import Any

import pytest
from segflow.declaration import (
    ASSUME_NODE_ROLE_ACTIONS,
    BUCKETS,
    FUNCTIONS,
    NODE_ROLE,
    STATE_MACHINES,
    STREAM_CONSUMERS,
    TABLES,
    TENANT_VARIABLE,
    FunctionSpec,
    StateMachineSpec,
)
from segflow_infra.asl import has_distributed_map
from segflow_infra.paths import repo_path

from tests.infra.infra_helpers import (
    arn,
    by_effect,
    condition_suffix,
    connections_arn,
    denials,
    executions_arn,
    grants,
    ref,
    role_of,
    role_statements,
    state_machine_arn,
    stream_consumer_functions,
    synth_resources,
)

pytestmark = pytest.mark.infra

DYNAMODB_READ = {
    "dynamodb:BatchGetItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DescribeTable",
    "dynamodb:GetItem",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:Query",
    "dynamodb:Scan",
}
DYNAMODB_WRITE = {
    "dynamodb:BatchWriteItem",
    "dynamodb:DeleteItem",
    "dynamodb:DescribeTable",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
}
DYNAMODB = {"read": DYNAMODB_READ, "write": DYNAMODB_WRITE, "read_write": DYNAMODB_READ | DYNAMODB_WRITE}
S3 = {
    "read": {"s3:GetObject"},
    "write": {"s3:PutObject", "s3:AbortMultipartUpload"},
    "read_write": {"s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"},
}
STATES = {
    "start": "states:StartExecution",
    "describe": "states:DescribeExecution",
    "stop": "states:StopExecution",
}
INDEXED_TABLES = {table.logical_id for table in TABLES if table.global_indexes}
# Actions AWS defines without resource-level permissions; the only ones allowed on "*".
LAMBDA_TRACING = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
# What a stream event source mapping needs: these on the table's stream, and ListStreams (no resource-level
# permissions: "*").
DYNAMODB_STREAM_READ = {"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"}
DYNAMODB_LIST_STREAMS = "dynamodb:ListStreams"
MANAGE_CONNECTIONS = "execute-api:ManageConnections"
STATE_MACHINE_LOGGING_AND_TRACING = {
    "logs:CreateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:DescribeLogGroups",
    "logs:DescribeResourcePolicies",
    "logs:GetLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:UpdateLogDelivery",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "xray:PutTelemetryRecords",
    "xray:PutTraceSegments",
}


def service_arn(grant: Any, resource: str) -> str:
    """The ARN CloudFormation renders for a declared grant's resource (or a service's, in its account)."""
    service, arn_scope = (grant, "account") if isinstance(grant, str) else (grant.service, grant.arn_scope)
    scope = {
        "account": "${AWS::Region}:${AWS::AccountId}",
        "region": "${AWS::Region}:",
        "any_region": "*:",
        "none": ":",
    }
    return f"arn:${{AWS::Partition}}:{service}:{scope[arn_scope]}:{resource}"


def service_grant_pairs(grant: Any) -> set[tuple[str, str]]:
    """What a declared ServiceGrant allows, as ``grants`` renders it (its condition after the ARN)."""
    suffix = ""
    if grant.condition is not None:
        values = [service_arn(grant.condition.service, r) for r in grant.condition.resources]
        suffix = condition_suffix({("ArnLike", grant.condition.key): values})
    return {
        (action, target if target == "*" else service_arn(grant, target) + suffix)
        for action in grant.actions
        for target in grant.resources
    }


# The session the functions that run nodes start: exactly one tag, the tenant, not empty.
ASSUME_SUFFIX = condition_suffix(
    {
        ("StringLike", f"aws:RequestTag/{NODE_ROLE.session_tag}"): ["?*"],
        ("ForAllValues:StringEquals", "aws:TagKeys"): [NODE_ROLE.session_tag],
    }
)


def node_role_statements(resources: dict[str, Any]) -> list[dict[str, Any]]:
    return role_statements(resources, NODE_ROLE.logical_id)


def _expected_node_role_grants() -> set[tuple[str, str]]:
    """The services nodes call, and the tenant's own effect markers (no user resource is named)."""
    expected: set[tuple[str, str]] = set()
    for grant in NODE_ROLE.services:
        expected |= service_grant_pairs(grant)
    for partition in NODE_ROLE.partitions:
        suffix = condition_suffix(
            {
                ("ForAllValues:StringLike", "dynamodb:LeadingKeys"): [partition.leading_keys()],
                ("ForAllValues:StringEquals", "dynamodb:Attributes"): list(partition.attributes),
            }
        )
        expected |= {(action, arn(partition.table) + suffix) for action in partition.actions}
    return expected


def _expected_function_grants(
    spec: FunctionSpec, log_group: str, resources: dict[str, Any]
) -> set[tuple[str, str]]:
    expected = {(action, "*") for action in LAMBDA_TRACING}
    expected |= {(action, arn(log_group)) for action in ("logs:CreateLogStream", "logs:PutLogEvents")}
    for table in spec.tables:
        # A table with global secondary indexes: the same actions on its indexes (Query on by_tenant).
        targets = [arn(table.table)] + (
            [f"{arn(table.table)}/index/*"] if table.table in INDEXED_TABLES else []
        )
        expected |= {(action, target) for action in DYNAMODB[table.access] for target in targets}
    for bucket in spec.buckets:
        for prefix in bucket.prefixes:
            expected |= {(action, f"{arn(bucket.bucket)}/{prefix}*") for action in S3[bucket.access]}
    for machine in spec.state_machines:
        if "start" in machine.actions:
            expected.add((STATES["start"], state_machine_arn(resources, machine.state_machine)))
        for action in ("describe", "stop"):
            if action in machine.actions:
                expected.add((STATES[action], executions_arn(resources, machine.state_machine)))
    for websocket in spec.websockets:
        expected.add((MANAGE_CONNECTIONS, connections_arn(websocket.api)))
    for service in spec.services:
        expected |= service_grant_pairs(service)
    if spec.logical_id in NODE_ROLE.assumed_by:
        expected |= {
            (action, arn(NODE_ROLE.logical_id) + ASSUME_SUFFIX) for action in ASSUME_NODE_ROLE_ACTIONS
        }
    for consumer in STREAM_CONSUMERS:
        if consumer.function == spec.logical_id:
            expected |= {(action, ref(f"{consumer.table}.StreamArn")) for action in DYNAMODB_STREAM_READ}
            expected.add((DYNAMODB_LIST_STREAMS, "*"))
    return expected


@pytest.mark.parametrize("spec", FUNCTIONS, ids=lambda spec: spec.logical_id)
def test_function_role_allows_exactly_the_declared_access(synth: Any, spec: FunctionSpec) -> None:
    function = synth.resources[spec.logical_id]
    log_group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
    actual = grants(role_statements(synth.resources, role_of(function)))
    assert actual == _expected_function_grants(spec, log_group, synth.resources)


def test_management_api_may_start_describe_and_stop_executions_of_the_workflow_state_machine_only(
    synth: Any,
) -> None:
    from segflow.declaration import MANAGEMENT_API, WORKFLOW_STATE_MACHINE_ID

    actual = grants(role_statements(synth.resources, role_of(synth.resources[MANAGEMENT_API.logical_id])))
    states = {(action, resource) for action, resource in actual if action.startswith("states:")}
    name = synth.resources[WORKFLOW_STATE_MACHINE_ID]["Properties"]["StateMachineName"]
    prefix = "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}"
    assert states == {
        ("states:StartExecution", f"{prefix}:stateMachine:{name}"),
        ("states:DescribeExecution", f"{prefix}:execution:{name}:*"),
        ("states:StopExecution", f"{prefix}:execution:{name}:*"),
        # an approval's decision resumes the waiting task (IAM cannot scope callback tokens)
        ("states:SendTaskSuccess", "*"),
    }


def test_the_node_role_allows_exactly_the_declared_access(synth: Any) -> None:
    statements = node_role_statements(synth.resources)
    assert grants(by_effect(statements, "Allow")) == _expected_node_role_grants()


def test_the_node_role_is_denied_all_of_segflows_storage_but_its_tenants_effect_markers(synth: Any) -> None:
    """Whatever table or bucket a node is told to use, and whatever the deployment names as user resources."""
    denied = denials(by_effect(node_role_statements(synth.resources), "Deny"))
    allowed_actions = {partition.table: partition.actions for partition in NODE_ROLE.partitions}
    expected = set()
    for table in TABLES:
        actions = [f"not {a}" for a in allowed_actions.get(table.logical_id, ())] or ["dynamodb:*"]
        for resource in (arn(table.logical_id), f"{arn(table.logical_id)}/*"):
            expected |= {(action, resource) for action in actions}
    for bucket in BUCKETS:
        expected |= {("s3:*", arn(bucket.logical_id)), ("s3:*", f"{arn(bucket.logical_id)}/*")}
    assert denied == expected


def test_the_node_role_is_assumed_only_by_the_functions_that_run_nodes_and_only_tagged_with_a_tenant(
    synth: Any,
) -> None:
    role = synth.resources[NODE_ROLE.logical_id]["Properties"]
    assert "ManagedPolicyArns" not in role and "Policies" not in role
    assert role["MaxSessionDuration"] == NODE_ROLE.session_seconds
    [statement] = role["AssumeRolePolicyDocument"]["Statement"]
    assumers = statement["Principal"]["AWS"]
    assumers = assumers if isinstance(assumers, list) else [assumers]
    assert {role_of({"Properties": {"Role": principal}}) for principal in assumers} == {
        role_of(synth.resources[logical_id]) for logical_id in NODE_ROLE.assumed_by
    }
    assert sorted(statement["Action"]) == sorted(ASSUME_NODE_ROLE_ACTIONS)
    assert statement["Condition"] == {
        "StringLike": {f"aws:RequestTag/{NODE_ROLE.session_tag}": "?*"},
        "ForAllValues:StringEquals": {"aws:TagKeys": [NODE_ROLE.session_tag]},
    }


def test_secrets_and_parameters_are_readable_only_under_the_sessions_tenant(synth: Any) -> None:
    allowed = grants(by_effect(node_role_statements(synth.resources), "Allow"))
    assert {(a, r) for a, r in allowed if a.startswith(("secretsmanager:", "ssm:"))} == {
        (
            "secretsmanager:GetSecretValue",
            service_arn("secretsmanager", f"secret:segflow/{TENANT_VARIABLE}/*"),
        ),
        ("ssm:GetParameter", service_arn("ssm", f"parameter/segflow/{TENANT_VARIABLE}/*")),
    }


def test_nodes_may_converse_with_models_in_the_region_and_through_the_accounts_profiles(synth: Any) -> None:
    """Converse needs bedrock:InvokeModel (nothing else): on foundation models of the stack's region, on the
    account's cross-region and application inference profiles there, and on foundation models of any region
    (a profile's destinations) only on requests made through one of those profiles."""
    actual = grants(by_effect(node_role_statements(synth.resources), "Allow"))
    bedrock = {(action, resource) for action, resource in actual if action.startswith("bedrock:")}
    here = "arn:${AWS::Partition}:bedrock:${AWS::Region}"
    account = f"{here}:${{AWS::AccountId}}"
    through_profiles = (
        "ArnLike bedrock:InferenceProfileArn in "
        f"[{account}:application-inference-profile/*, {account}:inference-profile/*]"
    )
    assert bedrock == {
        ("bedrock:InvokeModel", f"{here}::foundation-model/*"),
        ("bedrock:InvokeModel", f"{account}:inference-profile/*"),
        ("bedrock:InvokeModel", f"{account}:application-inference-profile/*"),
        (
            "bedrock:InvokeModel",
            f"arn:${{AWS::Partition}}:bedrock:*::foundation-model/* if {through_profiles}",
        ),
    }


def test_only_state_machine_grantees_touch_state_machines(synth: Any) -> None:
    """Besides the declared state machine grants, only completing callback tasks (approvals)."""
    for spec in FUNCTIONS:
        actual = grants(role_statements(synth.resources, role_of(synth.resources[spec.logical_id])))
        callbacks = {a for grant in spec.services if grant.service == "states" for a in grant.actions}
        if not spec.state_machines:
            touched = [a for a, _ in actual if a.startswith("states:") and a not in callbacks]
            assert not touched, spec.logical_id


def test_function_wildcards_are_only_the_acknowledged_kinds(synth: Any) -> None:
    """'*' appears only on X-Ray, in S3 prefixes, on table indexes, on one state machine's executions and on
    the declared service resources (segflow-* SageMaker names, ListModelPackages)."""
    for spec in FUNCTIONS:
        actual = grants(role_statements(synth.resources, role_of(synth.resources[spec.logical_id])))
        for action, resource in actual:
            if "*" not in resource:
                continue
            allowed = (
                (resource == "*" and action in LAMBDA_TRACING)
                or (
                    resource == "*"
                    and action == DYNAMODB_LIST_STREAMS
                    and spec.logical_id in stream_consumer_functions()
                )
                or (
                    action == MANAGE_CONNECTIONS
                    and resource in {connections_arn(grant.api) for grant in spec.websockets}
                )
                or (
                    action.startswith("s3:")
                    and resource.endswith("/*")
                    and ":" not in resource.split("}/")[-1]
                )
                or (action.startswith("dynamodb:") and resource.endswith("/index/*"))
                or any((action, resource) in service_grant_pairs(grant) for grant in spec.services)
                or (action in ASSUME_NODE_ROLE_ACTIONS and resource.startswith(arn(NODE_ROLE.logical_id)))
                or (
                    action in ("states:DescribeExecution", "states:StopExecution")
                    and any(
                        resource == executions_arn(synth.resources, m.state_machine)
                        for m in spec.state_machines
                    )
                )
            )
            assert allowed, (spec.logical_id, action, resource)


def test_only_stream_consumers_read_streams_and_only_their_tables_streams(synth: Any) -> None:
    stream_actions = DYNAMODB_STREAM_READ | {DYNAMODB_LIST_STREAMS}
    for spec in FUNCTIONS:
        actual = grants(role_statements(synth.resources, role_of(synth.resources[spec.logical_id])))
        on_streams = {(action, resource) for action, resource in actual if resource.endswith(".StreamArn}")}
        consumed = {consumer.table for consumer in STREAM_CONSUMERS if consumer.function == spec.logical_id}
        assert on_streams == {
            (action, ref(f"{table}.StreamArn")) for table in consumed for action in DYNAMODB_STREAM_READ
        }, spec.logical_id
        if not consumed:
            assert not {action for action, _ in actual} & (stream_actions - DYNAMODB_READ), spec.logical_id


def test_only_websocket_grantees_manage_connections_and_only_on_the_declared_stage(synth: Any) -> None:
    for spec in FUNCTIONS:
        actual = grants(role_statements(synth.resources, role_of(synth.resources[spec.logical_id])))
        managed = {resource for action, resource in actual if action.startswith("execute-api:")}
        assert managed == {connections_arn(grant.api) for grant in spec.websockets}, spec.logical_id
        assert {action for action, _ in actual if action.startswith("execute-api:")} <= {MANAGE_CONNECTIONS}


def _expected_state_machine_grants(spec: StateMachineSpec, name: str) -> set[tuple[str, str]]:
    expected = {(action, "*") for action in STATE_MACHINE_LOGGING_AND_TRACING}
    for function in spec.invokes:
        expected |= {
            ("lambda:InvokeFunction", arn(function)),
            ("lambda:InvokeFunction", f"{arn(function)}:*"),
        }
    for bucket in spec.reads_items_from:
        assert bucket.access == "read", "a Map ItemReader only reads"
        expected |= {("s3:GetObject", f"{arn(bucket.bucket)}/{prefix}*") for prefix in bucket.prefixes}
    if not has_distributed_map(json.loads(repo_path(spec.definition_file).read_text())):
        return expected
    states = "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}"
    expected.add(("states:StartExecution", f"{states}:stateMachine:{name}"))
    for action in ("states:DescribeExecution", "states:StopExecution", "states:RedriveExecution"):
        expected.add((action, f"{states}:execution:{name}/*"))
    return expected


@pytest.mark.parametrize("spec", STATE_MACHINES, ids=lambda spec: spec.logical_id)
def test_state_machine_role_allows_exactly_the_declared_access(synth: Any, spec: StateMachineSpec) -> None:
    state_machine = synth.resources[spec.logical_id]
    name = state_machine["Properties"]["StateMachineName"]
    actual = grants(role_statements(synth.resources, role_of(state_machine)))
    assert actual == _expected_state_machine_grants(spec, name)


def test_roles_have_no_managed_or_inline_policies_and_one_trusted_service(synth: Any) -> None:
    """Except the API Gateway account's logging role (test_infra_live_events checks it) and the node role."""
    from segflow_infra.live_events import ACCOUNT_ROLE_LOGICAL_ID

    for logical_id, role in synth.of_type("AWS::IAM::Role").items():
        if logical_id in {ACCOUNT_ROLE_LOGICAL_ID, NODE_ROLE.logical_id}:  # the node role: checked above
            continue
        props = role["Properties"]
        assert "ManagedPolicyArns" not in props, logical_id
        assert "Policies" not in props, logical_id
        [statement] = props["AssumeRolePolicyDocument"]["Statement"]
        assert statement["Principal"]["Service"] in {"lambda.amazonaws.com", "states.amazonaws.com"}


def test_each_function_has_its_own_role(synth: Any) -> None:
    roles = [role_of(function) for function in synth.of_type("AWS::Lambda::Function").values()]
    assert len(roles) == len(set(roles))


USER_CONTEXT = {
    "data_tables": "orders, stock",
    "data_buckets": "example-orders,example-reports",
    "notification_topics": "order-events,order-events.fifo",
    "tenant_data_tables": "shared-orders",
    "tenant_data_buckets": "shared-reports",
}


def test_user_resources_named_at_deploy_time_are_granted_to_the_node_role_only(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Tables: write, get and query (indexes: query); buckets: read objects; topics: publish. Nothing else."""
    from segflow.declaration import (
        DATA_BUCKET_ACTIONS,
        DATA_BUCKET_LIST_ACTIONS,
        DATA_TABLE_ACTIONS,
        DATA_TABLE_INDEX_ACTIONS,
        NOTIFICATION_TOPIC_ACTIONS,
    )

    resources = synth_resources(tmp_path_factory.mktemp("cdk.out.user-resources"), USER_CONTEXT)
    tables, buckets = ("orders", "stock"), ("example-orders", "example-reports")
    topics = ("order-events", "order-events.fifo")
    table_arn = service_arn("dynamodb", "table/")
    expected = {(action, table_arn + name) for action in DATA_TABLE_ACTIONS for name in tables}
    expected |= {
        (action, f"{table_arn}{name}/index/*") for action in DATA_TABLE_INDEX_ACTIONS for name in tables
    }
    expected |= {
        (action, f"arn:${{AWS::Partition}}:s3:::{name}/*")
        for action in DATA_BUCKET_ACTIONS
        for name in buckets
    }
    expected |= {
        (action, f"arn:${{AWS::Partition}}:s3:::{name}")
        for action in DATA_BUCKET_LIST_ACTIONS
        for name in buckets
    }
    expected |= {
        (action, service_arn("sns", name)) for action in NOTIFICATION_TOPIC_ACTIONS for name in topics
    }
    # Shared by tenants, keyed by tenant: the session's own partitions and prefix only.
    own_keys = condition_suffix(
        {("ForAllValues:StringLike", "dynamodb:LeadingKeys"): [TENANT_VARIABLE, f"{TENANT_VARIABLE}#*"]}
    )
    expected |= {(action, f"{table_arn}shared-orders{own_keys}") for action in DATA_TABLE_ACTIONS}
    expected |= {
        (action, f"{table_arn}shared-orders/index/*{own_keys}") for action in DATA_TABLE_INDEX_ACTIONS
    }
    expected |= {
        (action, f"arn:${{AWS::Partition}}:s3:::shared-reports/{TENANT_VARIABLE}/*")
        for action in DATA_BUCKET_ACTIONS
    }
    own_prefix = condition_suffix({("StringLike", "s3:prefix"): [f"{TENANT_VARIABLE}/*"]})
    expected |= {
        (action, f"arn:${{AWS::Partition}}:s3:::shared-reports{own_prefix}")
        for action in DATA_BUCKET_LIST_ACTIONS
    }
    assert DATA_TABLE_ACTIONS == ("dynamodb:UpdateItem", "dynamodb:GetItem", "dynamodb:Query")
    assert (DATA_TABLE_INDEX_ACTIONS, DATA_BUCKET_ACTIONS) == (("dynamodb:Query",), ("s3:GetObject",))
    assert DATA_BUCKET_LIST_ACTIONS == ("s3:ListBucket",)
    assert NOTIFICATION_TOPIC_ACTIONS == ("sns:Publish",)
    user_names = (*tables, *buckets, *topics, "shared-orders", "shared-reports")

    def of_users(pairs: set[tuple[str, str]]) -> set[tuple[str, str]]:
        return {
            (action, resource)
            for action, resource in pairs
            if any(
                f":table/{n}" in resource
                or f":::{n}/" in resource
                or f":::{n} if " in resource
                or resource.endswith(f":{n}")
                for n in user_names
            )
        }

    for spec in FUNCTIONS:
        allowed = grants(role_statements(resources, role_of(resources[spec.logical_id])))
        assert not of_users(allowed), spec.logical_id
        # and nothing else changed
        log_group = resources[spec.logical_id]["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert allowed == _expected_function_grants(spec, log_group, resources), spec.logical_id
    node_role = grants(by_effect(node_role_statements(resources), "Allow"))
    assert of_users(node_role) == expected
    assert node_role - expected == _expected_node_role_grants()


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"data_tables": "orders,no"}, "data_tables: 'no' is not a DynamoDB table name"),
        ({"data_buckets": "orders,Bad_Bucket"}, "data_buckets: 'Bad_Bucket' is not an S3 bucket name"),
        (
            {"notification_topics": "ok,arn:aws:sns:x"},
            "notification_topics: 'arn:aws:sns:x' is not an SNS topic name",
        ),
    ],
)
def test_a_bad_user_resource_name_stops_the_synth(context: dict[str, str], message: str) -> None:
    from segflow_infra.application import build_app

    with pytest.raises(ValueError, match=message):
        build_app(context=context)


@pytest.fixture(scope="module")
def extension_resources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A synth naming users' functions (invoke_functions) and a custom node module (node_modules)."""
    return synth_resources(
        tmp_path_factory.mktemp("cdk.out.extensions"),
        {"invoke_functions": "score-order, notify_team", "node_modules": "segflow.nodes.transform"},
    )


def test_invoke_functions_are_invokable_by_the_node_role_only_with_their_versions_and_aliases(
    extension_resources: dict[str, Any],
) -> None:
    from segflow.declaration import INVOKE_FUNCTION_ACTIONS

    function_arn = "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:"
    expected = {
        (action, function_arn + name + suffix)
        for action in INVOKE_FUNCTION_ACTIONS
        for name in ("score-order", "notify_team")
        for suffix in ("", ":*")
    }
    for spec in FUNCTIONS:
        allowed = grants(role_statements(extension_resources, role_of(extension_resources[spec.logical_id])))
        assert not {pair for pair in allowed if pair[0].startswith("lambda:")}, spec.logical_id
    node_role = grants(by_effect(node_role_statements(extension_resources), "Allow"))
    invokes = {pair for pair in node_role if pair[0].startswith("lambda:")}
    assert invokes == expected
    assert node_role - invokes == _expected_node_role_grants()  # and nothing else was added


def test_without_invoke_functions_no_function_may_invoke_lambda(synth: Any) -> None:
    for spec in FUNCTIONS:
        allowed = grants(role_statements(synth.resources, role_of(synth.resources[spec.logical_id])))
        assert not {pair for pair in allowed if pair[0].startswith("lambda:")}, spec.logical_id


def test_node_modules_reach_the_functions_that_validate_or_run_workflows_only(
    extension_resources: dict[str, Any], synth: Any
) -> None:
    from segflow.declaration import NODE_MODULES_ENV, NODE_MODULES_FUNCTIONS

    for spec in FUNCTIONS:
        environment = extension_resources[spec.logical_id]["Properties"]["Environment"]["Variables"]
        expected = "segflow.nodes.transform" if spec.logical_id in NODE_MODULES_FUNCTIONS else None
        assert environment.get(NODE_MODULES_ENV) == expected, spec.logical_id
        assert (
            NODE_MODULES_ENV not in synth.resources[spec.logical_id]["Properties"]["Environment"]["Variables"]
        )


@pytest.mark.parametrize(
    ("context", "message"),
    [
        (
            {"invoke_functions": "ok,arn:aws:lambda:us-east-1:1:function:x"},
            "invoke_functions: 'arn:aws:lambda",
        ),
        ({"invoke_functions": "has space"}, "invoke_functions: 'has space' is not a Lambda function name"),
        ({"node_modules": "not-a-module"}, "node_modules: 'not-a-module' is not a Python module name"),
        (
            {"node_modules": "acme.missing"},
            r"node_modules: 'acme.missing' is not in the Lambda asset: put it at lambdas/acme/missing.py",
        ),
    ],
)
def test_a_bad_extension_context_stops_the_synth(context: dict[str, str], message: str) -> None:
    from segflow_infra.application import build_app

    with pytest.raises(ValueError, match=message):
        build_app(context=context)
