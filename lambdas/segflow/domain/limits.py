"""Every size, time and count threshold segflow relies on, in one place.

Step Functions rejects any state input or output over 262,144 bytes with ``States.DataLimitExceeded``,
which ``States.ALL`` cannot catch. segflow keeps every state payload far below that: the statebag holds
pointers only, node outputs live in the output store, and a segment's config is bounded.
"""

from __future__ import annotations

import os

# Hard AWS limit on a state's input or output.
STEP_FUNCTIONS_PAYLOAD_LIMIT_BYTES = 262_144

# What segflow promises for any state payload, whatever the workflow's size or its outputs.
STATE_PAYLOAD_BUDGET_BYTES = 4_096

# A segment_config (one Map item) is at most this large; bigger parts of it move to its S3 body.
SEGMENT_CONFIG_MAX_BYTES = 2_400

# A single node whose own config is larger than this has its config stored in the segment body.
NODE_CONFIG_INLINE_MAX_BYTES = 1_024

# A stage run as a Map whose items (pointers to its batches) together fit this budget (measured as json.dumps
# writes them, with spaces) passes them inline to the Map; larger ones are read from S3.
# Budget check: statebag (<= ~700 bytes) + cursor overhead + these items stays under the 4 KB state budget.
INLINE_STAGE_MAX_BYTES = 2_900

# Node outputs up to this size are stored inline in DynamoDB; larger ones go to S3 (item limit is 400 KB).
OUTPUT_INLINE_MAX_BYTES = 32_768

# A published workflow definition is kept inline in its version item up to this size, otherwise in S3
# (the same trade-off as node outputs: DynamoDB items stop at 400 KB).
DEFINITION_INLINE_MAX_BYTES = OUTPUT_INLINE_MAX_BYTES

# Publishing and activating retry this often when concurrent writers change the workflow first.
VERSION_WRITE_MAX_ATTEMPTS = 200

# A DynamoDB transaction cancelled only by contention (another transaction on one of its items, throttling) is
# sent again up to this many times in all, after a jittered wait that doubles from the base up to the cap.
TRANSACTION_MAX_ATTEMPTS = 8
TRANSACTION_BACKOFF_BASE_SECONDS = 0.02
TRANSACTION_BACKOFF_CAP_SECONDS = 1.0

# The final execution output is returned inline up to this size, otherwise as an S3 reference.
FINAL_OUTPUT_INLINE_MAX_BYTES = 2_048

# An error message kept in a record or an event is cut to this length.
ERROR_MESSAGE_MAX_CHARS = 1_000

# A segment stops starting new nodes when less than this remains before the Lambda deadline.
SEGMENT_YIELD_MARGIN_MS = 20_000

# HTTP calls made by nodes.
HTTP_DEFAULT_TIMEOUT_SECONDS = 30.0
# An AWS SDK call waits this long for an answer (botocore's default read timeout; segflow's clients keep it).
AWS_SDK_READ_TIMEOUT_SECONDS = 60.0
# A node that may need more time than its invocation has left waits for the next invocation, unless what is
# left is already this share of what a fresh invocation gives (it is then started, and waits at most that).
NODE_START_SHARE_OF_FRESH_INVOCATION = 0.95
HTTP_MAX_RESPONSE_BYTES = 10 * 1024 * 1024
# An answer is read in pieces of this size, each waiting at most the request's time left.
HTTP_READ_CHUNK_BYTES = 64 * 1024
# A node that opts in to following redirects (same origin only) follows at most this many in a row.
HTTP_MAX_REDIRECTS = 5

# data_query: what it reads (an S3 object, a page of items, an HTTP answer) is read up to this size, and its
# result (after ``select``) may be at most ``max_result_bytes`` of JSON: this by default, the cap at most.
DATA_QUERY_MAX_SOURCE_BYTES = HTTP_MAX_RESPONSE_BYTES
DATA_QUERY_MAX_RESULT_BYTES = 1024 * 1024
DATA_QUERY_RESULT_CAP_BYTES = 5 * 1024 * 1024
# DynamoDB Query: items per query unless the node sets a limit, and the most a node may ask for.
DATA_QUERY_DEFAULT_ITEMS = 100
DATA_QUERY_MAX_ITEMS = 10_000

