"""The one declaration of segflow's deployable resources.

Both the CDK stack (``infra/``) and the local deployer (``segflow_local``) read this module, so the
cloud and the embedded runtime cannot drift: same functions, handlers, environment, permissions,
tables and ASL substitutions. Nothing here imports boto3 or aws_cdk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from segflow.domain import s3_layout
from segflow.domain.egress import EGRESS_ALLOW_ENV, EGRESS_DENY_ENV
from segflow.domain.limits import EXECUTE_SEGMENT_TIMEOUT_SECONDS, RETENTION_DAYS_ENV

Access = Literal["read", "write", "read_write"]


@dataclass(frozen=True)
class GlobalIndexSpec:
    name: str
    partition_key: str
    sort_key: str | None = None


@dataclass(frozen=True)
class TableSpec:
    logical_id: str
    env_var: str
    partition_key: str
    sort_key: str | None
    ttl_attribute: str | None = None
    global_indexes: tuple[GlobalIndexSpec, ...] = ()
    stream: Literal["NEW_IMAGE"] | None = None  # a DynamoDB stream of the table's new items


@dataclass(frozen=True)
class BucketSpec:
    logical_id: str
    env_var: str
    # Prefixes whose objects expire after the retention period (lifecycle rule).
    expiring_prefixes: tuple[str, ...] = ()


@dataclass(frozen=True)
class TableGrant:
    table: str  # TableSpec.logical_id
    access: Access


@dataclass(frozen=True)
class BucketGrant:
    bucket: str  # BucketSpec.logical_id
    access: Access
    prefixes: tuple[str, ...]  # least privilege: only these key prefixes


@dataclass(frozen=True)
class WebSocketGrant:
    api: str  # WebSocketApiSpec.logical_id: post to (and drop) its connections through @connections


@dataclass(frozen=True)
class StateMachineGrant:
    state_machine: str  # StateMachineSpec.logical_id
    actions: tuple[Literal["start", "describe", "stop"], ...]


ArnScope = Literal["account", "region", "any_region", "none"]

# The ARN parts a scope sets apart from the stack's own (for format_arn): "account" keeps the stack's region
# and account, "region" has no account (Bedrock's foundation models), "any_region" has no account and any
# region (``arn:…:bedrock:*::foundation-model/*``), "none" neither (S3 objects: ``<bucket>/*``).
ARN_SCOPE_OVERRIDES: dict[str, dict[str, str]] = {
    "account": {},
    "region": {"account": ""},
    "any_region": {"region": "*", "account": ""},
    "none": {"region": "", "account": ""},
}


@dataclass(frozen=True)
class ArnLikeCondition:
    """A grant holds only when the request's ``key`` (an ARN-valued condition key) matches one of
    ``resources``: resource parts of ``service`` ARNs in the stack's region and account."""

    key: str  # bedrock:InferenceProfileArn
    service: str
    resources: tuple[str, ...]


@dataclass(frozen=True)
class KeyCondition:
    """A grant holds only when the request's ``key`` matches ``values`` under ``operator`` (values may hold
    policy variables such as ``${aws:PrincipalTag/tenant}``)."""

    operator: str  # ForAllValues:StringLike
    key: str  # dynamodb:LeadingKeys
    values: tuple[str, ...]


@dataclass(frozen=True)
class ServiceGrant:
    """Actions on another AWS service's resources, limited to names segflow gives them (``resources`` are the
    resource parts of the service's ARNs in the stack's region and account: ``endpoint/segflow-*``)."""

    service: str  # the ARN's service: sagemaker
    actions: tuple[str, ...]
    resources: tuple[str, ...]  # "*" only for actions AWS cannot scope (List* calls)
    arn_scope: ArnScope = "account"  # see ARN_SCOPE_OVERRIDES
    condition: ArnLikeCondition | KeyCondition | None = None

    def arn_overrides(self) -> dict[str, str]:
        """The ARN parts these resources leave empty or open (for format_arn)."""
        return ARN_SCOPE_OVERRIDES[self.arn_scope]


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    handler: str  # "module.path.function", resolved inside the Lambda asset (lambdas/)
    description: str
    memory_mb: int
    timeout_seconds: int
    tables: tuple[TableGrant, ...] = ()
    buckets: tuple[BucketGrant, ...] = ()
    state_machines: tuple[StateMachineGrant, ...] = ()
    websockets: tuple[WebSocketGrant, ...] = ()
    services: tuple[ServiceGrant, ...] = ()
    environment: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Substitution:
    """Value of one ``${Placeholder}`` in an ASL file."""

    kind: Literal["function_arn", "bucket_name", "table_name"]
    ref: str  # logical id of the function, bucket or table


@dataclass(frozen=True)
class StateMachineSpec:
    logical_id: str
    env_var: str  # carries the state machine's ARN to the functions granted access to it
    definition_file: str  # relative to the repository root
    substitutions: dict[str, Substitution]
    invokes: tuple[str, ...]  # FunctionSpec.logical_id values the state machine may invoke
    reads_items_from: tuple[BucketGrant, ...] = ()  # Distributed Map ItemReader access


@dataclass(frozen=True)
class HttpRoute:
    method: Literal["GET", "POST", "PUT", "DELETE"]
    path: str  # API Gateway route syntax: /workflows/{workflow_id}
    public: bool = False  # no authorizer: only for what holds no tenant's data (the console page)


@dataclass(frozen=True)
class HttpApiSpec:
    """An API Gateway HTTP API whose declared routes all go to one function (it routes internally)."""

    logical_id: str
    function: str  # FunctionSpec.logical_id
    routes: tuple[HttpRoute, ...]


