"""Everything a node may touch outside segflow's own records: :class:`NodeServices`, one entry per service.

Each entry is a small interface (a Protocol), implemented by one of the AWS adapters and built by the
adapters' factory on first use; node types reach AWS through nothing else. The failures a service raises are
node failures (:mod:`segflow.domain.errors`), named as users and retry policies see them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from segflow.deployments.models import (
    DeploymentRecord,
    DeploymentStatus,
    EndpointState,
    ModelPackage,
    ProbeAnswer,
)
from segflow.domain.approvals import ApprovalRecord, Decision
from segflow.domain.deadline import Deadline
from segflow.domain.errors import ServiceUnavailable
from segflow.llm.models import ChatAnswer, ChatMessage, LlmChatConfig
from segflow.versioning.models import RollbackResult

# --- the user's resources (the stack grants each by name) ---------------------------------------------------


class DataTables(Protocol):
    """The user's DynamoDB tables (``data_tables``; ``dynamodb_update`` targets any table it is granted).
    Values are plain JSON. Raises DynamoDbBusy (throttled, contended) or DynamoDbError."""

    def get_item(self, table: str, key: dict[str, Any], consistent_read: bool) -> dict[str, Any] | None:
        """The item with this key, or None."""
        ...

    def query(
        self,
        table: str,
        key_condition_expression: str,
        expression_attribute_values: dict[str, Any],
        *,
        expression_attribute_names: dict[str, str],
        filter_expression: str | None,
        index: str | None,
        scan_forward: bool,
        consistent_read: bool,
        limit: int,
    ) -> list[dict[str, Any]]:
        """Up to ``limit`` matching items, in sort key order (descending unless ``scan_forward``)."""
        ...

    def update_once(
        self,
        tenant_id: str,
        origin_execution_id: str,
        node_id: str,
        table: str,
        key: dict[str, Any],
        update_expression: str,
        *,
        expression_attribute_names: dict[str, str],
        expression_attribute_values: dict[str, Any],
        condition_expression: str | None,
    ) -> bool:
        """Apply the UpdateItem at most once per origin execution (its resumes included) and node (with a
        marker, in one transaction); False if it was applied before. Raises EffectConditionFailed if the
        condition did not hold."""
        ...


class DataBuckets(Protocol):
    """The user's S3 buckets (``data_buckets``). Raises S3Busy, S3Error, ResultTooLarge."""

    def get_object(self, bucket: str, key: str, max_bytes: int) -> bytes | None:
        """The object's bytes (None: no such object); larger than ``max_bytes``: ResultTooLarge."""
        ...


class Topics(Protocol):
    """The user's SNS topics (``notification_topics``). Raises TopicNotFound, SnsBusy, SnsError."""

    def publish(
        self,
        topic_arn: str,
        message: str,
        *,
        subject: str | None,
        attributes: dict[str, str | int | float],
        group_id: str | None,
        deduplication_id: str | None,
    ) -> str:
        """Returns the MessageId."""
        ...


class Functions(Protocol):
    """The user's Lambda functions (``invoke_functions``), invoked synchronously, never retried by the SDK.
    Raises LambdaThrottled, LambdaUnavailable, LambdaTimeout, or a NodeFailure named for what went wrong."""

    def invoke(
        self,
        function_name: str,
        qualifier: str | None,
        payload: bytes,
        client_context: str,
        wait_seconds: float,
    ) -> tuple[bytes, bool]:
        """The function's answer, and whether it raised (the answer is then its error)."""
        ...


# --- segflow's own services nodes use -----------------------------------------------------------------------


class WorkflowActivation(Protocol):
    """The active version of a workflow (``rollback``)."""

    def rollback(
        self,
        tenant_id: str,
        workflow_id: str,
        by: str,
        *,
        to_version: int | None = None,
        reason: str = "",
        request_id: str | None = None,
    ) -> RollbackResult: ...


class ModelEndpoints(Protocol):
    """SageMaker models, endpoint configs and endpoints (``deploy/model``); raises SageMakerError."""

    def model_package(self, group: str, version: int | None) -> ModelPackage: ...

    def check_artifact(self, s3_uri: str) -> None: ...

    def ensure_model(self, name: str, container: dict[str, Any], tags: dict[str, str]) -> None: ...

    def ensure_endpoint_config(
        self, name: str, model_name: str, instance_type: str, instance_count: int, tags: dict[str, str]
    ) -> None: ...

    def endpoint(self, name: str) -> EndpointState | None: ...

    def create_endpoint(self, name: str, config_name: str, tags: dict[str, str]) -> None: ...

    def update_endpoint(
        self, name: str, config_name: str, deployment_config: dict[str, Any] | None
    ) -> None: ...

    def invoke(self, name: str, body: bytes, content_type: str, accept: str) -> ProbeAnswer: ...


