"""Provisions segflow's declared resources in the embedded AWS (moto), from the declaration the stack uses."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segflow import declaration
from segflow.declaration import StateMachineSpec, TableSpec
from segflow.domain.limits import EXECUTION_DATA_RETENTION_DAYS

from segflow_local import sandbox
from segflow_local.deployed_access import LocalNames, Trust, load_snapshot, resolve_policies, resolve_trusts
from segflow_local.iam_policy import Policy, Statement
from segflow_local.lambda_invocation import (
    LOCAL_ACCOUNT_ID,
    LOCAL_REGION,
    local_function_arn,
    local_function_name,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
STATE_MACHINE_ROLE_ARN = f"arn:aws:iam::{LOCAL_ACCOUNT_ID}:role/segflow-local-state-machine"
SAGEMAKER_ROLE_ARN = f"arn:aws:iam::{LOCAL_ACCOUNT_ID}:role/segflow-local-sagemaker-execution"
# Locally, nodes call servers on this machine (the examples, the tests): the egress policy allows loopback.
# The stack's default refuses it; link-local and the Lambda runtime API stay refused here too.
LOCAL_EGRESS = declaration.EgressLists(allow=("127.0.0.0/8", "::1/128"))


def local_role_arn(stage: str, logical_id: str) -> str:
    """The ARN of a role of the stack (the node role) in the embedded AWS."""
    return f"arn:aws:iam::{LOCAL_ACCOUNT_ID}:role/segflow-{stage}-{logical_id}".lower()


@dataclass
class ProvisionedStack:
    """Where everything is: the local counterpart of the stack's outputs."""

    stage: str
    bucket_names: dict[str, str] = field(default_factory=dict)
    table_names: dict[str, str] = field(default_factory=dict)
    function_names: dict[str, str] = field(default_factory=dict)
    state_machine_arns: dict[str, str] = field(default_factory=dict)
    # The @connections endpoint of each WebSocket API: where the local gateway serves it (set by the server;
    # empty without one, e.g. in the in-process embedded AWS).
    websocket_callback_urls: dict[str, str] = field(
        default_factory=lambda: {api.logical_id: "" for api in declaration.WEBSOCKET_APIS}
    )
    # Each function's IAM policy as the stack grants it (infra/deployed-access.json), with local ARNs; the
    # state machine's own under ``deployed_access.STATE_MACHINE_ROLE``.
    policies: dict[str, Policy] = field(default_factory=dict)
    # Who may assume each assumable role (the node role), as its trust policy deploys.
    trusts: dict[str, Trust] = field(default_factory=dict)
    # Settings of this local stack that replace the stack's (a quieter log level).
    environment_overrides: dict[str, str] = field(default_factory=dict)
    # Your own resources nodes may use: the stack's contexts data_tables, data_buckets, notification_topics
    # and invoke_functions (granted to the function that runs nodes, as the stack grants them).
    user_resources: declaration.UserResources = field(default_factory=declaration.UserResources)
    # The stack's ``retention_days`` context: how long execution data is kept (TTL and S3 lifecycle).
    retention_days: int = EXECUTION_DATA_RETENTION_DAYS
    # The egress policy's lists (the stack's ``egress_allow``/``egress_deny``): loopback allowed, plus yours.
    egress: declaration.EgressLists = LOCAL_EGRESS

    def grant_user_resources(self, resources: declaration.UserResources) -> None:
        """Name more of your resources, as ``cdk deploy -c data_tables=…`` would (added to what is named)."""
        self.user_resources = self.user_resources.add(resources)
        if declaration.NODE_ROLE.logical_id in self.trusts:
            sandbox.register_role(self.node_role())

    def function_policy(self, spec: declaration.FunctionSpec) -> Policy:
        """The function's policy as deployed."""
        return self.policies[spec.logical_id]

    @property
    def node_role_arn(self) -> str:
        return local_role_arn(self.stage, declaration.NODE_ROLE.logical_id)

    def node_role_policy(self) -> Policy:
        """The node role's policy as deployed: the stack's statements, then those of your named resources
        and the SageMaker execution role it may pass."""
        user = user_grant_statements(self.user_resources, LOCAL_REGION, LOCAL_ACCOUNT_ID)
        user += pass_role_statements(SAGEMAKER_ROLE_ARN)
        return Policy(self.policies[declaration.NODE_ROLE.logical_id].statements + user)

    def node_role(self) -> sandbox.AssumableRole:
        trust = self.trusts[declaration.NODE_ROLE.logical_id]
        return sandbox.AssumableRole(
            logical_id=declaration.NODE_ROLE.logical_id,
            role_arn=self.node_role_arn,
            policy=self.node_role_policy(),
            trusted_functions=trust.functions,
            trust=trust.conditions,
        )

    def function_identity(self, spec: declaration.FunctionSpec) -> sandbox.FunctionIdentity:
        """Who the function runs as: its name, its role's policy and its environment, as deployed. A function
        that assumes the node role finds it assumable, with the resources named so far."""
        assumable = (self.node_role(),) if spec.logical_id in declaration.NODE_ROLE.assumed_by else ()
        name = local_function_name(self.stage, spec)
        return sandbox.FunctionIdentity(
            logical_id=spec.logical_id,
            function_name=name,
            role_name=f"{name}-role",
            account=LOCAL_ACCOUNT_ID,
            region=LOCAL_REGION,
            policy=self.function_policy(spec),
            environment={**self.function_environment(spec), **self.environment_overrides},
            assumable_roles=assumable,
            partition_keys=self._partition_keys() if assumable else {},
        )

    def _partition_keys(self) -> dict[str, dict[str, str]]:
        """Of segflow's tables and the tables named for nodes (for the node role's LeadingKeys conditions)."""
        named = (*self.table_names.values(), *self.user_resources.tables, *self.user_resources.tenant_tables)
        return sandbox.partition_keys_of(named, LOCAL_ACCOUNT_ID, LOCAL_REGION)

    def without_grant(self, logical_id: str, action: str) -> None:
        """Take one action away from one function's policy (tests that prove each grant is needed)."""
        self.policies[logical_id] = self.policies[logical_id].without_action(action)

    def function_environment(self, spec: declaration.FunctionSpec) -> dict[str, str]:
        """What the stack sets for this function, with local resource names."""
        names = {
            **self.bucket_names,
            **self.table_names,
            **self.state_machine_arns,
            **self.websocket_callback_urls,
            declaration.NODE_ROLE.logical_id: self.node_role_arn,
        }
        resources = {
            var: names[logical_id] for var, logical_id in declaration.resource_env_vars(spec).items()
        }
        # Custom node modules: whatever this process was started with (the stack's ``node_modules`` context).
        named = sandbox.process_environ().get(declaration.NODE_MODULES_ENV, "")
        node_modules = tuple(m for m in named.split(",") if m.strip())
        settings = declaration.settings_environment(
            spec, self.retention_days, SAGEMAKER_ROLE_ARN, node_modules, self.egress
        )
        return {**declaration.constant_environment(spec), **settings, **resources}

    def outputs(
        self, management_api_url: str | None = None, websocket_url: str | None = None
    ) -> dict[str, str]:
        """The same keys as the CloudFormation stack's outputs.

        The management API's and the WebSocket API's URLs are where the local gateways serve them, which only
        the server knows.
        """
        outputs = {
            declaration.OUTPUT_STATE_MACHINE_ARN: self.state_machine_arns[
                declaration.WORKFLOW_STATE_MACHINE.logical_id
            ],
            declaration.OUTPUT_BUCKET_NAME: self.bucket_names[declaration.DATA_BUCKET.logical_id],
        }
        for name, spec in declaration.STACK_OUTPUTS.items():
            if spec.kind == "table_name":
                outputs[name] = self.table_names[spec.ref]
        if management_api_url is not None:
            outputs[declaration.OUTPUT_MANAGEMENT_API_URL] = management_api_url
        if websocket_url is not None:
            outputs[declaration.OUTPUT_WEBSOCKET_URL] = websocket_url
        return outputs