@dataclass(frozen=True)
class WebSocketApiSpec:
    """An API Gateway WebSocket API whose routes all go to one function; routes are chosen by the frame's
    ``action`` (``$request.body.action``), and frames without a known action reach ``$default``.

    ``$connect`` is authorized with IAM (SigV4) by default; with ``auth=jwt`` the ``jwt_authorizer`` function
    verifies the token a client passes in the ``token_parameter`` query parameter (browsers cannot set an
    Authorization header on a WebSocket) and names the connection's tenant.
    """

    logical_id: str
    function: str  # FunctionSpec.logical_id
    routes: tuple[str, ...]
    stage: str
    env_var: (
        str  # carries the @connections endpoint (https://{api}.execute-api.{region}.amazonaws.com/{stage})
    )
    route_selection: str = "$request.body.action"
    jwt_authorizer: str | None = None  # FunctionSpec.logical_id of the REQUEST authorizer (auth=jwt)
    token_parameter: str = "token"


StreamEventName = Literal["INSERT", "MODIFY", "REMOVE"]
STREAM_EVENT_NAMES: tuple[StreamEventName, ...] = ("INSERT", "MODIFY", "REMOVE")


@dataclass(frozen=True)
class StreamConsumerSpec:
    """A function fed by a table's DynamoDB stream (an event source mapping; the local runtime polls).

    Only records whose ``eventName`` is in ``event_names`` reach the function: the mapping's filter criteria
    in the stack, the poller's filter locally. Records filtered out are consumed, never delivered.
    """

    table: str  # TableSpec.logical_id, whose ``stream`` is set
    function: str
    batch_size: int
    max_batching_window_seconds: int
    event_names: tuple[StreamEventName, ...] = STREAM_EVENT_NAMES

    def filter_pattern(self) -> dict[str, list[str]] | None:
        """The event filter pattern of the mapping (Lambda's filter syntax); None delivers every record."""
        unknown = set(self.event_names) - set(STREAM_EVENT_NAMES)
        if not self.event_names or unknown:
            raise ValueError(f"{self.function}: stream event names must be some of {STREAM_EVENT_NAMES}")
        if set(self.event_names) == set(STREAM_EVENT_NAMES):
            return None
        return {"eventName": list(self.event_names)}

    def accepts(self, record: dict[str, object]) -> bool:
        """Whether a stream record (its ``eventName``) passes the filter."""
        return record.get("eventName") in self.event_names


@dataclass(frozen=True)
class ExecutionStatusRuleSpec:
    """An EventBridge rule on "Step Functions Execution Status Change" of a state machine (the local runtime
    emulates it): terminal statuses no handler sees reach ``function``."""

    logical_id: str
    state_machine: str
    statuses: tuple[str, ...]
    function: str


@dataclass(frozen=True)
class OutputSpec:
    """What one stack output exposes."""

    kind: Literal["state_machine_arn", "bucket_name", "table_name", "http_api_url", "websocket_url"]
    ref: str  # logical id of the state machine, bucket, table or HTTP API


SERVICE_NAME = "segflow"
LAMBDA_ASSET_DIR = "lambdas"
ASL_DIR = "asl"

# CloudWatch Logs retention of every function, state machine and execution-event log group.
LOG_RETENTION_DAYS = 30

DATA_BUCKET = BucketSpec(
    logical_id="DataBucket",
    env_var="SEGFLOW_BUCKET",
    expiring_prefixes=(s3_layout.MANIFESTS, s3_layout.REFERENCE, s3_layout.OUTPUTS, s3_layout.SUBMISSIONS),
)

# Executions (META), their nodes, segment runs and approvals (pk = EXEC#<tenant>#<id>); a tenant's executions,
# newest first, through the by_tenant index (only META items carry its keys).
EXECUTIONS_TABLE = TableSpec(
    logical_id="ExecutionsTable",
    env_var="SEGFLOW_EXECUTIONS_TABLE",
    partition_key="pk",
    sort_key="sk",
    ttl_attribute="expires_at",
    global_indexes=(GlobalIndexSpec("by_tenant", "gsi1pk", "gsi1sk"),),
)

# Workflow versions, their activation history and the active-version pointer. Versions are kept for good;
# only idempotency records of rollback requests carry the TTL attribute.
WORKFLOWS_TABLE = TableSpec(
    logical_id="WorkflowsTable",
    env_var="SEGFLOW_WORKFLOWS_TABLE",
    partition_key="pk",
    sort_key="sk",
    ttl_attribute="expires_at",
    global_indexes=(GlobalIndexSpec("by_tenant", "gsi1pk", "gsi1sk"),),
)

# The execution log: every execution and node state change, in per-execution order (pk = EXEC#<tenant>#<id>,
# sk = SEQ#<seq>). Its stream feeds the WebSocket pusher.
EVENTS_TABLE = TableSpec(
    logical_id="EventsTable",
    env_var="SEGFLOW_EVENTS_TABLE",
    partition_key="pk",
    sort_key="sk",
    ttl_attribute="expires_at",
    stream="NEW_IMAGE",
)

# Live WebSocket connections (CONN#<id> / META, with the executions each watches) and each watched
# execution's feed (FEED#<tenant>#<execution>: its watchers, how far it was pushed, the delivery lease).
# Connections expire after API Gateway's 2-hour limit. (by_subscription is no longer read.)
CONNECTIONS_TABLE = TableSpec(
    logical_id="ConnectionsTable",
    env_var="SEGFLOW_CONNECTIONS_TABLE",
    partition_key="pk",
    sort_key="sk",
    ttl_attribute="expires_at",
    global_indexes=(GlobalIndexSpec("by_subscription", "gsi1pk", "gsi1sk"),),
)

