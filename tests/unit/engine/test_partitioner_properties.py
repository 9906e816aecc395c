"""Properties of partition() over random DAGs: every plan must be runnable by the state machine as it is.

Timing of the partitioner is a benchmark, not a test: nothing here asserts durations.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from segflow.domain.limits import SEGMENT_CONFIG_MAX_BYTES
from segflow.domain.plan import PartitionPlan, SegmentNode, compact_json
from segflow.dsl.graph import WorkflowGraph
from segflow.dsl.validation import validate_workflow
from segflow.engine.partitioner import partition

from tests.support.dags import random_workflows, reachability

# How many examples: the hypothesis profile's (tests/unit/conftest.py: "full", or "check" for make check).
PROPERTY_SETTINGS = settings(
    deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


def body_key(segment_id: str) -> str:
    return f"manifests/default/random/exec/bodies/{segment_id}.json"


def plan_of(raw: dict[str, Any]) -> tuple[WorkflowGraph, PartitionPlan]:
    graph = validate_workflow(raw)
    return graph, partition(graph, body_key_for=body_key)


def segment_nodes(plan: PartitionPlan, segment_id: str) -> list[SegmentNode]:
    segment = next(s for s in plan.segments if s.segment_id == segment_id)
    if segment.config.nodes is not None:
        return segment.config.nodes
    assert segment.body is not None
    return segment.body.nodes


def segment_of(plan: PartitionPlan) -> dict[str, str]:
    return {node_id: s.segment_id for s in plan.segments for node_id in s.node_ids}


@PROPERTY_SETTINGS
@given(random_workflows())
def test_every_node_is_in_exactly_one_segment(raw: dict[str, Any]) -> None:
    _, plan = plan_of(raw)
    placed = [node_id for segment in plan.segments for node_id in segment.node_ids]
    assert sorted(placed) == sorted(n["node_id"] for n in raw["nodes"])
    assert len(placed) == len(set(placed))
    assert plan.node_count == len(raw["nodes"])
    assert all(segment.node_ids for segment in plan.segments), "no empty segment"
    assert len({s.segment_id for s in plan.segments}) == len(plan.segments)


@PROPERTY_SETTINGS
@given(random_workflows())
def test_each_segment_is_a_chain_in_topological_order(raw: dict[str, Any]) -> None:
    graph, plan = plan_of(raw)
    for segment in plan.segments:
        ids = segment.node_ids
        positions = [graph.position[node_id] for node_id in ids]
        assert positions == sorted(positions)
        for before, after in pairwise(ids):
            assert [e.source for e in graph.incoming[after]] == [before], f"{after} must follow only {before}"
            assert [e.target for e in graph.outgoing[before]] == [after], (
                f"{before} must lead only to {after}"
            )
        # the segment carries its nodes in the same order, each with its own incoming edges
        carried = segment_nodes(plan, segment.segment_id)
        assert [node.node_id for node in carried] == ids
        for node in carried:
            expected = [(e.source, e.condition) for e in graph.incoming[node.node_id]]
            assert [(e.source, e.condition) for e in node.incoming] == expected
            assert node.config == graph.nodes[node.node_id].config


@PROPERTY_SETTINGS
@given(random_workflows())
def test_an_edge_between_segments_always_goes_to_a_later_stage(raw: dict[str, Any]) -> None:
    graph, plan = plan_of(raw)
    where = segment_of(plan)
    stage = {s.segment_id: s.stage for s in plan.segments}
    for edges in graph.outgoing.values():
        for e in edges:
            if where[e.source] != where[e.target]:
                assert stage[where[e.source]] < stage[where[e.target]], e.label


@PROPERTY_SETTINGS
@given(random_workflows())
def test_segments_of_one_stage_never_depend_on_each_other(raw: dict[str, Any]) -> None:
    graph, plan = plan_of(raw)
    where = segment_of(plan)
    segment_edges = {
        (where[e.source], where[e.target])
        for edges in graph.outgoing.values()
        for e in edges
        if where[e.source] != where[e.target]
    }
    reach = reachability([s.segment_id for s in plan.segments], sorted(segment_edges))
    for stage in plan.stages:
        members = stage.segment_ids
        for first in members:
            for second in members:
                assert second not in reach[first], f"stage {stage.stage}: {first} reaches {second}"


@PROPERTY_SETTINGS
@given(random_workflows())
def test_stages_are_one_more_than_the_latest_dependency(raw: dict[str, Any]) -> None:
    _, plan = plan_of(raw)
    by_id = {s.segment_id: s for s in plan.segments}
    for segment in plan.segments:
        expected = 1 + max((by_id[d].stage for d in segment.dependencies), default=-1)
        assert segment.stage == expected == segment.config.stage
    assert [stage.stage for stage in plan.stages] == list(range(len(plan.stages)))
    for stage in plan.stages:
        assert stage.segment_ids, "no empty stage"
        assert all(by_id[sid].stage == stage.stage for sid in stage.segment_ids)
    assert sorted(sid for st_ in plan.stages for sid in st_.segment_ids) == sorted(by_id)


@PROPERTY_SETTINGS
@given(random_workflows())
def test_dependencies_are_the_segments_of_the_entry_nodes_predecessors(raw: dict[str, Any]) -> None:
    graph, plan = plan_of(raw)
    where = segment_of(plan)
    for segment in plan.segments:
        entry = segment.node_ids[0]
        expected = list(dict.fromkeys(where[e.source] for e in graph.incoming[entry]))
        assert segment.dependencies == expected
        assert segment.manifest_entry()["dependencies"] == expected


@PROPERTY_SETTINGS
@given(st.one_of(random_workflows(), random_workflows(padding_chars="数据查询判断éß")))
def test_every_segment_config_fits_its_budget_or_has_a_body(raw: dict[str, Any]) -> None:
    _, plan = plan_of(raw)
    for segment in plan.segments:
        wire = compact_json(segment.config.wire()).encode()
        if segment.config.body_key is None:
            assert len(wire) <= SEGMENT_CONFIG_MAX_BYTES, f"{segment.segment_id}: {len(wire)} bytes inline"
            assert segment.body is None
            assert segment.config.nodes is not None
        else:
            assert segment.config.body_key == body_key(segment.segment_id)
            assert segment.config.nodes is None and segment.body is not None
            assert len(wire) <= SEGMENT_CONFIG_MAX_BYTES, "the pointer config itself stays small"
        assert segment.config.node_count == len(segment.node_ids)


@PROPERTY_SETTINGS
@given(random_workflows())
def test_aggregators_and_waits_start_a_segment(raw: dict[str, Any]) -> None:
    graph, plan = plan_of(raw)
    for segment in plan.segments:
        for position, node_id in enumerate(segment.node_ids):
            node_type = graph.node_types[node_id]
            if node_type.aggregates or node_type.placement == "wait":
                assert position == 0, f"{node_id} ({node_type.key}) is inside {segment.segment_id}"
        first_type = graph.node_types[segment.node_ids[0]]
        expected_type = (
            "wait" if first_type.placement == "wait" else "aggregator" if first_type.aggregates else "linear"
        )
        assert segment.segment_type == expected_type


@PROPERTY_SETTINGS
@given(random_workflows())
def test_a_judgment_with_several_edges_ends_its_segment(raw: dict[str, Any]) -> None:
    graph, plan = plan_of(raw)
    where = segment_of(plan)
    for node_id, node_type in graph.node_types.items():
        if node_type.routes and len(graph.outgoing[node_id]) > 1:
            targets = [e.target for e in graph.outgoing[node_id]]
            assert all(where[t] != where[node_id] for t in targets)
            assert len({where[t] for t in targets}) == len(targets), "each arm is its own segment"


@PROPERTY_SETTINGS
@given(random_workflows())
def test_each_segment_reads_the_outputs_it_needs_from_other_segments(raw: dict[str, Any]) -> None:
    graph, plan = plan_of(raw)
    where = segment_of(plan)
    for segment in plan.segments:
        reads = segment.config.reads if segment.body is None else segment.body.reads
        assert len(reads) == len(set(reads))
        needed = set()
        for node_id in segment.node_ids:
            needed |= graph.references[node_id]
            if graph.node_types[node_id].aggregates:
                needed |= {e.source for e in graph.incoming[node_id]}
        external = {n for n in needed if where[n] != segment.segment_id}
        assert set(reads) == external


@PROPERTY_SETTINGS
@given(random_workflows())
def test_the_partition_map_is_a_reference_copy_without_configs(raw: dict[str, Any]) -> None:
    _, plan = plan_of(raw)
    partition_map = plan.partition_map()
    assert partition_map["usage"] == "reference_only"
    assert partition_map["segment_count"] == len(plan.segments)
    text = compact_json(partition_map)
    assert '"config"' not in text
    assert sum(s["branch_count"] for s in partition_map["stages"]) == len(plan.segments)
    for stage in partition_map["stages"]:
        assert stage["type"] == ("parallel_group" if stage["branch_count"] > 1 else "single")


@settings(max_examples=40, deadline=None)
@given(random_workflows(), st.randoms())
def test_partitioning_is_deterministic(raw: dict[str, Any], _: Any) -> None:
    _, first = plan_of(raw)
    _, second = plan_of(raw)
    assert first.model_dump() == second.model_dump()