def local_resource_name(stage: str, logical_id: str) -> str:
    return f"segflow-{stage}-{logical_id}".lower()


def grant_arn(grant: declaration.ServiceGrant, resource: str, region: str, account: str) -> str:
    """A declared service grant's resource as an ARN (what the stack's ``format_arn`` makes of it)."""
    if resource == "*":
        return "*"
    region_part = "" if grant.arn_scope == "none" else region
    account_part = account if grant.arn_scope == "account" else ""
    return f"arn:aws:{grant.service}:{region_part}:{account_part}:{resource}"


def user_grant_statements(
    resources: declaration.UserResources, region: str, account: str
) -> tuple[Statement, ...]:
    return tuple(
        Statement(
            "Allow",
            actions=grant.actions,
            resources=tuple(grant_arn(grant, r, region, account) for r in grant.resources),
            conditions=_conditions(grant.condition),
        )
        for grant in declaration.user_resource_grants(resources)
    )


def _conditions(
    condition: declaration.ArnLikeCondition | declaration.KeyCondition | None,
) -> dict[str, dict[str, tuple[str, ...]]]:
    if condition is None:
        return {}
    if isinstance(condition, declaration.KeyCondition):
        return {condition.operator: {condition.key: condition.values}}
    raise ValueError("no user resource grant is conditioned on an ARN")


