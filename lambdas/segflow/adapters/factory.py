"""Adapters built from the environment the declaration gives every function (names in one place).

Each adapter module is imported when its adapter is first built, so a function's cold start only pays for
the adapters it uses. :func:`node_services` wires what node types may touch.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from segflow.adapters.clients import client, unretried_client
from segflow.declaration import (
    CONNECTIONS_TABLE,
    DATA_BUCKET,
    DEPLOYMENTS_TABLE,
    EVENTS_TABLE,
    EXECUTIONS_TABLE,
    LIVE_WEBSOCKET_API,
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
    from segflow.adapters.effect_ledger import EffectLedger
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
    from segflow.adapters.topics import Topics
    from segflow.adapters.workflow_versions import WorkflowVersionStore
    from segflow.nodes.services import NodeServices


def _node_client(service: str) -> Any:
    """A client for the stores nodes use: its calls made while a node runs wait at most until its deadline."""
    from segflow.adapters.call_deadline import limited_by_node_deadline

    return limited_by_node_deadline(client(service))


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


def effect_ledger() -> EffectLedger:
    from segflow.adapters.effect_ledger import EffectLedger

    return EffectLedger(os.environ[EXECUTIONS_TABLE.env_var], _node_client("dynamodb"))


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


def model_endpoints() -> ModelEndpoints:
    from segflow.adapters.model_endpoints import ModelEndpoints

    return ModelEndpoints(
        _node_client("sagemaker"), _node_client("sagemaker-runtime"), _node_client("s3"), _sagemaker_role_arn
    )


def approvals() -> ApprovalStore:
    from segflow.adapters.approvals import ApprovalStore

    return ApprovalStore(os.environ[EXECUTIONS_TABLE.env_var], client("dynamodb"))


def task_tokens() -> TaskTokens:
    from segflow.adapters.task_tokens import TaskTokens

    return TaskTokens(client("stepfunctions"))


def chat_models() -> ChatModels:
    from segflow.adapters.chat_models import ChatModels

    return ChatModels(_node_client("bedrock-runtime"), _node_client("secretsmanager"), _node_client("ssm"))


def model_calls() -> ModelCallLedger:
    from segflow.adapters.model_calls import ModelCallLedger

    return ModelCallLedger(os.environ[EXECUTIONS_TABLE.env_var], _node_client("dynamodb"))


# --- what node types may touch ------------------------------------------------------------------------------


def data_tables() -> DataTables:
    from segflow.adapters.data_tables import DataTables

    return DataTables(_node_client("dynamodb"), effect_ledger())


def data_buckets() -> DataBuckets:
    from segflow.adapters.data_buckets import DataBuckets

    return DataBuckets(_node_client("s3"))


def topics() -> Topics:
    from segflow.adapters.topics import Topics

    return Topics(_node_client("sns"))


def functions() -> Functions:
    from segflow.adapters.call_deadline import limited_by_node_deadline
    from segflow.adapters.functions import Functions

    # The deadline caps Invoke before any handler of its own answers it (the local runtime's).
    return Functions(
        lambda read_timeout: limited_by_node_deadline(
            unretried_client("lambda", read_timeout), operations=("Invoke",)
        )
    )


def node_services() -> NodeServices:
    """Every service a node type may use, each built when a node first uses it."""
    from segflow.nodes.services import NodeServices

    return NodeServices(
        data_tables_factory=data_tables,
        data_buckets_factory=data_buckets,
        topics_factory=topics,
        functions_factory=functions,
        workflow_versions_factory=workflow_versions,
        model_endpoints_factory=model_endpoints,
        deployment_log_factory=deployment_log,
        approvals_factory=approvals,
        chat_models_factory=chat_models,
        model_calls_factory=model_calls,
    )
