"""What every node type shares: its declaration, the context it runs with, its result and its errors."""

from __future__ import annotations

import builtins
import contextvars
import dataclasses
import math
import threading
from collections.abc import Callable
from concurrent import futures
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from segflow.domain.deadline import Deadline, node_deadline
from segflow.domain.effect_keys import idempotency_key
from segflow.domain.errors import DeadlineReached, NodeFailure
from segflow.nodes.services import NodeServices

# segment: runs in the segment; wait: the state machine waits (Wait state); approval: the state machine waits
# for a decision (a task token) before the segment goes on.
Placement = Literal["segment", "wait", "approval"]


@dataclass(frozen=True)
class ExecutionInfo:
    tenant_id: str
    execution_id: str
    workflow_id: str
    started_at: str
    started_by: str | None = None  # the principal that started the execution, when it said so
    # The first execution of its chain of resumes ("": this one): side effects are keyed by it.
    origin_execution_id: str = ""

    @property
    def origin(self) -> str:
        return self.origin_execution_id or self.execution_id


@dataclass
class NodeContext:
    """Everything a node's executor may use. Executors never see other nodes' configs."""

    node_id: str
    config: Any  # the node type's config model, templates already rendered
    execution: ExecutionInfo
    predecessor_outputs: dict[str, Any] = field(default_factory=dict)
    timeout_seconds: float | None = None
    attempt: int = 1
    services: NodeServices = field(default_factory=NodeServices)
    # What this node's last Poll checkpointed (None on its first run); see Poll.
    progress: dict[str, Any] | None = None
    # What templates see (input, nodes, workflow, execution): for nodes that render sub-flows themselves.
    template_context: dict[str, Any] = field(default_factory=dict)
    # Handed to run_executor: the invocation's deadline (the time left before the segment must yield; None:
    # no limit, outside a segment). Seen by the executor: the node's own, its timeout_seconds within that
    # (``deadline.left()`` seconds are left; every outbound call is checked against it).
    deadline: Deadline | None = None

    @property
    def idempotency_key(self) -> str:
        """The same on every attempt, resume and part (:mod:`segflow.domain.effect_keys`)."""
        return idempotency_key(self.execution.tenant_id, self.execution.origin, self.node_id)


@dataclass(frozen=True)
class NodeResult:
    output: Any
    route: str | None = None  # the label a judgment chose; edges with that condition are taken
    reason: str | None = None  # what the node's "succeeded" event says (an approval: who decided, why)


@dataclass(frozen=True)
class Poll:
    """A node that started something long (a deployment) and is not done: ``progress`` is checkpointed with
    the node, the segment yields, the state machine waits ``delay_seconds`` (a Wait state, not a sleeping
    Lambda) and the executor runs again with ``context.progress``. ``reason`` is what watchers see."""

    progress: dict[str, Any]
    delay_seconds: int
    reason: str


Executor = Callable[[NodeContext], NodeResult | Poll]


@dataclass(frozen=True)
class NodeType:
    type: str
    config_model: builtins.type[BaseModel]  # builtins: the field `type` above shadows it in this class
    description: str
    executor: Executor | None = None  # None: the shape is known and validated, but it cannot run yet
    subtype: str | None = None  # the value of action_type / target_type that selects this type
    subtype_field: Literal["action_type", "target_type"] | None = None
    placement: Placement = "segment"
    routes: bool = False  # outgoing edges carry conditions (judgment)
    aggregates: bool = False  # receives every direct predecessor's output
    # No side effects: re-running it after a crash is harmless, so its records may be written in batches.
    pure: bool = False
    # Config keys rendered by the node itself, not before it runs (a sub-flow's templates, per item).
    raw_fields: tuple[str, ...] = ()
    # May run inside a sub-flow (for_each, loop): it finishes in one call, without the state machine.
    inline: bool = True
    # The longest one run may wait on a call, read from the config as written (None: no call to wait on). A
    # node is not started with less time left than this (or its timeout_seconds) while the next invocation
    # would give it more: the segment yields instead.
    blocks_for: Callable[[dict[str, Any]], float | None] | None = None
    # How many nodes of this type one invocation runs at once: the segments of a batch
    # (:mod:`segflow.engine.stage_batch`) wait for a free slot before starting one. None: no limit of its own
    # (the batch's BATCH_MAX_CONCURRENT_SEGMENTS); segflow's types take theirs from segflow.domain.limits.
    max_concurrency: int | None = None

    @property
    def key(self) -> str:
        return f"{self.type}:{self.subtype}" if self.subtype else self.type


def configured_seconds(raw: dict[str, Any], default: float) -> float:
    """A config's ``timeout_seconds`` as written, or ``default`` (also while it is still a template)."""
    value = raw.get("timeout_seconds")
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return default


def time_needed(node_type: NodeType, raw_config: dict[str, Any], timeout_seconds: float | None) -> float:
    """The longest a node may take, as far as its declaration says: its ``timeout_seconds``, or its type's
    ``blocks_for`` of its config, whichever is shorter (0: nothing to wait on)."""
    declared = node_type.blocks_for(raw_config) if node_type.blocks_for is not None else None
    return min((x for x in (timeout_seconds, declared) if x is not None), default=0.0)