# Notifications: SNS subjects stop at 100 characters; FIFO group and deduplication ids at 128.
SNS_SUBJECT_MAX_CHARS = 100
SNS_FIFO_ID_MAX_CHARS = 128

# API Gateway HTTP APIs refuse request bodies larger than this (the local gateway enforces it too).
HTTP_API_MAX_REQUEST_BYTES = 10 * 1024 * 1024
# An output the management API returns in its answer is at most this large (a Lambda function answers with
# 6 MB at most, the rest of the answer included).
API_OUTPUT_MAX_BYTES = 5 * 1024 * 1024
# How long the management API's link to an output kept in S3 works (a presigned GET).
OUTPUT_LINK_SECONDS = 300

# Workflow shape limits checked at validation time.
MAX_NODES_PER_WORKFLOW = 100_000
MAX_NODE_ID_LENGTH = 128
# Texts that are copied into DynamoDB items (a workflow's name into each execution record, a node's label and
# a judgment's chosen edge condition into node records; an item holds at most 400 KB in all): kept short.
MAX_NAME_CHARS = 256
MAX_LABEL_CHARS = 256
MAX_EDGE_CONDITION_CHARS = 256
MAX_DESCRIPTION_CHARS = 4_096
# A workflow document (as compact JSON) is at most this large: room for MAX_NODES_PER_WORKFLOW nodes of about
# 200 bytes each with their edges, validated and partitioned in InitializeStateBag's 1,024 MB (a 16.6 MB
# 100,000-node chain peaks at about 590 MB). Through the management API a document is bounded by its request
# cap (HTTP_API_MAX_REQUEST_BYTES) as well; a larger one is submitted by S3 reference, as `segflow run` does.
# An execution input, which travels by S3 reference past EXECUTION_INPUT_INLINE_MAX_BYTES, is at most what a
# segment can hold in memory beside its outputs (the API's own request cap still bounds what it takes). Both
# nest objects and lists at most MAX_JSON_DEPTH deep: deeper JSON is refused by validation, never left to end
# in a RecursionError while it is copied, rendered or stored.
MAX_WORKFLOW_BYTES = 20 * 1024 * 1024
MAX_EXECUTION_INPUT_BYTES = 128 * 1024 * 1024
MAX_JSON_DEPTH = 64

# The workflow definition and user input arrive by reference when they are larger than this.
EXECUTION_INPUT_INLINE_MAX_BYTES = 2_048

# Distributed Map concurrency for stages read from S3, and inline Map concurrency (AWS caps inline at 40).
DISTRIBUTED_MAP_MAX_CONCURRENCY = 100
INLINE_MAP_MAX_CONCURRENCY = 40

# A stage with side effects runs in batches: one batch is one ExecuteSegment invocation (one Map item, or the
# Task of a stage that fits one batch) running up to BATCH_MAX_SEGMENTS of the stage's segments, at most
# BATCH_MAX_CONCURRENT_SEGMENTS of them at once (threads: their nodes' I/O overlaps). A batch is also sized
# so that its segments' worst case (each node's timeout or its type's ``blocks_for``, spread over its type's
# concurrency) fits ExecuteSegment's timeout, less the yield margin: a stage of long calls gets smaller
# batches (one segment each, at worst), rather than batches that predictably run out of time and yield.
BATCH_MAX_SEGMENTS = 100
BATCH_MAX_CONCURRENT_SEGMENTS = 64
# ExecuteSegment's timeout (lambdas/segflow/declaration.py gives its function this).
EXECUTE_SEGMENT_TIMEOUT_SECONDS = 900

