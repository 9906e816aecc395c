"""Adapters built from the environment the declaration gives every function (names in one place).

Each adapter module is imported when its adapter is first built, so a function's cold start only pays for
the adapters it uses. :func:`node_services` wires what node types may touch.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from segflow.adapters.clients import client
from segflow.declaration import (
    CONNECTIONS_TABLE,
    DATA_BUCKET,
    DEPLOYMENTS_TABLE,
    EVENTS_TABLE,
    EXECUTIONS_TABLE,
    LIVE_WEBSOCKET_API,
    NODE_ROLE,
    SAGEMAKER_ROLE_CONTEXT,
    SAGEMAKER_ROLE_ENV,
    WORKFLOW_STATE_MACHINE,
    WORKFLOWS_TABLE,
)

if TYPE_CHECKING:
    from segflow.adapters.approvals import ApprovalStore
    from segflow.adapters.chat_models import ChatModels
    from segflow.adapters.connections import ConnectionStore, LiveConnections
    from segflow.adapters.data_buckets import DataBuckets
    from segflow.adapters.data_tables import DataTables
    from segflow.adapters.deployment_log import DeploymentLog
    from segflow.adapters.event_log import EventLog, EventLogReader
    from segflow.adapters.execution_launcher import ExecutionLauncher
    from segflow.adapters.execution_records import ExecutionRecordStore
    from segflow.adapters.functions import Functions
    from segflow.adapters.journal import ExecutionJournal
    from segflow.adapters.manifests import ManifestStore
    from segflow.adapters.model_calls import ModelCallLedger
    from segflow.adapters.model_endpoints import ModelEndpoints
    from segflow.adapters.outputs import NodeOutputStore
    from segflow.adapters.task_tokens import TaskTokens
    from segflow.adapters.tenant_sessions import TenantSessions
    from segflow.adapters.topics import Topics
    from segflow.adapters.workflow_versions import WorkflowVersionStore
    from segflow.nodes.services import NodeServices


def _node_client(service: str) -> Any:
    """A client for the stores nodes use: its calls made while a node runs wait at most until its deadline."""
    from segflow.adapters.call_deadline import limited_by_node_deadline

    return limited_by_node_deadline(client(service))


def _tenant_sessions() -> TenantSessions:
    from segflow.adapters.tenant_sessions import TenantSessions

    return TenantSessions(os.environ[NODE_ROLE.env_var])


def _tenant_client(tenant_id: str, service: str) -> Any:
    """A client acting for ``tenant_id`` (the node role's session), capped by the node's deadline."""
    from segflow.adapters.call_deadline import limited_by_node_deadline

    return limited_by_node_deadline(_tenant_sessions().client(tenant_id, service))


def execution_records() -> ExecutionRecordStore:
    from segflow.adapters.execution_records import ExecutionRecordStore

    return ExecutionRecordStore(os.environ[EXECUTIONS_TABLE.env_var], client("dynamodb"))


def manifests() -> ManifestStore:
    from segflow.adapters.manifests import ManifestStore

    return ManifestStore(os.environ[DATA_BUCKET.env_var], client("s3"))


def node_outputs() -> NodeOutputStore:
    from segflow.adapters.outputs import NodeOutputStore

    return NodeOutputStore(os.environ[DATA_BUCKET.env_var], client("s3"))


def workflow_versions() -> WorkflowVersionStore:
    from segflow.adapters.workflow_versions import WorkflowVersionStore

    return WorkflowVersionStore(
        os.environ[WORKFLOWS_TABLE.env_var],
        _node_client("dynamodb"),
        os.environ[DATA_BUCKET.env_var],
        _node_client("s3"),
    )


def execution_launcher() -> ExecutionLauncher:
    from segflow.adapters.execution_launcher import ExecutionLauncher

    # A function without the bucket (ContinueExecution) starts executions whose input is small.
    bucket = os.environ.get(DATA_BUCKET.env_var)
    return ExecutionLauncher(
        os.environ[WORKFLOW_STATE_MACHINE.env_var],
        client("stepfunctions"),
        bucket or "",
        client("s3") if bucket else None,
    )


def event_log(remaining_ms: Callable[[], int] | None = None) -> EventLog:
    """The log as its writers use it; ``remaining_ms`` bounds its retries by the Lambda's time left."""
    from segflow.adapters.event_log import EventLog

    return EventLog(
        os.environ[EVENTS_TABLE.env_var],
        os.environ[EXECUTIONS_TABLE.env_var],
        client("dynamodb"),
        remaining_ms=remaining_ms,
    )


def event_log_reader() -> EventLogReader:
    """The log as its readers use it: the events table only."""
    from segflow.adapters.event_log import EventLogReader

    return EventLogReader(os.environ[EVENTS_TABLE.env_var], client("dynamodb"))


def journal(
    records: ExecutionRecordStore | None = None, remaining_ms: Callable[[], int] | None = None
) -> ExecutionJournal:
    from segflow.adapters.journal import ExecutionJournal

    return ExecutionJournal(records or execution_records(), event_log(remaining_ms))


def connections() -> ConnectionStore:
    from segflow.adapters.connections import ConnectionStore

    return ConnectionStore(os.environ[CONNECTIONS_TABLE.env_var], client("dynamodb"))


def live_connections() -> LiveConnections:
    """The @connections API of the live-events WebSocket stage."""
    from segflow.adapters.connections import LiveConnections

    return LiveConnections(
        client("apigatewaymanagementapi", endpoint_url=os.environ[LIVE_WEBSOCKET_API.env_var])
    )


def deployment_log() -> DeploymentLog:
    from segflow.adapters.deployment_log import DeploymentLog

    return DeploymentLog(os.environ[DEPLOYMENTS_TABLE.env_var], _node_client("dynamodb"))


def _sagemaker_role_arn() -> str:
    role = os.environ.get(SAGEMAKER_ROLE_ENV)
    if not role:
        from segflow.domain.errors import ConfigError

        raise ConfigError(
            "deploy/model needs the SageMaker execution role the stack passes to models: deploy with "
            f"-c {SAGEMAKER_ROLE_CONTEXT}=arn:aws:iam::<account>:role/<role>"
        )
    return role


def model_endpoints(tenant_id: str) -> ModelEndpoints:
    """SageMaker and the model artifacts, acting for the tenant."""
    from segflow.adapters.model_endpoints import ModelEndpoints

    return ModelEndpoints(
        _tenant_client(tenant_id, "sagemaker"),
        _tenant_client(tenant_id, "sagemaker-runtime"),
        _tenant_client(tenant_id, "s3"),
        _sagemaker_role_arn,
    )


def approvals() -> ApprovalStore:
    from segflow.adapters.approvals import ApprovalStore

    return ApprovalStore(os.environ[EXECUTIONS_TABLE.env_var], client("dynamodb"))


def task_tokens() -> TaskTokens:
    from segflow.adapters.task_tokens import TaskTokens

    return TaskTokens(client("stepfunctions"))


def chat_models(tenant_id: str) -> ChatModels:
    """Bedrock, and the secrets and parameters API keys come from, acting for the tenant."""
    from segflow.adapters.chat_models import ChatModels

    return ChatModels(
        _tenant_client(tenant_id, "bedrock-runtime"),
        _tenant_client(tenant_id, "secretsmanager"),
        _tenant_client(tenant_id, "ssm"),
    )


def model_calls() -> ModelCallLedger:
    from segflow.adapters.model_calls import ModelCallLedger

    return ModelCallLedger(os.environ[EXECUTIONS_TABLE.env_var], _node_client("dynamodb"))


# --- what node types may touch: the user's resources, acting for the execution's tenant ---------------------


def data_tables(tenant_id: str) -> DataTables:
    from segflow.adapters.data_tables import DataTables
    from segflow.adapters.effect_ledger import EffectLedger

    # The update and its marker commit in one transaction, so both are made with the tenant's credentials
    # (which may put the markers of the tenant's own executions, and nothing else of the executions table).
    dynamodb = _tenant_client(tenant_id, "dynamodb")
    return DataTables(dynamodb, EffectLedger(os.environ[EXECUTIONS_TABLE.env_var], dynamodb))


def data_buckets(tenant_id: str) -> DataBuckets:
    from segflow.adapters.data_buckets import DataBuckets

    return DataBuckets(_tenant_client(tenant_id, "s3"))


def topics(tenant_id: str) -> Topics:
    from segflow.adapters.topics import Topics

    return Topics(_tenant_client(tenant_id, "sns"))


def functions(tenant_id: str) -> Functions:
    from segflow.adapters.call_deadline import limited_by_node_deadline
    from segflow.adapters.functions import Functions

    sessions = _tenant_sessions()
    # The deadline caps Invoke before any handler of its own answers it (the local runtime's).
    return Functions(
        lambda read_timeout: limited_by_node_deadline(
            sessions.unretried_client(tenant_id, "lambda", read_timeout), operations=("Invoke",)
        )
    )


def node_services(tenant_id: str) -> NodeServices:
    """Every service a node type may use for ``tenant_id``, each built when a node first uses it: the user's
    resources and the services nodes call with the tenant's credentials, segflow's own records (approvals,
    the deployment log, workflow versions, the model call ledger) with the engine's, keyed by the tenant."""
    from functools import partial

    from segflow.nodes.services import NodeServices

    return NodeServices(
        data_tables_factory=partial(data_tables, tenant_id),
        data_buckets_factory=partial(data_buckets, tenant_id),
        topics_factory=partial(topics, tenant_id),
        functions_factory=partial(functions, tenant_id),
        workflow_versions_factory=workflow_versions,
        model_endpoints_factory=partial(model_endpoints, tenant_id),
        deployment_log_factory=deployment_log,
        approvals_factory=approvals,
        chat_models_factory=partial(chat_models, tenant_id),
        model_calls_factory=model_calls,
    )