class DeploymentLog(Protocol):
    """Model deployments as segflow records them."""

    def start(self, record: DeploymentRecord) -> DeploymentRecord: ...

    def get(self, tenant_id: str, deployment_id: str) -> DeploymentRecord | None: ...

    def transition(
        self,
        tenant_id: str,
        deployment_id: str,
        status: DeploymentStatus,
        at: float,
        detail: str | None = None,
        failure_reason: str | None = None,
    ) -> None: ...

    def version_of_config(self, tenant_id: str, model_id: str, endpoint_config: str) -> str | None: ...


class ChatModels(Protocol):
    """Bedrock and OpenAI-compatible chat models (``llm_chat``)."""

    def chat(
        self,
        config: LlmChatConfig,
        messages: list[ChatMessage],
        timeout: float | None,
        deadline: Deadline | None = None,
    ) -> ChatAnswer: ...


class ModelCallLedger(Protocol):
    """Model answers kept per node, so a retried segment does not ask again."""

    def answers(self, tenant_id: str, execution_id: str, call_key: str) -> list[ChatAnswer]: ...

    def keep(
        self, tenant_id: str, execution_id: str, call_key: str, number: int, answer: ChatAnswer
    ) -> None: ...


class Approvals(Protocol):
    """Approval requests and decisions (``approval`` nodes, run by the segment runner)."""

    def get(self, tenant_id: str, execution_id: str, node_id: str) -> ApprovalRecord | None: ...

    def request(self, tenant_id: str, execution_id: str, record: ApprovalRecord) -> ApprovalRecord:
        """Record the request once; a retried segment gets the stored one."""
        ...

    def decide(
        self,
        tenant_id: str,
        execution_id: str,
        node_id: str,
        decision: Decision,
        approver: str | None,
        comment: str | None,
        at: float,
        timed_out: bool = False,
    ) -> ApprovalRecord:
        """Decide once; raises ApprovalNotPending if there is nothing to decide."""
        ...


Service = TypeVar("Service")


@dataclass
class NodeServices:
    """The services a node type may use, each built on first use (most segments need none of them)."""

    data_tables_factory: Callable[[], DataTables] | None = None
    data_buckets_factory: Callable[[], DataBuckets] | None = None
    topics_factory: Callable[[], Topics] | None = None
    functions_factory: Callable[[], Functions] | None = None
    workflow_versions_factory: Callable[[], WorkflowActivation] | None = None
    model_endpoints_factory: Callable[[], ModelEndpoints] | None = None
    deployment_log_factory: Callable[[], DeploymentLog] | None = None
    approvals_factory: Callable[[], Approvals] | None = None
    chat_models_factory: Callable[[], ChatModels] | None = None
    model_calls_factory: Callable[[], ModelCallLedger] | None = None
    _built: dict[str, Any] = field(default_factory=dict)
    # The segments of a batch share the services, each built once.
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _service(self, name: str, factory: Callable[[], Service] | None, what: str) -> Service:
        with self._lock:
            if name not in self._built:
                if factory is None:
                    raise ServiceUnavailable(f"{what} is not available to this segment")
                self._built[name] = factory()
            built: Service = self._built[name]
        return built

    @property
    def data_tables(self) -> DataTables:
        return self._service("data_tables", self.data_tables_factory, "DynamoDB")

    @property
    def data_buckets(self) -> DataBuckets:
        return self._service("data_buckets", self.data_buckets_factory, "S3")

    @property
    def topics(self) -> Topics:
        return self._service("topics", self.topics_factory, "SNS")

    @property
    def functions(self) -> Functions:
        return self._service("functions", self.functions_factory, "Lambda")

    @property
    def workflow_versions(self) -> WorkflowActivation:
        return self._service(
            "workflow_versions", self.workflow_versions_factory, "the workflow version store"
        )

    @property
    def model_endpoints(self) -> ModelEndpoints:
        return self._service("model_endpoints", self.model_endpoints_factory, "SageMaker")

    @property
    def deployment_log(self) -> DeploymentLog:
        return self._service("deployment_log", self.deployment_log_factory, "the deployment log")

    @property
    def approvals(self) -> Approvals:
        return self._service("approvals", self.approvals_factory, "the approval store")

    @property
    def chat_models(self) -> ChatModels:
        return self._service("chat_models", self.chat_models_factory, "the chat models")

    @property
    def model_calls(self) -> ModelCallLedger:
        return self._service("model_calls", self.model_calls_factory, "the model call ledger")