# How many nodes of one type a batch runs at once (NodeType.max_concurrency; a type without one is bounded by
# BATCH_MAX_CONCURRENT_SEGMENTS only). The bounds: what a type holds in memory (an HTTP answer or a query's
# source up to 10 MB, a model's answer up to 4 MB, a Lambda payload up to 6 MB, in a 1 GB function), and the
# rate its service takes from one caller before it throttles (model endpoints, SageMaker's control plane). A
# limit holds per invocation: a Map runs several batches at once.
API_CALL_MAX_CONCURRENCY = 32
LLM_CHAT_MAX_CONCURRENCY = 8
LAMBDA_INVOKE_MAX_CONCURRENCY = 16
DATA_QUERY_MAX_CONCURRENCY = 8
DYNAMODB_UPDATE_MAX_CONCURRENCY = 16
NOTIFICATION_MAX_CONCURRENCY = 16
# for_each and loop run their own sub-flows up to FOR_EACH_MAX_CONCURRENCY items at once.
SUB_FLOW_MAX_CONCURRENCY = 2
MODEL_DEPLOY_MAX_CONCURRENCY = 2
# A rollback changes a workflow's active version: two at once would only contend for it.
ROLLBACK_MAX_CONCURRENCY = 1

# How a plan's stages are stored: STAGES_PER_CHUNK stages to an object (stage s in chunk
# s // STAGES_PER_CHUNK), each with its segment configs when they take at most STAGE_IN_CHUNK_MAX_BYTES; a
# larger stage, and a stage run in several batches (whose invocations each read their own batch, by byte
# range), has an object of its own.
STAGES_PER_CHUNK = 64
STAGE_IN_CHUNK_MAX_BYTES = 32 * 1024

# A stage with side effects runs as a Map, and the Map's collected result counts toward the payload limit
# even though ResultPath discards it. Each child outputs {} (OutputPath: null in asl/workflow.asl.json), so
# the result grows by 3 bytes a batch ("[{},{},...]"): 262,144 bytes would hold 87,380 of them, whatever their
# size. A stage holds at most this many segments with side effects; a wider one is refused before anything
# runs (a batch holds one segment at worst).
MAP_CHILD_RESULT_BYTES = len("{},")
MAP_STAGE_MAX_SEGMENTS = 80_000

# Node records, reference copies and plans expire after this many days (DynamoDB TTL, S3 lifecycle),
# unless the stack sets another retention (CDK context ``retention_days`` -> this environment variable).
EXECUTION_DATA_RETENTION_DAYS = 30
RETENTION_DAYS_ENV = "SEGFLOW_RETENTION_DAYS"


def retention_days() -> int:
    value = os.environ.get(RETENTION_DAYS_ENV)
    return int(value) if value else EXECUTION_DATA_RETENTION_DAYS


# A stored plan (written once per definition and code, :mod:`segflow.domain.stored_plan`) is reused while it
# is younger than this share of the retention period, and written again after: an execution that reuses it
# has at least the rest of the period before its plan's objects expire.
PLAN_REUSE_SHARE_OF_RETENTION = 0.5


# Step Functions ends an execution whose history reaches this many events.
STEP_FUNCTIONS_HISTORY_EVENT_LIMIT = 25_000

# segflow continues an execution in a new one before its estimated history passes this: the rest of the
# limit absorbs what the estimate cannot see (each retried Lambda attempt adds 3 events).
HISTORY_EVENT_BUDGET = 20_000

# Step Functions execution names stop at 80 characters. segflow names an execution ``<tenant>.<id>``, so an
# execution id has 80 - len(tenant) - 1 characters at most (16 for the longest tenant id, 63 characters).
EXECUTION_NAME_MAX_CHARS = 80
TENANT_ID_MAX_CHARS = 63

