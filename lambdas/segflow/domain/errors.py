"""Every error segflow raises on purpose, under one base: what went wrong, in the user's terms.

``kind`` says how a caller should treat it, and is mapped once to an HTTP status (``segflow.api.errors``) and
the class name once to a Step Functions error name (``segflow.handlers.errors``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from segflow.domain.records import NodeRecord

ErrorKind = Literal[
    "invalid", "unauthenticated", "forbidden", "not_found", "conflict", "unavailable", "failed"
]


class SegflowError(Exception):
    """The base of segflow's own errors. ``code`` is what APIs report; ``kind`` how callers treat it."""

    code = "SegflowError"
    kind: ErrorKind = "failed"

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "code" not in cls.__dict__:
            cls.code = cls.__name__


# -- nodes: what a node's failure is called (what retry policies and users see) --


class NodeFailure(SegflowError):
    """A node failed. ``error_type`` is what retry policies and users see."""

    error_type = "NodeFailure"
    retryable = False

    def __init__(self, message: str, error_type: str | None = None) -> None:
        super().__init__(message)
        if error_type:
            self.error_type = error_type


class ConfigError(NodeFailure):
    """The node's config is invalid once its templates are rendered."""

    error_type = "ConfigError"


class TemplateEvaluationError(NodeFailure):
    """A template of the node's config could not be evaluated."""

    error_type = "TemplateEvaluationError"


class NodeTimedOut(NodeFailure):
    """The node's own deadline passed: it did not finish within its `timeout_seconds` (an HTTP request it was
    waiting for included). Nothing more is sent for the attempt.

    Raised by :mod:`segflow.domain.deadline` and :func:`segflow.nodes.base.run_executor`."""

    error_type = "NodeTimeout"
    retryable = True


class EgressDenied(NodeFailure):
    """An outbound call the egress policy refuses (:mod:`segflow.domain.egress`): nothing was sent, and a
    retry would be refused again."""

    error_type = "EgressDenied"


class ServiceUnavailable(NodeFailure):
    """A service the node needs is not deployed or not reachable."""

    error_type = "ServiceUnavailable"


class DeadlineReached(NodeFailure):
    """The invocation's deadline cut the node short, not its own `timeout_seconds`; only a node cut with all
    the time an invocation gives fails with it, any other runs again in the next invocation.

    The segment yields and the next invocation runs the node again
    (:class:`~segflow.engine.segment_runner.SegmentRunner`) with the same idempotency key."""

    error_type = "InvocationDeadline"
    retryable = True


# -- what the services nodes use raise (:mod:`segflow.nodes.services`): the node fails with them --


class DynamoDbError(NodeFailure):
    """DynamoDB refused the node's request (a condition, a missing table, a malformed key)."""

    error_type = "DynamoDbError"


class DynamoDbBusy(NodeFailure):
    """DynamoDB throttled the node's request or failed inside; a retry may succeed."""

    error_type = "DynamoDbBusy"
    retryable = True


class EffectConditionFailed(SegflowError):
    """The user's condition expression did not hold; nothing was written."""

    kind = "conflict"


class S3Error(NodeFailure):
    """S3 refused the node's request."""

    error_type = "S3Error"


class S3Busy(NodeFailure):
    """S3 throttled the node's request or failed inside; a retry may succeed."""

    error_type = "S3Busy"
    retryable = True


class ResultTooLarge(NodeFailure):
    """The node's result is larger than segflow keeps."""

    error_type = "ResultTooLarge"


class TopicNotFound(NodeFailure):
    """The SNS topic the notification names does not exist."""

    error_type = "TopicNotFound"


class SnsError(NodeFailure):
    """SNS refused the notification."""

    error_type = "SnsError"


class SnsBusy(NodeFailure):
    """SNS throttled the notification or failed inside; a retry may succeed."""

    error_type = "SnsBusy"
    retryable = True


class LambdaThrottled(NodeFailure):
    """Lambda throttled the invocation (TooManyRequests); a retry may succeed."""

    error_type = "LambdaThrottled"
    retryable = True


class LambdaUnavailable(NodeFailure):
    """Lambda could not run the function (a service error); a retry may succeed."""

    error_type = "LambdaUnavailable"
    retryable = True


class LambdaTimeout(NodeFailure):
    """The invoked function ran out of its own timeout."""

    error_type = "LambdaTimeout"
    retryable = True


# -- the engine: raised out of a handler; the class names become Step Functions error names --


class NodeFailed(SegflowError):
    """A node failed for good (after its retries); the execution fails with this error."""


class UpstreamIncomplete(SegflowError):
    """A segment ran before a node it depends on finished: a stage was not really complete."""


class StageFailed(SegflowError):
    """A segment of the stage recorded a failure (also catches failures a Map did not propagate)."""


class StageIncomplete(SegflowError):
    """A segment of the stage left no record: it never ran or died without reporting."""


class NodeTypeUnavailable(SegflowError):
    """A node type validates but has no executor in this release."""


# -- records and the execution log --


class CheckpointConflict(SegflowError):
    """Another attempt of the segment already recorded this node's outcome; that record stands."""

    def __init__(self, stored: NodeRecord) -> None:
        super().__init__(f"node '{stored.node_id}' is already {stored.status}")
        self.stored = stored


class ExecutionNotStarted(SegflowError):
    """The execution has no META item yet: nothing can be logged for it."""


class ExecutionFinished(SegflowError):
    """The execution is no longer RUNNING: its end was already recorded (with its event)."""


# -- live delivery --


class ConnectionGone(SegflowError):
    """The client is no longer connected (API Gateway answered 410 GoneException)."""

    kind = "not_found"


# -- stored documents --


class DefinitionIntegrityError(SegflowError):
    """A stored workflow definition (or another content-addressed submission) no longer hashes to the digest
    stored with it: it was changed after it was stored. The execution fails before anything of it runs."""

    code = "DefinitionTampered"