def pass_role_statements(role_arn: str) -> tuple[Statement, ...]:
    """What the stack grants the node role with ``-c sagemaker_execution_role_arn=…`` (locally, the local
    SageMaker role): passing that one role, to SageMaker only."""
    if not role_arn:
        return ()
    condition = {"StringEquals": {"iam:PassedToService": (declaration.SAGEMAKER_SERVICE_PRINCIPAL,)}}
    return (Statement("Allow", actions=("iam:PassRole",), resources=(role_arn,), conditions=condition),)


def local_api_id(logical_id: str) -> str:
    """A WebSocket API's id (what ``Ref`` gives in the stack): part of its @connections ARNs."""
    return logical_id.lower()


def connections_endpoint(base_url: str, api: declaration.WebSocketApiSpec) -> str:
    """Where the handlers reach the local gateway's @connections API: like API Gateway's
    ``https://{api}.execute-api.{region}.amazonaws.com/{stage}``, the URL ends in the API id and stage."""
    return f"{base_url}/{local_api_id(api.logical_id)}/{api.stage}"


def _local_names(stack: ProvisionedStack, dynamodb: Any) -> LocalNames:
    refs: dict[str, str] = {}
    attributes: dict[tuple[str, str], str] = {}
    for logical_id, name in stack.bucket_names.items():
        refs[logical_id] = name
        attributes[(logical_id, "Arn")] = f"arn:aws:s3:::{name}"
    for logical_id, name in stack.table_names.items():
        refs[logical_id] = name
        table = dynamodb.describe_table(TableName=name)["Table"]
        attributes[(logical_id, "Arn")] = table["TableArn"]
        if table.get("LatestStreamArn"):
            attributes[(logical_id, "StreamArn")] = table["LatestStreamArn"]
    for function in declaration.FUNCTIONS:
        refs[function.logical_id] = local_function_name(stack.stage, function)
        attributes[(function.logical_id, "Arn")] = local_function_arn(stack.stage, function)
    for api in declaration.WEBSOCKET_APIS:
        refs[api.logical_id] = local_api_id(api.logical_id)
    node_role = declaration.NODE_ROLE.logical_id
    refs[node_role] = local_role_arn(stack.stage, node_role).rsplit("/", 1)[-1]
    attributes[(node_role, "Arn")] = local_role_arn(stack.stage, node_role)
    return LocalNames(
        region=LOCAL_REGION,
        account=LOCAL_ACCOUNT_ID,
        stage=stack.stage,
        refs=refs,
        attributes=attributes,
    )


