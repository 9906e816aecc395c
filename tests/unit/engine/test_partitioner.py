"""partition() on hand-written shapes: routing, fan-out/fan-in, waits, budgets, the seed's manifest shape."""

from __future__ import annotations

from typing import Any

import pytest
from segflow.domain.limits import NODE_CONFIG_INLINE_MAX_BYTES, SEGMENT_CONFIG_MAX_BYTES
from segflow.domain.plan import PartitionPlan, SegmentPlan, compact_json
from segflow.dsl.validation import WorkflowValidationError, validate_workflow
from segflow.engine.partitioner import partition

from tests.support.workflows import (
    aggregator,
    api_call,
    chain_edges,
    edge,
    fan_out_workflow,
    judgment,
    large_workflow,
    linear_workflow,
    transform,
    wait,
    workflow,
)


def plan_of(raw: dict[str, Any]) -> PartitionPlan:
    return partition(validate_workflow(raw), body_key_for=lambda segment_id: f"bodies/{segment_id}.json")


def segment_with(plan: PartitionPlan, node_id: str) -> SegmentPlan:
    return next(s for s in plan.segments if node_id in s.node_ids)


def wire_bytes(segment: SegmentPlan) -> int:
    return len(compact_json(segment.config.wire()).encode())


def if_else_workflow() -> dict[str, Any]:
    return workflow(
        "if_else",
        [
            transform("fetch", {"amount": "{{ input.amount }}"}),
            judgment("judge", "{{ nodes.fetch.amount > `100` }}"),
            transform("big", "big"),
            transform("big_followup", "{{ nodes.big }}"),
            transform("small", "small"),
            transform("join", "done"),
        ],
        [
            edge("fetch", "judge"),
            edge("judge", "big", "true"),
            edge("judge", "small", "false"),
            edge("big", "big_followup"),
            edge("big_followup", "join"),
            edge("small", "join"),
        ],
    )


def test_a_chain_is_one_segment_in_one_stage() -> None:
    plan = plan_of(linear_workflow("line", 5))
    assert [s.node_ids for s in plan.segments] == [["n0", "n1", "n2", "n3", "n4"]]
    assert len(plan.stages) == 1
    assert plan.segments[0].has_end
    assert plan.sinks == ["n4"]
    assert plan.segments[0].config.reads == [], "reads inside the segment are not external reads"


def test_a_judgment_with_two_targets_puts_each_arm_in_its_own_segment_of_the_same_stage() -> None:
    # prior art: a router with two targets was partitioned as a parallel fork and both arms ran
    plan = plan_of(if_else_workflow())
    judge, big, small = (segment_with(plan, n) for n in ("judge", "big", "small"))
    assert big.segment_id != small.segment_id
    assert big.stage == small.stage == judge.stage + 1
    assert big.dependencies == small.dependencies == [judge.segment_id]
    assert big.node_ids == ["big", "big_followup"], "an arm's chain stays together"
    # the edges keep their conditions, so the runner can skip the arm that was not taken
    assert [(e.source, e.condition) for e in big.config.nodes[0].incoming] == [("judge", "true")]
    assert [(e.source, e.condition) for e in small.config.nodes[0].incoming] == [("judge", "false")]
    judge_node = next(n for n in judge.config.nodes if n.node_id == "judge")
    assert judge_node.route_labels == ["false", "true"]
    join = segment_with(plan, "join")
    assert join.stage == max(big.stage, small.stage) + 1
    assert set(join.dependencies) == {big.segment_id, small.segment_id}


def test_a_judgment_with_one_edge_keeps_its_target_in_the_same_segment() -> None:
    wf = workflow("one_arm", [judgment("j", "{{ input.ok }}"), transform("x", 1)], [edge("j", "x", "true")])
    plan = plan_of(wf)
    assert [s.node_ids for s in plan.segments] == [["j", "x"]]
    assert plan.segments[0].config.nodes[1].incoming[0].condition == "true"


