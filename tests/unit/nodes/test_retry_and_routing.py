"""The one retry rule and the one routing rule the segment runner and sub-flows share."""

from __future__ import annotations

from segflow.domain.deadline import Deadline
from segflow.domain.errors import NodeFailure, NodeTimedOut
from segflow.dsl.models import RetryPolicy
from segflow.nodes.retry import next_retry
from segflow.nodes.routing import edge_taken, route_labels

POLICY = RetryPolicy(max_attempts=3, backoff_seconds=2, backoff_rate=3, retry_on=["NodeTimeout"])


def test_a_listed_retryable_failure_is_retried_after_a_growing_backoff() -> None:
    first = next_retry(POLICY, NodeTimedOut("slow"), 1, None, 0.0)
    second = next_retry(POLICY, NodeTimedOut("slow"), 2, None, 0.0)
    assert first is not None and second is not None
    assert (first.attempt, first.delay_seconds, first.fits) == (2, 2.0, True)
    assert (second.attempt, second.delay_seconds) == (3, 6.0)
    assert first.reason == "attempt 2 of 3 after NodeTimeout"


def test_a_failure_is_final_when_unlisted_not_retryable_or_out_of_attempts() -> None:
    assert next_retry(POLICY, NodeTimedOut("slow"), 3, None, 0.0) is None
    assert next_retry(POLICY, NodeFailure("bad", "ConfigError"), 1, None, 0.0) is None
    listed_but_final = RetryPolicy(max_attempts=3, retry_on=["ConfigError"])
    assert next_retry(listed_but_final, NodeFailure("bad", "ConfigError"), 1, None, 0.0) is None


def test_a_retry_whose_backoff_and_run_pass_the_deadline_does_not_fit() -> None:
    deadline = Deadline(lambda: 10.0, fresh_seconds=600.0)
    fits = next_retry(POLICY, NodeTimedOut("slow"), 1, deadline, need_seconds=5.0)
    too_late = next_retry(POLICY, NodeTimedOut("slow"), 2, deadline, need_seconds=5.0)
    assert fits is not None and fits.fits  # 2 s of backoff, then 5 s of run, in 10 s
    assert too_late is not None and not too_late.fits  # 6 s of backoff leave 4 s for a 5 s run


def test_an_edge_is_taken_when_its_source_succeeded_on_its_route() -> None:
    assert edge_taken(None, "succeeded", None)
    assert edge_taken("yes", "succeeded", "yes")
    assert not edge_taken("no", "succeeded", "yes")
    assert not edge_taken(None, "skipped", None)
    assert not edge_taken(None, "failed", None)
    assert not edge_taken(None, None, None)


def test_a_judgments_labels_are_its_edges_conditions_once_each() -> None:
    assert route_labels(["b", None, "a", "b"]) == ["a", "b"]
