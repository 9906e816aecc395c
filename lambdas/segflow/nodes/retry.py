"""Retrying a failed node, in one place: whether its policy retries the failure, after how long, and whether
that retry fits before the invocation's deadline. The segment runner and sub-flows both decide by it."""

from __future__ import annotations

from dataclasses import dataclass

from segflow.domain.deadline import Deadline
from segflow.domain.errors import NodeFailure
from segflow.dsl.models import RetryPolicy

NO_RETRY = RetryPolicy(max_attempts=1)


@dataclass(frozen=True)
class Retry:
    """The next attempt of a node: ``attempt``, after ``delay_seconds``."""

    attempt: int
    delay_seconds: float
    # The wait and then the node's longest run fit before the deadline: the retry may run in this invocation.
    fits: bool
    reason: str


def next_retry(
    policy: RetryPolicy, failure: NodeFailure, attempt: int, deadline: Deadline | None, need_seconds: float
) -> Retry | None:
    """The retry of ``attempt`` that failed with ``failure``, or None when the failure is final (not
    retryable, not in ``retry_on``, or no attempt left). ``need_seconds``: what the node may take once
    started (:func:`~segflow.nodes.base.time_needed`); without a deadline every retry fits."""
    if not (failure.retryable and failure.error_type in policy.retry_on and attempt < policy.max_attempts):
        return None
    delay = policy.backoff_seconds * policy.backoff_rate ** (attempt - 1)
    return Retry(
        attempt=attempt + 1,
        delay_seconds=delay,
        fits=deadline is None or deadline.allows(need_seconds, after=delay),
        reason=f"attempt {attempt + 1} of {policy.max_attempts} after {failure.error_type}",
    )