# The deployment log of deploy/model nodes (pk = TENANT#<tenant>, sk = DEPLOY#<id>), newest first per tenant
# (by_tenant) and per model (by_model). An audit trail: no TTL.
DEPLOYMENTS_TABLE = TableSpec(
    logical_id="DeploymentsTable",
    env_var="SEGFLOW_DEPLOYMENTS_TABLE",
    partition_key="pk",
    sort_key="sk",
    global_indexes=(
        GlobalIndexSpec("by_tenant", "gsi1pk", "gsi1sk"),
        GlobalIndexSpec("by_model", "gsi2pk", "gsi2sk"),
    ),
)

BUCKETS: tuple[BucketSpec, ...] = (DATA_BUCKET,)
TABLES: tuple[TableSpec, ...] = (
    EXECUTIONS_TABLE,
    WORKFLOWS_TABLE,
    EVENTS_TABLE,
    CONNECTIONS_TABLE,
    DEPLOYMENTS_TABLE,
)

# deploy/model: SageMaker calls on resources named segflow-* only (segflow.deployments.naming), reading
# any model package of the account's registry, and passing the one execution role the stack was given (CDK
# context ``sagemaker_execution_role_arn``, in this environment variable; the local runtime sets its own).
SAGEMAKER_ROLE_ENV = "SEGFLOW_SAGEMAKER_ROLE_ARN"
SAGEMAKER_ROLE_CONTEXT = "sagemaker_execution_role_arn"
SAGEMAKER_SERVICE_PRINCIPAL = "sagemaker.amazonaws.com"  # the only service the role may be passed to
MODEL_DEPLOY_GRANTS = (
    ServiceGrant(
        "sagemaker",
        ("sagemaker:CreateModel", "sagemaker:DescribeModel", "sagemaker:AddTags"),
        ("model/segflow-*",),
    ),
    # CreateEndpoint and UpdateEndpoint are authorized on the endpoint config they put in service too.
    ServiceGrant(
        "sagemaker",
        (
            "sagemaker:CreateEndpointConfig",
            "sagemaker:DescribeEndpointConfig",
            "sagemaker:AddTags",
            "sagemaker:CreateEndpoint",
            "sagemaker:UpdateEndpoint",
        ),
        ("endpoint-config/segflow-*",),
    ),
    ServiceGrant(
        "sagemaker",
        (
            "sagemaker:CreateEndpoint",
            "sagemaker:UpdateEndpoint",
            "sagemaker:DescribeEndpoint",
            "sagemaker:InvokeEndpoint",
            "sagemaker:AddTags",
        ),
        ("endpoint/segflow-*",),
    ),
    ServiceGrant(
        "sagemaker",
        ("sagemaker:DescribeModelPackage", "sagemaker:DescribeModelPackageGroup"),
        ("model-package/*", "model-package-group/*"),
    ),
    ServiceGrant("sagemaker", ("sagemaker:ListModelPackages",), ("*",)),
)

# Nodes act for a tenant with the credentials of a session of the node role tagged with that tenant
# (``aws:PrincipalTag/tenant``); grants that name this variable hold only for the tenant's own resources.
TENANT_SESSION_TAG = "tenant"
TENANT_VARIABLE = "${aws:PrincipalTag/" + TENANT_SESSION_TAG + "}"

# llm_chat: Bedrock's Converse (it needs bedrock:InvokeModel only; ConverseStream, unused, would need
# InvokeModelWithResponseStream) on foundation models of the stack's region, and through the account's
# inference profiles in that region: cross-region (system-defined) ones and application ones. A profile routes
# to the foundation model in any of its destination regions, which IAM checks there too: those ARNs are
# allowed in any region, but only on requests made through one of these profiles (bedrock:InferenceProfileArn;
# see Bedrock's "Geographic cross-Region inference" IAM requirements). API keys of OpenAI-compatible endpoints
# only from the tenant's own secrets (segflow/<tenant>/…) and SSM parameters (/segflow/<tenant>/…).
BEDROCK_INFERENCE_PROFILES = ("inference-profile/*", "application-inference-profile/*")
LLM_CHAT_GRANTS = (
    ServiceGrant("bedrock", ("bedrock:InvokeModel",), ("foundation-model/*",), arn_scope="region"),
    ServiceGrant("bedrock", ("bedrock:InvokeModel",), BEDROCK_INFERENCE_PROFILES),
    ServiceGrant(
        "bedrock",
        ("bedrock:InvokeModel",),
        ("foundation-model/*",),
        arn_scope="any_region",
        condition=ArnLikeCondition("bedrock:InferenceProfileArn", "bedrock", BEDROCK_INFERENCE_PROFILES),
    ),
    ServiceGrant(
        "secretsmanager", ("secretsmanager:GetSecretValue",), (f"secret:segflow/{TENANT_VARIABLE}/*",)
    ),
    ServiceGrant("ssm", ("ssm:GetParameter",), (f"parameter/segflow/{TENANT_VARIABLE}/*",)),
)

LIVE_WEBSOCKET_API_ID = "LiveWebSocketApi"

WORKFLOW_STATE_MACHINE_ID = "WorkflowStateMachine"

_ENGINE_ENV = {"POWERTOOLS_LOG_LEVEL": "INFO"}
# Set on every function, before its own environment.
COMMON_ENVIRONMENT = {"POWERTOOLS_SERVICE_NAME": SERVICE_NAME, "POWERTOOLS_METRICS_NAMESPACE": SERVICE_NAME}

