"""Deploys segflow's declared resources into the embedded AWS (moto), from the declaration the stack uses."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segflow import declaration
from segflow.declaration import StateMachineSpec, TableSpec
from segflow.limits import EXECUTION_DATA_RETENTION_DAYS

from segflow_local.lambda_runtime import (
    LOCAL_ACCOUNT_ID,
    LOCAL_REGION,
    local_function_arn,
    local_function_name,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
STATE_MACHINE_ROLE_ARN = f"arn:aws:iam::{LOCAL_ACCOUNT_ID}:role/segflow-local-state-machine"
SAGEMAKER_ROLE_ARN = f"arn:aws:iam::{LOCAL_ACCOUNT_ID}:role/segflow-local-sagemaker-execution"


@dataclass
class LocalDeployment:
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

    def environment(self) -> dict[str, str]:
        """The environment variables every handler reads (the same names the stack sets)."""
        env: dict[str, str] = {}
        for function in declaration.FUNCTIONS:  # one process hosts every function: one environment
            env.update(self.function_environment(function))
        return env

    def function_environment(self, spec: declaration.FunctionSpec) -> dict[str, str]:
        """What the stack sets for this function, with local resource names."""
        names = {
            **self.bucket_names,
            **self.table_names,
            **self.state_machine_arns,
            **self.websocket_callback_urls,
        }
        resources = {
            var: names[logical_id] for var, logical_id in declaration.resource_env_vars(spec).items()
        }
        # Custom node modules: whatever this process was started with (one process hosts every function).
        node_modules = tuple(
            m for m in os.environ.get(declaration.NODE_MODULES_ENV, "").split(",") if m.strip()
        )
        settings = declaration.settings_environment(
            spec, EXECUTION_DATA_RETENTION_DAYS, SAGEMAKER_ROLE_ARN, node_modules
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


def substitution_values(deployment: LocalDeployment, spec: StateMachineSpec) -> dict[str, str]:
    values: dict[str, str] = {}
    for placeholder, sub in spec.substitutions.items():
        if sub.kind == "function_arn":
            values[placeholder] = local_function_arn(deployment.stage, declaration.function_by_id(sub.ref))
        elif sub.kind == "bucket_name":
            values[placeholder] = deployment.bucket_names[sub.ref]
        elif sub.kind == "table_name":
            values[placeholder] = deployment.table_names[sub.ref]
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


def deploy(session: Any, stage: str = "local") -> LocalDeployment:
    """Create buckets, tables and state machines (idempotent). Lambda functions are served by the runtime."""
    deployment = LocalDeployment(stage=stage)
    s3 = session.client("s3", region_name=LOCAL_REGION)
    dynamodb = session.client("dynamodb", region_name=LOCAL_REGION)
    sfn = session.client("stepfunctions", region_name=LOCAL_REGION)

    for bucket in declaration.BUCKETS:
        name = local_resource_name(stage, bucket.logical_id)
        existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
        if name not in existing:
            s3.create_bucket(Bucket=name)
        deployment.bucket_names[bucket.logical_id] = name

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
        deployment.table_names[table.logical_id] = name

    for function in declaration.FUNCTIONS:
        deployment.function_names[function.logical_id] = local_function_name(stage, function)

    existing_machines = {m["name"]: m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]}
    for machine in declaration.STATE_MACHINES:
        name = f"segflow-{stage}-{machine.logical_id}"
        definition = render_definition(machine, substitution_values(deployment, machine))
        if name in existing_machines:
            arn = existing_machines[name]
            sfn.update_state_machine(stateMachineArn=arn, definition=definition)
        else:
            arn = sfn.create_state_machine(name=name, definition=definition, roleArn=STATE_MACHINE_ROLE_ARN)[
                "stateMachineArn"
            ]
        deployment.state_machine_arns[machine.logical_id] = arn
    return deployment