def substitution_values(stack: ProvisionedStack, spec: StateMachineSpec) -> dict[str, str]:
    values: dict[str, str] = {}
    for placeholder, sub in spec.substitutions.items():
        if sub.kind == "function_arn":
            values[placeholder] = local_function_arn(stack.stage, declaration.function_by_id(sub.ref))
        elif sub.kind == "bucket_name":
            values[placeholder] = stack.bucket_names[sub.ref]
        elif sub.kind == "table_name":
            values[placeholder] = stack.table_names[sub.ref]
    return values


def render_definition(spec: StateMachineSpec, values: dict[str, str]) -> str:
    text = (REPO_ROOT / spec.definition_file).read_text()
    missing = sorted(set(PLACEHOLDER.findall(text)) - set(values))
    if missing:
        raise ValueError(f"{spec.definition_file}: no substitution for {', '.join(missing)}")
    rendered = PLACEHOLDER.sub(lambda m: values[m.group(1)], text)
    json.loads(rendered)
    return rendered


def _table_request(spec: TableSpec, name: str) -> dict[str, Any]:
    attributes = {spec.partition_key}
    keys = [{"AttributeName": spec.partition_key, "KeyType": "HASH"}]
    if spec.sort_key:
        attributes.add(spec.sort_key)
        keys.append({"AttributeName": spec.sort_key, "KeyType": "RANGE"})
    indexes = []
    for gsi in spec.global_indexes:
        attributes.add(gsi.partition_key)
        gsi_keys = [{"AttributeName": gsi.partition_key, "KeyType": "HASH"}]
        if gsi.sort_key:
            attributes.add(gsi.sort_key)
            gsi_keys.append({"AttributeName": gsi.sort_key, "KeyType": "RANGE"})
        indexes.append(
            {"IndexName": gsi.name, "KeySchema": gsi_keys, "Projection": {"ProjectionType": "ALL"}}
        )
    request: dict[str, Any] = {
        "TableName": name,
        "KeySchema": keys,
        "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a in sorted(attributes)],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if indexes:
        request["GlobalSecondaryIndexes"] = indexes
    if spec.stream:
        request["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": spec.stream}
    return request


def provision(session: Any, stage: str = "local") -> ProvisionedStack:
    """Create buckets, tables and state machines (idempotent). Lambda functions are served by the runtime."""
    stack = ProvisionedStack(stage=stage)
    s3 = session.client("s3", region_name=LOCAL_REGION)
    dynamodb = session.client("dynamodb", region_name=LOCAL_REGION)
    sfn = session.client("stepfunctions", region_name=LOCAL_REGION)

    for bucket in declaration.BUCKETS:
        name = local_resource_name(stage, bucket.logical_id)
        existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
        if name not in existing:
            s3.create_bucket(Bucket=name)
        stack.bucket_names[bucket.logical_id] = name

    existing_tables = set(dynamodb.list_tables().get("TableNames", []))
    for table in declaration.TABLES:
        name = local_resource_name(stage, table.logical_id)
        if name not in existing_tables:
            dynamodb.create_table(**_table_request(table, name))
            if table.ttl_attribute:
                dynamodb.update_time_to_live(
                    TableName=name,
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute},
                )
        stack.table_names[table.logical_id] = name

    for function in declaration.FUNCTIONS:
        stack.function_names[function.logical_id] = local_function_name(stage, function)
    snapshot, names = load_snapshot(), _local_names(stack, dynamodb)
    stack.policies = resolve_policies(snapshot, names)
    stack.trusts = resolve_trusts(snapshot, names)
    sandbox.register_role(stack.node_role())

    existing_machines = {m["name"]: m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]}
    for machine in declaration.STATE_MACHINES:
        name = f"segflow-{stage}-{machine.logical_id}"
        definition = render_definition(machine, substitution_values(stack, machine))
        if name in existing_machines:
            arn = existing_machines[name]
            sfn.update_state_machine(stateMachineArn=arn, definition=definition)
        else:
            arn = sfn.create_state_machine(name=name, definition=definition, roleArn=STATE_MACHINE_ROLE_ARN)[
                "stateMachineArn"
            ]
        stack.state_machine_arns[machine.logical_id] = arn
    return stack
