"""One Lambda function per FUNCTIONS entry, each with its own role holding exactly its declared access."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct
from segflow.declaration import (
    FUNCTIONS,
    LAMBDA_ASSET_DIR,
    LOG_RETENTION_DAYS,
    NODE_ROLE,
    SERVICE_NAME,
    STATE_MACHINES,
    STREAM_CONSUMERS,
    TABLES,
    WEBSOCKET_APIS,
    EgressLists,
    FunctionSpec,
    UserResources,
    constant_environment,
    resource_env_vars,
    settings_environment,
)

from segflow_infra.cdk_util import acknowledge, arn_token, pin_logical_id, retention, state_machine_arn
from segflow_infra.lambda_bundle import CODE_EXCLUDES, REQUIREMENTS_FILE
from segflow_infra.lambda_layer import dependencies_layer
from segflow_infra.node_role import TenantNodeRole
from segflow_infra.paths import repo_path
from segflow_infra.permissions import (
    acknowledge_execution_wildcards,
    acknowledge_prefix_wildcards,
    acknowledge_service_wildcards,
    grant_table,
    s3_prefix_statement,
    service_statement,
    state_machine_statements,
)
from segflow_infra.storage import Storage

RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE = lambda_.Architecture.ARM_64


class EngineFunctions(Construct):
    """The declared Lambda functions, keyed by logical id."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        storage: Storage,
        user_resources: UserResources | None = None,
        sagemaker_role_arn: str | None = None,
        node_modules: tuple[str, ...] = (),
        egress: EgressLists | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self._storage = storage
        self._user_resources = user_resources or UserResources()
        self._sagemaker_role_arn = sagemaker_role_arn
        self._node_modules = node_modules
        self._egress = egress
        self._code = lambda_.Code.from_asset(
            str(repo_path(LAMBDA_ASSET_DIR)), exclude=[f"**/{pattern}" for pattern in CODE_EXCLUDES]
        )
        # Every import beyond the standard library, pinned and built for RUNTIME on ARCHITECTURE: nothing is
        # taken from the runtime (its boto3 comes after layers on the path) or resolved at deploy time.
        self._dependencies = dependencies_layer(self, "Dependencies", RUNTIME, ARCHITECTURE)
        self.functions: dict[str, lambda_.Function] = {
            spec.logical_id: self._function(spec) for spec in FUNCTIONS
        }
        self.node_role = TenantNodeRole(
            self,
            "NodeRole",
            storage=storage,
            assumers={logical_id: self._role_of(logical_id) for logical_id in NODE_ROLE.assumed_by},
            user_resources=self._user_resources,
            sagemaker_role_arn=sagemaker_role_arn,
        ).role
        for logical_id in NODE_ROLE.assumed_by:
            self.functions[logical_id].add_environment(NODE_ROLE.env_var, self.node_role.role_arn)

    def _role_of(self, logical_id: str) -> iam.IRole:
        role = self.functions[logical_id].role
        assert role is not None  # every function is given its own role above
        return role

    def _function(self, spec: FunctionSpec) -> lambda_.Function:
        role = iam.Role(
            self,
            f"{spec.logical_id}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{SERVICE_NAME} {spec.logical_id}: its log group and its declared access",
        )
        log_group = logs.LogGroup(
            self,
            f"{spec.logical_id}LogGroup",
            retention=retention(LOG_RETENTION_DAYS),
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        # Instead of the AWSLambdaBasicExecutionRole managed policy, which allows every log group.
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[log_group.log_group_arn]
            )
        )
        function = lambda_.Function(
            self,
            spec.logical_id,
            description=spec.description,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            code=self._code,
            handler=spec.handler,
            memory_size=spec.memory_mb,
            timeout=cdk.Duration.seconds(spec.timeout_seconds),
            environment=self._environment(spec),
            layers=[self._dependencies],
            role=role,
            log_group=log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            tracing=lambda_.Tracing.ACTIVE,
        )
        pin_logical_id(function, spec.logical_id)
        self._grant(spec, role)
        self._acknowledge(spec, function, role)
        return function

    def _environment(self, spec: FunctionSpec) -> dict[str, str]:
        # A WebSocket API's callback URL is set by ``LiveEvents`` once the API exists: the API's routes
        # invoke one of these functions, so the functions come first. The node role's ARN is set once the
        # role exists (it trusts the roles of these functions).
        later = {api.logical_id for api in WEBSOCKET_APIS} | {NODE_ROLE.logical_id}
        resources = {
            name: self._resource_value(logical_id)
            for name, logical_id in resource_env_vars(spec).items()
            if logical_id not in later
        }
        settings = settings_environment(
            spec,
            self._storage.retention_days,
            self._sagemaker_role_arn or "",
            self._node_modules,
            self._egress,
        )
        return {**constant_environment(spec), **settings, **resources}

    def _resource_value(self, logical_id: str) -> str:
        """A bucket or table name, or a state machine ARN (built from its fixed name: no dependency cycle)."""
        if logical_id in {machine.logical_id for machine in STATE_MACHINES}:
            return state_machine_arn(self, logical_id)
        return self._storage.name_of(logical_id)

    def _grant(self, spec: FunctionSpec, role: iam.Role) -> None:
        for table_grant in spec.tables:
            grant_table(self._storage.tables[table_grant.table], table_grant, role)
        for bucket_grant in spec.buckets:
            role.add_to_policy(s3_prefix_statement(self._storage.buckets[bucket_grant.bucket], bucket_grant))
        for machine_grant in spec.state_machines:
            for statement in state_machine_statements(self, machine_grant):
                role.add_to_policy(statement)
        for service_grant in spec.services:
            role.add_to_policy(service_statement(self, service_grant))

    def _acknowledge(self, spec: FunctionSpec, function: lambda_.Function, role: iam.Role) -> None:
        acknowledge(
            function,
            "AwsSolutions-L1",
            f"Pinned to {RUNTIME.name}: the Python its dependencies layer ({REQUIREMENTS_FILE}) is built "
            "and compiled for and its handlers are import-tested on; a runtime upgrade is a deliberate, "
            "tested change.",
        )
        stream_consumer = spec.logical_id in {consumer.function for consumer in STREAM_CONSUMERS}
        unscoped = [action for grant in spec.services if "*" in grant.resources for action in grant.actions]
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "Only xray:PutTraceSegments and xray:PutTelemetryRecords (added for active tracing) "
            + ("and dynamodb:ListStreams (added by its stream event source) " if stream_consumer else "")
            + (f"and {', '.join(unscoped)} " if unscoped else "")
            + "use '*': AWS supports no resource-level permissions for them (the Service Authorization "
            "Reference lists no resource type for them"
            + (
                "; nor any condition key for states:SendTaskSuccess, whose task token alone names the task"
                if "states:SendTaskSuccess" in unscoped
                else ""
            )
            + ").",
        )
        acknowledge_prefix_wildcards(role, spec.buckets, spec.logical_id)
        acknowledge_service_wildcards(role, spec.services, spec.logical_id)
        acknowledge_execution_wildcards(role, spec.state_machines, spec.logical_id, self)
        indexed_tables = {table.logical_id for table in TABLES if table.global_indexes}
        for table_grant in spec.tables:
            if table_grant.table not in indexed_tables:
                continue
            acknowledge(
                role,
                f"AwsSolutions-IAM5[Resource::{arn_token(table_grant.table)}/index/*]",
                f"Queries on the global secondary indexes of {table_grant.table} only (its index/* path); "
                "added by the table grant helper when the table has indexes.",
            )