# API Gateway WebSocket: a message to a client is at most 128 KB, a frame from one 32 KB, a connection lives
# at most 2 hours. segflow packs events into messages up to its own budget, well under the limit.
WEBSOCKET_MESSAGE_MAX_BYTES = 128 * 1024
WEBSOCKET_FRAME_MAX_BYTES = 32 * 1024  # a client's frame; larger ones close the connection (1009)
# An execution named by its id or ARN in a client's frame (Step Functions ARNs stay far below this).
EXECUTION_REFERENCE_MAX_CHARS = 2048
LIVE_MESSAGE_BUDGET_BYTES = 96 * 1024
WEBSOCKET_CONNECTION_MAX_SECONDS = 2 * 3600

# The local WebSocket gateway keeps at most this much unread for one client; a client further behind is
# dropped (1008) rather than held on to (API Gateway, too, takes a post without waiting for the client).
LOCAL_WEBSOCKET_OUTBOX_MAX_BYTES = 16 * 1024 * 1024
# Connections one delivery posts to at once (PostToConnection calls in flight): each connection's messages
# still go in order, and a slow one holds up only itself.
LIVE_POST_CONCURRENCY = 16
# One connection watches at most this many executions at once (a subscribe past it is refused with an error
# frame; API Gateway bounds the connections, segflow what each may ask of the pushers).
LIVE_SUBSCRIPTIONS_PER_CONNECTION_MAX = 100
# A sender holds an execution feed's delivery lease this long at most (a crashed sender's lease then lapses).
EVENT_DELIVERY_LEASE_SECONDS = 30
# A sender that finds events stored while it posted goes on with them under its lease for this long at most,
# rather than leaving them to the next stream batch (which would take the lease again first).
LIVE_DELIVERY_GO_ON_SECONDS = 2.0
# Events read from the log per query when replaying or pushing.
EVENT_PAGE_SIZE = 500
# DynamoDB takes at most 100 items in one transaction, 4 MB in all; an item holds at most 400 KB.
DYNAMODB_TRANSACTION_MAX_ITEMS = 100
DYNAMODB_ITEM_MAX_BYTES = 400 * 1024
# Pure nodes' checkpoints and their events are written as pages (adapters/journal.py): one item of the
# records holding many node records, one item of the log holding consecutive events, both compressed. A page
# of node records holds at most this much JSON before compression (so its item stays under DynamoDB's limit
# even when the outputs do not compress), a page of the log at most this many events (each at most about
# 2 KB: its texts are cut to EVENT_TEXT_MAX_CHARS).
NODE_PAGE_MAX_BYTES = 256 * 1024
LOG_PAGE_MAX_EVENTS = 150
# The segment runner holds the records of pure nodes (and the outcomes of the segments they finish) and
# writes them in one transaction before any side effect or pause, at the end of its invocation, or once it
# holds this many nodes, this much record JSON, or this many segments (a page of records per segment, all in
# one transaction, with the pages of their events).
NODE_BATCH_MAX_NODES = 600
NODE_BATCH_MAX_BYTES = 1536 * 1024
NODE_BATCH_MAX_SEGMENTS = 60
# A segment names the segments its incoming edges and reads come from (where their records' pages are) when
# they are at most this many; a segment reading more (a join of many branches) reads all of the execution's
# pages at once instead of one query per segment.
SEGMENT_SOURCES_MAX = 16
# A log write kept busy (transaction conflicts, throttling) is retried with jittered exponential backoff for
# this long at most, and never closer than the margin to the Lambda deadline; then EventLogContention.
EVENT_LOG_RETRY_SECONDS = 20.0
EVENT_LOG_DEADLINE_MARGIN_MS = 5_000
EVENT_LOG_BACKOFF_BASE_SECONDS = 0.02
EVENT_LOG_BACKOFF_CAP_SECONDS = 1.0
# Sealing the log: a number handed out this long ago and still empty belongs to a writer that died (a live
# one stores or closes its numbers within its retry time plus the time its requests take); it is closed with a
# tombstone, and a writer merely slower than that takes new numbers. Writers run such a pass at most this
# often per execution. Readers wait at an empty number, so a dead writer's number holds back the events after
# it for about grace + interval while the execution writes, and until its end at the latest.
EVENT_LOG_SEAL_GRACE_SECONDS = EVENT_LOG_RETRY_SECONDS + 10
EVENT_LOG_SEAL_INTERVAL_SECONDS = 5.0
# An event's reason or error is cut to this length (outputs never travel in events, only their S3 key).
EVENT_TEXT_MAX_CHARS = 500