def run_executor(executor: Executor, context: NodeContext, may_block: bool = True) -> NodeResult | Poll:
    """Run a node's executor against its deadline: its ``timeout_seconds`` from now, within the invocation's
    (``context.deadline``). The executor sees that deadline (``context.deadline``, and
    :func:`~segflow.domain.deadline.current_deadline` for the calls it makes); the node fails when it passes,
    with the error of the limit that passed first (:class:`NodeTimedOut` for its timeout,
    :class:`DeadlineReached` for the invocation's), whatever its type does.

    A node given up at its deadline is abandoned: its deadline has no time left from then on, so every
    outbound call it still tries is refused before it is sent, and what it returns later is discarded. Its
    next attempt does not start while it still runs (:func:`_after_previous_attempt`).

    ``may_block=False`` (pure nodes: no I/O) runs the executor in this thread unless it has a timeout.
    A failure that happens once the deadline has passed is the deadline's: whatever call the node was making
    was cut by it."""
    invocation = context.deadline if may_block else None
    own = context.timeout_seconds
    if own is None and invocation is None:
        return _run(executor, context)
    _after_previous_attempt(context.idempotency_key, invocation)
    deadline = invocation.within(own) if invocation is not None else Deadline.of_node(own or math.inf)
    context = dataclasses.replace(context, deadline=deadline)
    wait = deadline.check("the node")
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="segflow-node")
    try:
        # The executor's thread sees this thread's context: the invocation's log keys and the node's deadline.
        attempt = pool.submit(contextvars.copy_context().run, _run, executor, context)
        _running_attempts.started(context.idempotency_key, attempt)
        futures.wait([attempt], timeout=wait)
    finally:
        pool.shutdown(wait=False)
    if not attempt.done():  # what it returns from now on is discarded
        failure = deadline.expired()
        deadline.abandon()
        raise failure
    error = attempt.exception()
    if error is None or not deadline.reached():
        return attempt.result()
    limit = deadline.binding()
    deadline.abandon()
    if isinstance(error, NodeFailure) and error.error_type == limit.passed().error_type:
        raise error
    name = error.error_type if isinstance(error, NodeFailure) else type(error).__name__
    raise limit.passed(f"{name}: {error}") from error


class PreviousRunStillRunning(DeadlineReached):
    """The node's previous run, given up at its deadline, still ran when this invocation's time was over: the
    node runs in the next invocation. ``waited_before``: an earlier invocation waited for it all its time
    too (then the node fails: its code does not stop)."""

    def __init__(self, message: str, waited_before: bool) -> None:
        super().__init__(message)
        self.waited_before = waited_before


class _RunningAttempts:
    """The run of each node (by its idempotency key) in this process, until its thread ends; and how many
    invocations waited for it in vain."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._attempts: dict[str, Future[Any]] = {}
        self._waited_out: dict[str, int] = {}

    def started(self, key: str, attempt: Future[Any]) -> None:
        with self._lock:
            self._attempts[key] = attempt
            self._waited_out.pop(key, None)
        attempt.add_done_callback(lambda done: self._ended(key, done))

    def _ended(self, key: str, attempt: Future[Any]) -> None:
        with self._lock:
            if self._attempts.get(key) is attempt:
                del self._attempts[key]
                self._waited_out.pop(key, None)

    def running(self, key: str) -> Future[Any] | None:
        with self._lock:
            return self._attempts.get(key)

    def waited_out(self, key: str) -> int:
        """Count one more wait for ``key``'s run that ended before it did; the count before this one."""
        with self._lock:
            before = self._waited_out.get(key, 0)
            self._waited_out[key] = before + 1
            return before


_running_attempts = _RunningAttempts()


def _after_previous_attempt(key: str, invocation: Deadline | None) -> None:
    """Wait until the node's previous run, given up at its deadline, has ended: two runs of one node never
    overlap. Its outbound calls are cut at that deadline, but its own code (a custom function) may go on.
    The wait is not counted against the new run's timeout; it lasts at most until the invocation's deadline
    (:class:`PreviousRunStillRunning`: the node runs in the next invocation)."""
    previous = _running_attempts.running(key)
    if previous is None:
        return
    try:
        previous.exception(timeout=None if invocation is None else max(0.0, invocation.left()))
    except FutureTimeout:
        assert invocation is not None
        waits = _running_attempts.waited_out(key)
        message = str(invocation.expired("its previous run was still running"))
        raise PreviousRunStillRunning(message, waited_before=waits > 0) from None
    except CancelledError:
        pass


def _run(executor: Executor, context: NodeContext) -> NodeResult | Poll:
    # The node's deadline (run_executor's: its timeout_seconds, capped by the invocation's), for its calls.
    token = node_deadline.set(context.deadline)
    try:
        return executor(context)
    finally:
        node_deadline.reset(token)


def render_config(raw: dict[str, Any], node_type: NodeType, context: dict[str, Any]) -> Any:
    """A node's config with its templates rendered over ``context`` (its ``raw_fields`` as written), validated
    by its type's model; failures are the node's TemplateEvaluationError or ConfigError."""
    from pydantic import ValidationError

    from segflow.dsl.templates import render

    try:
        rendered = render({k: v for k, v in raw.items() if k not in node_type.raw_fields}, context)
    except Exception as error:  # JMESPath raises its own errors on bad types at run time
        raise NodeFailure(f"template evaluation failed: {error}", "TemplateEvaluationError") from error
    rendered.update({k: v for k, v in raw.items() if k in node_type.raw_fields})
    try:
        return node_type.config_model.model_validate(rendered)
    except ValidationError as error:
        problems = "; ".join(
            f"config.{'.'.join(str(p) for p in d['loc'])}: {d['msg']}" for d in error.errors()[:5]
        )
        raise NodeFailure(f"rendered config is invalid: {problems}", "ConfigError") from error