INITIALIZE_STATE_BAG = FunctionSpec(
    logical_id="InitializeStateBag",
    handler="segflow.handlers.initialize_state_bag.handler",
    description="Validates and partitions a workflow, writes the manifest, returns a pointer-only statebag",
    memory_mb=1024,
    timeout_seconds=120,
    tables=(
        TableGrant(EXECUTIONS_TABLE.logical_id, "read_write"),
        TableGrant(WORKFLOWS_TABLE.logical_id, "read"),
        TableGrant(EVENTS_TABLE.logical_id, "write"),
    ),
    # Plans are read back: the stored plan's summary (a definition planned already is not planned again), and
    # the first stage's items, which it hands to the state machine.
    buckets=(
        BucketGrant(DATA_BUCKET.logical_id, "read", (s3_layout.SUBMISSIONS, s3_layout.WORKFLOWS)),
        BucketGrant(DATA_BUCKET.logical_id, "read_write", (s3_layout.MANIFESTS,)),
        BucketGrant(DATA_BUCKET.logical_id, "write", (s3_layout.REFERENCE, s3_layout.OUTPUTS)),
    ),
    environment=_ENGINE_ENV,
)

EXECUTE_SEGMENT = FunctionSpec(
    logical_id="ExecuteSegment",
    handler="segflow.handlers.execute_segment.handler",
    description="Runs the nodes of one segment, storing each node's outcome once",
    memory_mb=1024,
    timeout_seconds=EXECUTE_SEGMENT_TIMEOUT_SECONDS,  # batches are sized to it
    # The workflows table: a rollback node changes a workflow's active version; the deployments table: a
    # deploy node logs its deployment.
    tables=(
        TableGrant(EXECUTIONS_TABLE.logical_id, "read_write"),
        TableGrant(WORKFLOWS_TABLE.logical_id, "read_write"),
        TableGrant(EVENTS_TABLE.logical_id, "read_write"),  # the log's writers also seal it (a Query)
        TableGrant(DEPLOYMENTS_TABLE.logical_id, "read_write"),
    ),
    buckets=(
        BucketGrant(DATA_BUCKET.logical_id, "read", (s3_layout.MANIFESTS, s3_layout.OUTPUTS)),
        BucketGrant(DATA_BUCKET.logical_id, "write", (s3_layout.OUTPUTS,)),
    ),
    environment=_ENGINE_ENV,
)

# Users' own resources, named at deploy time and granted to the node role only (NODE_ROLE), with only
# these actions: DynamoDB tables (CDK context ``data_tables``) that action/dynamodb_update writes and
# data_query reads (also through their indexes), S3 buckets (``data_buckets``) whose objects data_query reads,
# SNS topics (``notification_topics``) notification nodes publish to.
# The function that runs deploy/model nodes: it gets the SageMaker execution role's ARN in its environment;
# the node role may pass that role (iam:PassRole) to SageMaker.
MODEL_DEPLOY_FUNCTION = EXECUTE_SEGMENT.logical_id
DATA_TABLES_CONTEXT = "data_tables"
DATA_BUCKETS_CONTEXT = "data_buckets"
NOTIFICATION_TOPICS_CONTEXT = "notification_topics"
DATA_TABLE_ACTIONS = ("dynamodb:UpdateItem", "dynamodb:GetItem", "dynamodb:Query")
DATA_TABLE_INDEX_ACTIONS = ("dynamodb:Query",)
DATA_BUCKET_ACTIONS = ("s3:GetObject",)
# On the bucket itself: without it S3 answers a missing key with 403, and data_query's ``missing: "null"``
# could not tell a missing object from a refused one.
DATA_BUCKET_LIST_ACTIONS = ("s3:ListBucket",)
NOTIFICATION_TOPIC_ACTIONS = ("sns:Publish",)
# Users' own Lambda functions that action/lambda_invoke nodes may call (CDK context ``invoke_functions``),
# with their versions and aliases (a qualified invoke needs ``<name>:*``).
INVOKE_FUNCTIONS_CONTEXT = "invoke_functions"
INVOKE_FUNCTION_ACTIONS = ("lambda:InvokeFunction",)


TENANT_DATA_TABLES_CONTEXT = "tenant_data_tables"
TENANT_DATA_BUCKETS_CONTEXT = "tenant_data_buckets"


@dataclass(frozen=True)
class UserResources:
    """The user's own resources nodes may use, by name (the stack's contexts), granted to the node role.

    Tables and buckets shared by several tenants can be named as keyed by tenant: a tenant's nodes then reach
    only items whose partition key is ``<tenant>`` or starts with ``<tenant>#`` (``tenant_tables``), only
    objects under ``<tenant>/`` (``tenant_buckets``), enforced by IAM with the session's tenant tag.
    """

    tables: tuple[str, ...] = ()
    buckets: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    functions: tuple[str, ...] = ()
    tenant_tables: tuple[str, ...] = ()
    tenant_buckets: tuple[str, ...] = ()

    def add(self, more: UserResources) -> UserResources:
        """Both sets of names, each once, in order."""
        return UserResources(
            **{
                name: tuple(dict.fromkeys(getattr(self, name) + getattr(more, name)))
                for name in self.__dataclass_fields__
            }
        )


# The partition key values a tenant's session may reach in a table keyed by tenant (dynamodb:LeadingKeys; the
# key is present on every item request and query, the only actions granted on such tables).
TENANT_LEADING_KEYS = KeyCondition(
    "ForAllValues:StringLike", "dynamodb:LeadingKeys", (TENANT_VARIABLE, f"{TENANT_VARIABLE}#*")
)