# Model deployments (deploy/model). SageMaker names (models, endpoint configs, endpoints) stop at 63
# characters; a canary may take at most half of the traffic; bake times and linear intervals run 0-3,600 s.
SAGEMAKER_NAME_MAX_CHARS = 63
CANARY_MAX_PERCENT = 50
SAGEMAKER_WAIT_INTERVAL_MAX_SECONDS = 3_600
# Between two DescribeEndpoint polls the state machine waits this long unless the node says otherwise, and a
# deployment that is not done after its maximum duration fails the node.
DEPLOY_POLL_INTERVAL_SECONDS = 30
DEPLOY_MAX_DURATION_SECONDS = 3_600
DEPLOY_MAX_DURATION_LIMIT_SECONDS = 6 * 3_600
# A health probe's answer is read up to this size.
HEALTH_PROBE_MAX_RESPONSE_BYTES = 64 * 1024

# Approval nodes wait at most this long for a decision (Step Functions' task tokens last up to a year), and
# what an approver may add is cut to this length.
APPROVAL_MAX_WAIT_SECONDS = 365 * 24 * 3600
APPROVAL_DEFAULT_WAIT_SECONDS = 24 * 3600
APPROVAL_COMMENT_MAX_CHARS = 2_000

# Sub-flows (for_each, loop) run inside their node's segment: at most this many items or iterations, this many
# items at once.
FOR_EACH_MAX_ITEMS = 10_000
FOR_EACH_MAX_CONCURRENCY = 64
LOOP_MAX_ITERATIONS = 1_000

# llm_chat: what a request may ask for, and how much of an answer is read.
LLM_MAX_TOKENS_LIMIT = 200_000
LLM_MAX_STOP_SEQUENCES = 4
LLM_MAX_RESPONSE_BYTES = 4 * 1024 * 1024

# action/lambda_invoke: Lambda's limit on a synchronous (RequestResponse) request and response payload, and
# how long segflow waits for an answer at most (a function runs up to 15 minutes; so does ExecuteSegment).
LAMBDA_INVOKE_MAX_PAYLOAD_BYTES = 6_291_456
LAMBDA_INVOKE_MAX_WAIT_SECONDS = 900.0
# Lambda's limit on the base64 ClientContext (segflow puts the idempotency key and execution there).
LAMBDA_CLIENT_CONTEXT_MAX_BYTES = 3_583

# Listing executions: a page holds this many by default, at most the maximum.
EXECUTION_LIST_PAGE_DEFAULT = 50
EXECUTION_LIST_PAGE_MAX = 100
# StopExecution's limits on why an execution was stopped: a short error name and a longer cause.
STOP_ERROR_MAX_CHARS = 256
STOP_CAUSE_MAX_CHARS = 32_768

# A resume's claim on the execution it resumes (its META's resumed_by) whose execution never started (the
# resuming process died between the claim and StartExecution) may be taken over by another resume after
# this long: Step Functions' DescribeExecution may not show a just-started execution for a moment.
RESUME_CLAIM_STALE_SECONDS = 120.0

# An Idempotency-Key of the management API (publishing, starting) is remembered this long, per tenant; a
# key is 1 to this many characters.
REQUEST_KEY_TTL_SECONDS = 24 * 3600
REQUEST_KEY_MAX_CHARS = 255
# Describing an execution started this recently that Step Functions does not show yet (DescribeExecution is
# eventually consistent) answers RUNNING from its launch note; after this long the note no longer counts.
LAUNCH_PENDING_MAX_SECONDS = 300.0
# How long the note of a start is kept (it is read only in the first LAUNCH_PENDING_MAX_SECONDS).
LAUNCH_NOTE_KEPT_SECONDS = 86_400
