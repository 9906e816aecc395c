"""How stages are cut into batches when a plan is stored: by count, and by what their nodes may take at worst
within one invocation, each node type's concurrency counted."""

from __future__ import annotations

from typing import Any

from segflow.domain.limits import (
    API_CALL_MAX_CONCURRENCY,
    BATCH_MAX_SEGMENTS,
    LLM_CHAT_MAX_CONCURRENCY,
)
from segflow.domain.plan import PartitionPlan
from segflow.dsl.validation import validate_executable
from segflow.engine.batching import BATCH_SECONDS, stage_batches
from segflow.engine.partitioner import partition

from tests.support.workflows import api_call, fan_out_workflow, transform


def planned(branches: list[dict[str, Any]]) -> PartitionPlan:
    return partition(validate_executable(fan_out_workflow("fan", branches)), body_key_for=lambda s: f"b/{s}")


def batch_sizes(plan: PartitionPlan, stage: int = 1) -> list[int]:
    segments = {segment.segment_id: segment for segment in plan.segments}
    return [len(batch) for batch in stage_batches(plan.stages[stage], segments)]


def llm_chat(node_id: str, timeout_seconds: float) -> dict[str, Any]:
    return {
        "node_id": node_id,
        "type": "llm_chat",
        "config": {
            "provider": "bedrock",
            "model": "anthropic.claude-3-haiku",
            "messages": [{"role": "user", "content": "hi"}],
            "timeout_seconds": timeout_seconds,
        },
    }


def test_quick_calls_are_batched_by_count() -> None:
    plan = planned([api_call(f"c{i:03d}", "https://example.com/x") for i in range(250)])

    assert batch_sizes(plan) == [BATCH_MAX_SEGMENTS, BATCH_MAX_SEGMENTS, 50]


def test_long_calls_get_batches_that_fit_one_invocation_at_their_types_concurrency() -> None:
    seconds = 300.0
    calls = planned(
        [api_call(f"c{i:03d}", "https://example.com/x", timeout_seconds=seconds) for i in range(100)]
    )
    chats = planned([llm_chat(f"m{i:03d}", seconds) for i in range(100)])

    # each type's work spread over its slots, plus one more call: within what a batch may take
    for plan, slots in ((calls, API_CALL_MAX_CONCURRENCY), (chats, LLM_CHAT_MAX_CONCURRENCY)):
        sizes = batch_sizes(plan)
        assert sum(sizes) == 100
        assert all(size * seconds / slots + seconds <= BATCH_SECONDS for size in sizes)
        assert (sizes[0] + 1) * seconds / slots + seconds > BATCH_SECONDS, "each batch as full as it may be"
    assert len(batch_sizes(chats)) > len(batch_sizes(calls)), "fewer model calls at once: smaller batches"


def test_a_call_that_may_take_a_whole_invocation_is_a_batch_of_its_own() -> None:
    plan = planned(
        [api_call(f"c{i}", "https://example.com/x", timeout_seconds=BATCH_SECONDS) for i in range(3)]
    )

    assert batch_sizes(plan) == [1, 1, 1]


def test_pure_stages_and_single_segments_are_one_batch_in_their_order() -> None:
    plan = planned([transform(f"t{i:03d}", i) for i in range(250)])

    assert batch_sizes(plan) == [250]
    assert batch_sizes(plan, 2) == [1]


def test_each_batch_is_a_contiguous_range_of_the_sorted_segment_ids() -> None:
    plan = planned([api_call(f"c{i:03d}", "https://example.com/x") for i in range(250)])
    segments = {segment.segment_id: segment for segment in plan.segments}

    batches = stage_batches(plan.stages[1], segments)

    ids = [segment.segment_id for batch in batches for segment in batch]
    assert ids == sorted(plan.stages[1].segment_ids)