def _table_grants(tables: tuple[str, ...], condition: KeyCondition | None = None) -> list[ServiceGrant]:
    """Item reads and writes on the tables, queries on their indexes, under ``condition`` if any."""
    if not tables:
        return []
    return [
        ServiceGrant(
            "dynamodb", DATA_TABLE_ACTIONS, tuple(f"table/{t}" for t in tables), condition=condition
        ),
        ServiceGrant(
            "dynamodb",
            DATA_TABLE_INDEX_ACTIONS,
            tuple(f"table/{t}/index/*" for t in tables),
            condition=condition,
        ),
    ]


def user_resource_grants(resources: UserResources) -> tuple[ServiceGrant, ...]:
    """What the node role may do on the user's resources (nothing that is not named)."""
    grants = _table_grants(resources.tables)
    if resources.buckets:
        buckets = tuple(f"{bucket}/*" for bucket in resources.buckets)
        grants.append(ServiceGrant("s3", DATA_BUCKET_ACTIONS, buckets, arn_scope="none"))
        grants.append(ServiceGrant("s3", DATA_BUCKET_LIST_ACTIONS, resources.buckets, arn_scope="none"))
    grants += _table_grants(resources.tenant_tables, TENANT_LEADING_KEYS)
    if resources.tenant_buckets:
        objects = tuple(f"{bucket}/{TENANT_VARIABLE}/*" for bucket in resources.tenant_buckets)
        grants.append(ServiceGrant("s3", DATA_BUCKET_ACTIONS, objects, arn_scope="none"))
        grants.append(
            ServiceGrant(
                "s3",
                DATA_BUCKET_LIST_ACTIONS,
                resources.tenant_buckets,
                arn_scope="none",
                condition=KeyCondition("StringLike", "s3:prefix", (f"{TENANT_VARIABLE}/*",)),
            )
        )
    if resources.topics:
        grants.append(ServiceGrant("sns", NOTIFICATION_TOPIC_ACTIONS, resources.topics))
    if resources.functions:
        functions = tuple(
            f"function:{name}{qualifier}" for name in resources.functions for qualifier in ("", ":*")
        )
        grants.append(ServiceGrant("lambda", INVOKE_FUNCTION_ACTIONS, functions))
    return tuple(grants)


@dataclass(frozen=True)
class TenantPartitionGrant:
    """Item actions on one of segflow's tables, only in partitions whose key starts with
    ``<key_prefix><tenant>#`` (``dynamodb:LeadingKeys`` against the session's tenant tag) and only with
    ``attributes`` (``dynamodb:Attributes``)."""

    table: str  # TableSpec.logical_id
    actions: tuple[str, ...]
    key_prefix: str
    attributes: tuple[str, ...]

    def leading_keys(self) -> str:
        return f"{self.key_prefix}{TENANT_VARIABLE}#*"


@dataclass(frozen=True)
class NodeRoleSpec:
    """The role nodes act through on a tenant's behalf: never the engine's own.

    ``assumed_by`` functions assume it once per tenant, tagging the session with the tenant
    (``sts:TagSession``); its policy holds the user's resources the stack names, the services nodes call
    (secrets and parameters only under the tenant's path) and, of segflow's own, only what ``partitions``
    names. Everything else of segflow's tables and bucket is denied outright, whatever a node is told.
    """

    logical_id: str
    env_var: str  # carries the role's ARN to the functions that assume it
    assumed_by: tuple[str, ...]  # FunctionSpec.logical_id values
    session_tag: str
    services: tuple[ServiceGrant, ...]
    partitions: tuple[TenantPartitionGrant, ...]
    session_seconds: int


# The marker of an applied user update (segflow.adapters.effect_ledger) commits with it, in the node's
# transaction: the node role may put exactly that item, in its own tenant's effect partitions.
EFFECT_MARKER_PREFIX = "EFFECT#"
EFFECT_MARKER_ATTRIBUTES = ("pk", "sk", "applied_at", "target_table", "expires_at")

NODE_ROLE = NodeRoleSpec(
    logical_id="TenantNodeRole",
    env_var="SEGFLOW_NODE_ROLE_ARN",
    assumed_by=(EXECUTE_SEGMENT.logical_id,),
    session_tag=TENANT_SESSION_TAG,
    services=MODEL_DEPLOY_GRANTS + LLM_CHAT_GRANTS,
    partitions=(
        TenantPartitionGrant(
            EXECUTIONS_TABLE.logical_id, ("dynamodb:PutItem",), EFFECT_MARKER_PREFIX, EFFECT_MARKER_ATTRIBUTES
        ),
    ),
    session_seconds=3600,
)
# What the functions that assume the node role may do with it: assume it, tagging the session.
ASSUME_NODE_ROLE_ACTIONS = ("sts:AssumeRole", "sts:TagSession")


ADVANCE_STAGE = FunctionSpec(
    logical_id="AdvanceStage",
    handler="segflow.handlers.advance_stage.handler",
    description="Checks a finished stage against the records and points the state machine at the next one",
    memory_mb=512,
    timeout_seconds=60,
    tables=(TableGrant(EXECUTIONS_TABLE.logical_id, "read"),),
    buckets=(BucketGrant(DATA_BUCKET.logical_id, "read", (s3_layout.MANIFESTS,)),),
    environment=_ENGINE_ENV,
)