def test_fan_out_and_fan_in_make_a_parallel_stage_and_an_aggregator_segment() -> None:
    # prior art: no test ever produced a parallel or aggregator segment
    branches = [transform(f"b{i}", {"branch": i}) for i in range(4)]
    plan = plan_of(fan_out_workflow("fan", branches))
    assert [s.node_ids for s in plan.segments] == [["start"], ["b0"], ["b1"], ["b2"], ["b3"], ["join"]]
    assert [len(st.segment_ids) for st in plan.stages] == [1, 4, 1]
    assert plan.stages[1].stage_type == "parallel_group"
    join = segment_with(plan, "join")
    assert join.segment_type == "aggregator"
    assert join.dependencies == [segment_with(plan, f"b{i}").segment_id for i in range(4)]
    assert join.config.reads == ["b0", "b1", "b2", "b3"], "the aggregator reads every branch's output"
    stage_map = plan.partition_map()["stages"][1]
    assert stage_map == {
        "stage": 1,
        "type": "parallel_group",
        "branches": stage_map["branches"],
        "branch_count": 4,
        "pure": True,
    }
    assert plan.stages[1].runs_in_one_invocation, "transforms gain nothing from parallel Lambdas"


def test_a_stage_with_a_side_effect_is_not_pure_and_runs_as_a_map() -> None:
    branches = [transform(f"b{i}", {"branch": i}) for i in range(3)]
    branches.append(api_call("b3", "https://api.example.com/things"))
    plan = plan_of(fan_out_workflow("fan", branches))
    assert [st.pure for st in plan.stages] == [True, False, True]
    assert not plan.stages[1].runs_in_one_invocation
    assert plan.stages[0].runs_in_one_invocation and plan.stages[2].runs_in_one_invocation


def test_a_wait_starts_a_segment_of_its_own_type_and_its_chain_follows_it() -> None:
    wf = workflow(
        "w", [transform("a", 1), wait("pause", 2), transform("b", 2)], chain_edges(["a", "pause", "b"])
    )
    plan = plan_of(wf)
    assert [(s.segment_type, s.node_ids) for s in plan.segments] == [
        ("linear", ["a"]),
        ("wait", ["pause", "b"]),
    ]
    assert [s.stage for s in plan.segments] == [0, 1]


def test_an_aggregator_after_a_single_predecessor_still_starts_a_segment() -> None:
    wf = workflow("agg", [transform("a", 1), aggregator("agg")], [edge("a", "agg")])
    assert [s.node_ids for s in plan_of(wf).segments] == [["a"], ["agg"]]


def test_independent_roots_run_in_the_first_stage_together() -> None:
    wf = workflow(
        "roots", [transform("a", 1), transform("b", 2), transform("c", "{{ nodes.a }}")], [edge("a", "c")]
    )
    plan = plan_of(wf)
    assert plan.stages[0].segment_ids == [
        segment_with(plan, "a").segment_id,
        segment_with(plan, "b").segment_id,
    ]
    assert sorted(plan.sinks) == ["b", "c"]


def test_a_node_reading_a_distant_ancestor_lists_it_in_reads() -> None:
    wf = workflow(
        "reads",
        [
            transform("a", 1),
            transform("b", 2),
            transform("c", 3),
            aggregator("agg"),
            transform("d", "{{ nodes.a }}"),
        ],
        [edge("a", "b"), edge("a", "c"), edge("b", "agg"), edge("c", "agg"), edge("agg", "d")],
    )
    plan = plan_of(wf)
    agg_segment = segment_with(plan, "d")
    assert agg_segment.node_ids == ["agg", "d"]
    assert agg_segment.config.reads == ["b", "c", "a"] or sorted(agg_segment.config.reads) == ["a", "b", "c"]


def test_a_long_chain_is_cut_into_segments_within_the_byte_budget() -> None:
    plan = plan_of(linear_workflow("long", 300))
    assert len(plan.segments) > 1
    for segment in plan.segments:
        assert segment.config.body_key is None
        assert wire_bytes(segment) <= SEGMENT_CONFIG_MAX_BYTES
    assert [s.stage for s in plan.segments] == list(range(len(plan.segments)))
    # every cut follows a chain: each later segment depends only on the previous one and reads its last output
    for previous, current in zip(plan.segments, plan.segments[1:], strict=False):
        assert current.dependencies == [previous.segment_id]
        assert current.config.reads == [previous.node_ids[-1]]