FINALIZE_EXECUTION = FunctionSpec(
    logical_id="FinalizeExecution",
    handler="segflow.handlers.finalize_execution.handler",
    description="Records an execution's outcome and shapes its final output",
    memory_mb=512,
    timeout_seconds=60,
    tables=(
        TableGrant(EXECUTIONS_TABLE.logical_id, "read_write"),
        TableGrant(EVENTS_TABLE.logical_id, "read_write"),
    ),
    # The manifest's sinks (which nodes' outputs make the execution's output).
    buckets=(
        BucketGrant(DATA_BUCKET.logical_id, "read", (s3_layout.MANIFESTS,)),
        BucketGrant(DATA_BUCKET.logical_id, "read_write", (s3_layout.OUTPUTS,)),
    ),
    environment=_ENGINE_ENV,
)

CONTINUE_EXECUTION = FunctionSpec(
    logical_id="ContinueExecution",
    handler="segflow.handlers.continue_execution.handler",
    description="Starts the next part of an execution whose history neared the event limit",
    memory_mb=256,
    timeout_seconds=30,
    tables=(TableGrant(EXECUTIONS_TABLE.logical_id, "read_write"),),
    state_machines=(StateMachineGrant(WORKFLOW_STATE_MACHINE_ID, ("start", "describe")),),
    environment=_ENGINE_ENV,
)

RECORD_EXECUTION_STATUS = FunctionSpec(
    logical_id="RecordExecutionStatus",
    handler="segflow.handlers.record_execution_status.handler",
    description="Records terminal execution statuses no handler saw (aborted, timed out) and publishes them",
    memory_mb=256,
    timeout_seconds=30,
    tables=(
        TableGrant(EXECUTIONS_TABLE.logical_id, "read_write"),
        TableGrant(EVENTS_TABLE.logical_id, "read_write"),
    ),
    environment=_ENGINE_ENV,
)

# Completing a .waitForTaskToken task. AWS cannot scope it: the Service Authorization Reference ("Actions
# defined by AWS Step Functions") lists no resource type and no condition key for states:SendTaskSuccess
# (the task token alone names the task), so the only possible Resource is "*".
TASK_CALLBACK_GRANT = ServiceGrant("states", ("states:SendTaskSuccess",), ("*",))

REQUEST_APPROVAL = FunctionSpec(
    logical_id="RequestApproval",
    handler="segflow.handlers.request_approval.handler",
    description="Stores the task token of a waiting approval (completing it at once if decided already)",
    memory_mb=256,
    timeout_seconds=30,
    tables=(TableGrant(EXECUTIONS_TABLE.logical_id, "read_write"),),
    services=(TASK_CALLBACK_GRANT,),
    environment=_ENGINE_ENV,
)

WEBSOCKET_API = FunctionSpec(
    logical_id="WebSocketApi",
    handler="segflow.handlers.websocket_api.handler",
    description="The live-events WebSocket API: connect, subscribe (replay, then live), unsubscribe, ping",
    memory_mb=512,
    timeout_seconds=29,
    tables=(
        TableGrant(CONNECTIONS_TABLE.logical_id, "read_write"),
        TableGrant(EVENTS_TABLE.logical_id, "read"),
        TableGrant(EXECUTIONS_TABLE.logical_id, "read"),
    ),
    websockets=(WebSocketGrant(LIVE_WEBSOCKET_API_ID),),
    environment=_ENGINE_ENV,
)

# auth=jwt: the REQUEST authorizer of the WebSocket API's $connect. It reads no table and no bucket; its
# environment carries the issuer, audiences and tenant claim (set by the stack from the auth context).
WEBSOCKET_AUTHORIZER = FunctionSpec(
    logical_id="WebSocketAuthorizer",
    handler="segflow.handlers.websocket_authorizer.handler",
    description="Verifies the JWT of a WebSocket connection (auth=jwt) and names its tenant",
    memory_mb=256,
    timeout_seconds=10,
    environment=_ENGINE_ENV,
)

PUSH_EVENTS = FunctionSpec(
    logical_id="PushEvents",
    handler="segflow.handlers.push_events.handler",
    description="Pushes newly stored execution events to the connections subscribed to them",
    memory_mb=512,
    timeout_seconds=60,
    tables=(
        TableGrant(CONNECTIONS_TABLE.logical_id, "read_write"),
        TableGrant(EVENTS_TABLE.logical_id, "read"),
    ),
    websockets=(WebSocketGrant(LIVE_WEBSOCKET_API_ID),),
    environment=_ENGINE_ENV,
)

MANAGEMENT_API = FunctionSpec(
    logical_id="ManagementApi",
    handler="segflow.handlers.management_api.handler",
    description=(
        "The management HTTP API: publish, list, diff and roll back workflows; start, resume, stop, list "
        "and read executions; approvals"
    ),
    memory_mb=512,
    timeout_seconds=29,  # API Gateway's integration timeout
    # The executions table: an approval's decision is written to it; its by_tenant index lists executions.
    # The events table: an execution's log, read for its tenant.
    tables=(
        TableGrant(WORKFLOWS_TABLE.logical_id, "read_write"),
        TableGrant(EXECUTIONS_TABLE.logical_id, "read_write"),
        TableGrant(EVENTS_TABLE.logical_id, "read"),
    ),
    buckets=(
        BucketGrant(DATA_BUCKET.logical_id, "read_write", (s3_layout.WORKFLOWS,)),
        BucketGrant(DATA_BUCKET.logical_id, "read_write", (s3_layout.SUBMISSIONS,)),
        BucketGrant(DATA_BUCKET.logical_id, "read", (s3_layout.OUTPUTS,)),
    ),
    state_machines=(StateMachineGrant(WORKFLOW_STATE_MACHINE_ID, ("start", "describe", "stop")),),
    services=(TASK_CALLBACK_GRANT,),
    environment=_ENGINE_ENV,
)

# Custom node types (segflow.nodes.custom): the modules that register them, named at deploy time (CDK context
# ``node_modules``), are imported by the functions that validate workflows or run nodes.
NODE_MODULES_CONTEXT = "node_modules"
NODE_MODULES_ENV = "SEGFLOW_NODE_MODULES"
NODE_MODULES_FUNCTIONS = (
    INITIALIZE_STATE_BAG.logical_id,
    EXECUTE_SEGMENT.logical_id,
    MANAGEMENT_API.logical_id,
)

# The egress policy of nodes' outbound HTTP calls (segflow.domain.egress): on by default; the stack's contexts
# ``egress_allow`` and ``egress_deny`` (hosts, addresses, CIDRs) reach the functions that run nodes.
EGRESS_ALLOW_CONTEXT = "egress_allow"
EGRESS_DENY_CONTEXT = "egress_deny"
EGRESS_FUNCTIONS = (EXECUTE_SEGMENT.logical_id,)


@dataclass(frozen=True)
class EgressLists:
    """The egress policy's allow and deny lists (each entry a host name, ``*.domain``, address or CIDR)."""

    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()

    def add(self, more: EgressLists) -> EgressLists:
        """Both sets of entries, each once, in order."""
        return EgressLists(
            tuple(dict.fromkeys(self.allow + more.allow)), tuple(dict.fromkeys(self.deny + more.deny))
        )


FUNCTIONS: tuple[FunctionSpec, ...] = (
    INITIALIZE_STATE_BAG,
    EXECUTE_SEGMENT,
    ADVANCE_STAGE,
    FINALIZE_EXECUTION,
    CONTINUE_EXECUTION,
    RECORD_EXECUTION_STATUS,
    REQUEST_APPROVAL,
    WEBSOCKET_API,
    WEBSOCKET_AUTHORIZER,
    PUSH_EVENTS,
    MANAGEMENT_API,
)

WORKFLOW_STATE_MACHINE = StateMachineSpec(
    logical_id=WORKFLOW_STATE_MACHINE_ID,
    env_var="SEGFLOW_STATE_MACHINE_ARN",
    definition_file=f"{ASL_DIR}/workflow.asl.json",
    substitutions={
        "InitializeStateBagArn": Substitution("function_arn", INITIALIZE_STATE_BAG.logical_id),
        "ExecuteSegmentArn": Substitution("function_arn", EXECUTE_SEGMENT.logical_id),
        "AdvanceStageArn": Substitution("function_arn", ADVANCE_STAGE.logical_id),
        "FinalizeExecutionArn": Substitution("function_arn", FINALIZE_EXECUTION.logical_id),
        "ContinueExecutionArn": Substitution("function_arn", CONTINUE_EXECUTION.logical_id),
        "RequestApprovalArn": Substitution("function_arn", REQUEST_APPROVAL.logical_id),
        "DataBucketName": Substitution("bucket_name", DATA_BUCKET.logical_id),
    },
    invokes=(
        INITIALIZE_STATE_BAG.logical_id,
        EXECUTE_SEGMENT.logical_id,
        ADVANCE_STAGE.logical_id,
        FINALIZE_EXECUTION.logical_id,
        CONTINUE_EXECUTION.logical_id,
        REQUEST_APPROVAL.logical_id,
    ),
    reads_items_from=(BucketGrant(DATA_BUCKET.logical_id, "read", (s3_layout.MANIFESTS,)),),
)

STATE_MACHINES: tuple[StateMachineSpec, ...] = (WORKFLOW_STATE_MACHINE,)

MANAGEMENT_HTTP_API = HttpApiSpec(
    logical_id="ManagementHttpApi",
    function=MANAGEMENT_API.logical_id,
    routes=(
        HttpRoute("POST", "/workflows"),
        HttpRoute("GET", "/workflows"),
        HttpRoute("GET", "/workflows/{workflow_id}"),
        HttpRoute("GET", "/workflows/{workflow_id}/versions"),
        HttpRoute("GET", "/workflows/{workflow_id}/versions/{version}"),
        HttpRoute("GET", "/workflows/{workflow_id}/diff"),
        HttpRoute("POST", "/workflows/{workflow_id}/activate"),
        HttpRoute("POST", "/workflows/{workflow_id}/rollback"),
        HttpRoute("POST", "/executions"),
        HttpRoute("GET", "/executions"),
        HttpRoute("GET", "/executions/{execution_id}"),
        HttpRoute("GET", "/executions/{execution_id}/events"),
        HttpRoute("GET", "/executions/{execution_id}/checkpoints"),
        HttpRoute("GET", "/executions/{execution_id}/nodes/{node_id}"),
        HttpRoute("GET", "/executions/{execution_id}/output"),
        HttpRoute("GET", "/executions/{execution_id}/workflow"),
        HttpRoute("POST", "/executions/{execution_id}/resume"),
        HttpRoute("POST", "/executions/{execution_id}/stop"),
        HttpRoute("POST", "/executions/{execution_id}/approvals/{node_id}"),
        HttpRoute("GET", "/openapi.json"),
        HttpRoute("GET", "/console", public=True),
    ),
)

HTTP_APIS: tuple[HttpApiSpec, ...] = (MANAGEMENT_HTTP_API,)

LIVE_WEBSOCKET_API = WebSocketApiSpec(
    logical_id=LIVE_WEBSOCKET_API_ID,
    function=WEBSOCKET_API.logical_id,
    routes=("$connect", "$disconnect", "$default", "subscribe", "unsubscribe", "ping"),
    stage="live",
    env_var="SEGFLOW_WEBSOCKET_CALLBACK_URL",
    jwt_authorizer=WEBSOCKET_AUTHORIZER.logical_id,
)