def test_a_node_with_a_large_config_moves_its_segment_to_a_body() -> None:
    big = transform("big", {"blob": "x" * (NODE_CONFIG_INLINE_MAX_BYTES * 4)})
    wf = workflow("big", [transform("a", 1), big, transform("after", 2)], chain_edges(["a", "big", "after"]))
    plan = plan_of(wf)
    segment = segment_with(plan, "big")
    assert segment.config.body_key == f"bodies/{segment.segment_id}.json"
    assert segment.config.nodes is None
    assert segment.body is not None and [n.node_id for n in segment.body.nodes] == segment.node_ids
    assert segment.body.nodes[segment.node_ids.index("big")].config == big["config"]
    assert wire_bytes(segment) <= 300, "the config that travels is only a pointer"
    assert segment_with(plan, "after").segment_id != segment.segment_id, "an oversized segment is closed"


def test_without_a_body_key_an_oversized_segment_is_an_error_not_a_silent_overflow() -> None:
    wf = workflow("big", [transform("big", "x" * 5000)])
    with pytest.raises(ValueError, match="body"):
        partition(validate_workflow(wf))


def test_the_manifest_entry_has_the_seed_shape() -> None:
    plan = plan_of(if_else_workflow())
    for segment in plan.segments:
        entry = segment.manifest_entry()
        assert set(entry) == {"segment_id", "segment_type", "segment_config", "dependencies"}
        assert entry["segment_config"]["segment_id"] == segment.segment_id
        assert entry["segment_config"]["node_count"] == len(segment.node_ids)


def test_stage_items_are_the_wire_configs_of_the_stage() -> None:
    plan = plan_of(fan_out_workflow("fan", [transform(f"b{i}", i) for i in range(3)]))
    items = plan.stage_items(1)
    assert [item["segment_id"] for item in items] == plan.stages[1].segment_ids
    assert all("nodes" in item and "dependencies" not in item for item in items)


def test_segment_configs_carry_only_their_own_nodes() -> None:
    # document 2's bug: every segment received the whole workflow_config
    plan = plan_of(large_workflow("large", 400))
    for segment in plan.segments:
        carried = {n.node_id for n in (segment.config.nodes or segment.body.nodes)}
        assert carried == set(segment.node_ids)
        text = compact_json(segment.config.wire())
        assert '"edges"' not in text and "partition_map" not in text


def test_a_ten_thousand_node_workflow_partitions_into_chains_and_parallel_stages() -> None:
    wf = large_workflow(
        "large",
        10_000,
        fan_outs=4,
        fan_width=3,
        big_nodes=[
            transform("big_literal", {"blob": "y" * 100_000}),
            api_call("call", "https://example.com"),
        ],
    )
    plan = plan_of(wf)
    assert plan.node_count == 10_000
    assert sum(len(s.node_ids) for s in plan.segments) == 10_000
    assert sum(1 for st in plan.stages if st.stage_type == "parallel_group") == 4
    assert segment_with(plan, "big_literal").config.body_key is not None
    assert all(wire_bytes(s) <= SEGMENT_CONFIG_MAX_BYTES for s in plan.segments)


def test_the_byte_budget_counts_bytes_of_non_ascii_text() -> None:
    # seeds.md comes from CJK-language documents; labels and prompts in CJK are expected. Three bytes a
    # character: a budget counted in characters would let ~3x the budget travel inline.
    wf = workflow(
        "cjk",
        [transform("a", "数据查询" * 200, label="数据查询"), transform("b", "判断" * 200, label="判断")],
        [edge("a", "b")],
    )
    plan = plan_of(wf)
    for segment in plan.segments:
        assert segment.config.body_key is not None or wire_bytes(segment) <= SEGMENT_CONFIG_MAX_BYTES, (
            f"{segment.segment_id} travels inline with {wire_bytes(segment)} bytes"
        )


def test_a_stage_with_side_effects_wider_than_one_map_may_run_is_refused() -> None:
    calls = fan_out_workflow("wide-calls", [api_call(f"b{i}", "http://localhost/x") for i in range(5)])
    graph = validate_workflow(calls)
    with pytest.raises(WorkflowValidationError) as refused:
        partition(graph, body_key_for=lambda segment_id: segment_id, map_stage_max_segments=4)
    assert "stage 1 runs 5 segments with side effects at once; at most 4" in str(refused.value)
    assert (
        len(partition(graph, body_key_for=lambda segment_id: segment_id, map_stage_max_segments=5).stages)
        == 3
    )
    # A stage of pure nodes runs in one invocation, not a Map: its width is not limited.
    pure = fan_out_workflow("wide-pure", [transform(f"b{i}", i) for i in range(5)])
    partition(validate_workflow(pure), map_stage_max_segments=4)