WEBSOCKET_APIS: tuple[WebSocketApiSpec, ...] = (LIVE_WEBSOCKET_API,)

STREAM_CONSUMERS: tuple[StreamConsumerSpec, ...] = (
    StreamConsumerSpec(
        table=EVENTS_TABLE.logical_id,
        function=PUSH_EVENTS.logical_id,
        batch_size=500,
        max_batching_window_seconds=0,
        # New events only: TTL deletions (REMOVE) and any rewrite (MODIFY) carry nothing to push.
        event_names=("INSERT",),
    ),
)

EXECUTION_STATUS_RULES: tuple[ExecutionStatusRuleSpec, ...] = (
    ExecutionStatusRuleSpec(
        logical_id="ExecutionStatusRule",
        state_machine=WORKFLOW_STATE_MACHINE_ID,
        statuses=("FAILED", "TIMED_OUT", "ABORTED"),
        function=RECORD_EXECUTION_STATUS.logical_id,
    ),
)

# Names of the stack outputs; the CLI finds resources through them (real AWS) or the local endpoint.
OUTPUT_STATE_MACHINE_ARN = "StateMachineArn"
OUTPUT_BUCKET_NAME = "DataBucketName"
OUTPUT_EXECUTIONS_TABLE_NAME = "ExecutionsTableName"
OUTPUT_WORKFLOWS_TABLE_NAME = "WorkflowsTableName"
OUTPUT_MANAGEMENT_API_URL = "ManagementApiUrl"
OUTPUT_WEBSOCKET_URL = "LiveWebSocketUrl"
OUTPUT_EVENTS_TABLE_NAME = "EventsTableName"
OUTPUT_DEPLOYMENTS_TABLE_NAME = "DeploymentsTableName"

STACK_OUTPUTS: dict[str, OutputSpec] = {
    OUTPUT_STATE_MACHINE_ARN: OutputSpec("state_machine_arn", WORKFLOW_STATE_MACHINE.logical_id),
    OUTPUT_BUCKET_NAME: OutputSpec("bucket_name", DATA_BUCKET.logical_id),
    OUTPUT_EXECUTIONS_TABLE_NAME: OutputSpec("table_name", EXECUTIONS_TABLE.logical_id),
    OUTPUT_WORKFLOWS_TABLE_NAME: OutputSpec("table_name", WORKFLOWS_TABLE.logical_id),
    OUTPUT_MANAGEMENT_API_URL: OutputSpec("http_api_url", MANAGEMENT_HTTP_API.logical_id),
    OUTPUT_WEBSOCKET_URL: OutputSpec("websocket_url", LIVE_WEBSOCKET_API.logical_id),
    OUTPUT_EVENTS_TABLE_NAME: OutputSpec("table_name", EVENTS_TABLE.logical_id),
    OUTPUT_DEPLOYMENTS_TABLE_NAME: OutputSpec("table_name", DEPLOYMENTS_TABLE.logical_id),
}


def function_by_id(logical_id: str) -> FunctionSpec:
    for spec in FUNCTIONS:
        if spec.logical_id == logical_id:
            return spec
    raise KeyError(logical_id)


def resource_env_vars(spec: FunctionSpec) -> dict[str, str]:
    """Environment variable -> logical id of each table and bucket the function is granted access to.

    A function learns the names of exactly the resources it may touch; the deployer maps each logical
    id to the resource's real name (a state machine's ARN).
    """
    env_vars = {table.env_var: table.logical_id for table in TABLES}
    env_vars.update({bucket.env_var: bucket.logical_id for bucket in BUCKETS})
    env_vars.update({machine.env_var: machine.logical_id for machine in STATE_MACHINES})
    env_vars.update({api.env_var: api.logical_id for api in WEBSOCKET_APIS})
    env_vars[NODE_ROLE.env_var] = NODE_ROLE.logical_id
    granted = (
        {grant.table for grant in spec.tables}
        | {grant.bucket for grant in spec.buckets}
        | {grant.state_machine for grant in spec.state_machines}
        | {grant.api for grant in spec.websockets}
        | ({NODE_ROLE.logical_id} if spec.logical_id in NODE_ROLE.assumed_by else set())
    )
    return {name: logical_id for name, logical_id in env_vars.items() if logical_id in granted}


def constant_environment(spec: FunctionSpec) -> dict[str, str]:
    """A function's environment variables other than resource names: common defaults, then its own."""
    return {**COMMON_ENVIRONMENT, **spec.environment}


def settings_environment(
    spec: FunctionSpec,
    retention_days: int,
    sagemaker_role_arn: str,
    node_modules: tuple[str, ...] = (),
    egress: EgressLists | None = None,
) -> dict[str, str]:
    """The deployment's settings a function reads (the stack's context, or the local runtime's values)."""
    settings = {RETENTION_DAYS_ENV: str(retention_days)}
    if spec.logical_id in EGRESS_FUNCTIONS:  # empty lists: the policy's defaults alone
        lists = egress or EgressLists()
        settings[EGRESS_ALLOW_ENV] = ",".join(lists.allow)
        settings[EGRESS_DENY_ENV] = ",".join(lists.deny)
    if spec.logical_id == MODEL_DEPLOY_FUNCTION:  # empty: a deploy node says which context is missing
        settings[SAGEMAKER_ROLE_ENV] = sagemaker_role_arn
    if node_modules and spec.logical_id in NODE_MODULES_FUNCTIONS:
        settings[NODE_MODULES_ENV] = ",".join(node_modules)
    return settings
