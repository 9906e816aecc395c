"""Plans are stored once per definition and code: a definition run again reads its plan and writes none of it;
another definition, other code, a plan about to expire or one stored incompletely is planned afresh. The end
of a run counts what it skipped from the few nodes a route can skip."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from segflow.contracts import ExecutionRequest, S3Pointer, WorkflowRef
from segflow.domain import s3_layout
from segflow.domain.limits import EXECUTION_DATA_RETENTION_DAYS, PLAN_REUSE_SHARE_OF_RETENTION
from segflow.domain.records import NodeRecord
from segflow.domain.stored_plan import SkipRule
from segflow.dsl.validation import WorkflowValidationError, validate_executable
from segflow.engine.initializer import Initializer
from segflow.engine.resume import reusable_records
from segflow.engine.skips import count_skipped, records_needed, skip_rule, skippable_nodes

from tests.support.dags import random_routes, random_workflows
from tests.support.workflows import aggregator, edge, judgment, linear_workflow, transform, workflow
from tests.unit.engine.harness import Engine, FakeClock, Work, effect_node
from tests.unit.engine.test_partitioner_properties import PROPERTY_SETTINGS

DAY = 86_400


def routed() -> dict[str, Any]:
    return workflow(
        "routed",
        [
            transform("start", 1),
            judgment("judge", "{{ input.tier }}"),
            transform("gold", "g"),
            transform("silver", "s"),
            transform("after_silver", "as"),
            aggregator("join"),
            transform("tail", "t"),
        ],
        [
            edge("start", "judge"),
            edge("judge", "gold", "gold"),
            edge("judge", "silver", "silver"),
            edge("silver", "after_silver"),
            edge("gold", "join"),
            edge("after_silver", "join"),
            edge("join", "tail"),
            edge("start", "tail"),
        ],
    )


def plan_objects(engine: Engine, prefix: str) -> dict[str, str]:
    return {key: text for key, text in engine.manifests.documents.items() if key.startswith(prefix)}


def test_a_definition_run_again_reads_its_plan_and_writes_none_of_it(engine: Engine) -> None:
    first = engine.run(linear_workflow("again", 40), {"start": 1})
    stored = plan_objects(engine, first.statebag.manifest_prefix)
    writes = engine.manifests.plan_writes

    second = engine.run(linear_workflow("again", 40), {"start": 1})

    assert first.result is not None and second.result is not None
    assert second.result.status == "SUCCEEDED" and second.result.output == first.result.output
    assert second.statebag.manifest_prefix == first.statebag.manifest_prefix
    assert second.statebag.execution_id != first.statebag.execution_id
    assert engine.manifests.plan_writes == writes, "nothing of the plan was written again"
    assert plan_objects(engine, first.statebag.manifest_prefix) == stored
    assert (second.statebag.node_count, second.statebag.stage_count) == (
        first.statebag.node_count,
        first.statebag.stage_count,
    )


def test_the_plan_and_its_reference_copies_are_keyed_by_the_definition_not_the_execution(
    engine: Engine,
) -> None:
    one = engine.run(linear_workflow("keyed", 3), {"start": 1})
    other = engine.run(linear_workflow("keyed", 4), {"start": 1})

    prefix = one.statebag.manifest_prefix
    assert prefix != other.statebag.manifest_prefix, "another definition, another plan"
    assert one.statebag.execution_id not in prefix
    plan_key = prefix.rstrip("/").rsplit("/", 1)[-1]
    assert prefix == s3_layout.plan_prefix("default", "keyed", plan_key)
    config = s3_layout.workflow_config_reference_key("default", "keyed", plan_key)
    partitions = s3_layout.partition_map_reference_key("default", "keyed", plan_key)
    assert {config, partitions} <= engine.manifests.reference_only
    assert engine.manifests.read_json(config) == linear_workflow("keyed", 3)


def test_other_code_plans_the_same_definition_afresh(engine: Engine) -> None:
    raw = linear_workflow("code", 3)
    first = engine.run(raw, {"start": 1})
    writes = engine.manifests.plan_writes

    key = engine.manifests.submit("default", "workflows", raw)
    request = ExecutionRequest(tenant_id="default", workflow=S3Pointer(s3_key=key), input={"start": 1})
    started = Initializer(
        engine.records,
        engine.manifests,
        engine.outputs,
        engine.versions,
        engine.journal,
        code_version="another release",
        clock=engine.clock,
    ).initialize(request, "e-other-code", engine.clock.iso())

    assert started.statebag.manifest_prefix != first.statebag.manifest_prefix
    assert engine.manifests.plan_writes > writes


def test_a_plan_near_its_expiry_is_written_again_where_it_was(engine: Engine) -> None:
    raw = linear_workflow("aging", 3)
    first = engine.run(raw, {"start": 1})
    writes = engine.manifests.plan_writes
    summary_key = s3_layout.plan_summary_key(first.statebag.manifest_prefix)
    written = engine.manifests.written_at[summary_key]

    engine.clock.advance(EXECUTION_DATA_RETENTION_DAYS * DAY * PLAN_REUSE_SHARE_OF_RETENTION - 60)
    engine.run(raw, {"start": 1})
    assert engine.manifests.plan_writes == writes, "still young enough"

    engine.clock.advance(120)
    again = engine.run(raw, {"start": 1})

    assert again.result is not None and again.result.status == "SUCCEEDED"
    assert again.statebag.manifest_prefix == first.statebag.manifest_prefix
    assert engine.manifests.plan_writes == 2 * writes, "every object of the plan, its summary last"
    assert engine.manifests.written_at[summary_key] > written


def test_a_plan_stored_without_its_summary_is_written_again(engine: Engine) -> None:
    raw = linear_workflow("partial", 3)
    first = engine.run(raw, {"start": 1})
    writes = engine.manifests.plan_writes
    del engine.manifests.documents[s3_layout.plan_summary_key(first.statebag.manifest_prefix)]

    again = engine.run(raw, {"start": 1})

    assert again.result is not None and again.result.status == "SUCCEEDED"
    assert engine.manifests.plan_writes == 2 * writes


def test_an_invalid_definition_is_never_taken_for_a_planned_one(engine: Engine) -> None:
    raw = linear_workflow("broken", 2)
    raw["edges"].append(edge("n1", "missing"))
    writes = engine.manifests.plan_writes

    with pytest.raises(WorkflowValidationError, match="missing"):
        engine.start(raw)

    assert engine.manifests.plan_writes == writes


def test_the_end_of_a_routed_run_counts_its_skips_as_the_records_do(engine: Engine, work: Work) -> None:
    for tier in ("gold", "silver"):
        outcome = engine.run(routed(), {"tier": tier})

        assert outcome.result is not None and outcome.result.status == "SUCCEEDED"
        statuses = Counter(engine.statuses(outcome.statebag).values())
        assert outcome.result.nodes == dict(statuses)
        assert outcome.result.nodes == (
            {"succeeded": 5, "skipped": 2} if tier == "gold" else {"succeeded": 6, "skipped": 1}
        )
        assert outcome.result.output == {"tail": "t"}
        last = engine.events(outcome.statebag)[-1]
        assert (last.progress.completed, last.progress.total) == (7, 7)


def test_a_failed_run_still_counts_every_record(engine: Engine, work: Work) -> None:
    raw = workflow(
        "fails", [transform("start", 1), effect_node("boom", fail_times=1)], [edge("start", "boom")]
    )

    outcome = engine.run(raw)

    assert outcome.result is not None and outcome.result.nodes == {"succeeded": 1, "failed": 1}


def test_the_nodes_a_route_can_skip_and_what_decides_it() -> None:
    graph = validate_executable(routed())

    assert skippable_nodes(graph) == {"gold", "silver", "after_silver"}, "the arms join: the join runs"
    rule = skip_rule(graph)
    assert sorted((g.judgment, g.labels, g.nodes) for g in rule.routed) == [
        ("judge", ["gold"], 1),
        ("judge", ["silver"], 2),
    ]
    assert rule.unknown == []
    assert skippable_nodes(validate_executable(linear_workflow("plain", 5))) == set()
    assert skip_rule(validate_executable(linear_workflow("plain", 5))) == SkipRule()


def test_a_route_behind_a_route_is_read_from_its_records() -> None:
    raw = workflow(
        "nested",
        [
            judgment("outer", "{{ input.a }}"),
            judgment("inner", "{{ input.b }}"),
            transform("deep", 1),
            transform("other", 2),
            transform("elsewhere", 3),
        ],
        [
            edge("outer", "inner", "true"),
            edge("outer", "elsewhere", "false"),
            edge("inner", "deep", "true"),
            edge("inner", "other", "false"),
        ],
    )

    rule = skip_rule(validate_executable(raw))

    assert sorted((g.judgment, g.labels, g.nodes) for g in rule.routed) == [
        ("outer", ["false"], 1),
        ("outer", ["true"], 1),
    ]
    assert rule.unknown == ["deep", "other"]


def test_a_judgment_with_one_label_always_takes_it() -> None:
    raw = workflow(
        "single", [judgment("only", "{{ input.a }}"), transform("next", 1)], [edge("only", "next", "true")]
    )

    assert skippable_nodes(validate_executable(raw)) == set()


@PROPERTY_SETTINGS
@given(random_workflows(max_nodes=30, max_padding=200, wait_seconds=(0, 1)), st.integers(0, 2**16))
def test_a_random_run_counts_what_its_records_say(raw: dict[str, Any], route_seed: int) -> None:
    execution_input = {"routes": random_routes(raw, random.Random(route_seed))}
    engine = Engine(FakeClock())

    outcome = engine.run(raw, execution_input)

    assert outcome.result is not None
    assert outcome.result.nodes == dict(Counter(engine.statuses(outcome.statebag).values()))
    if outcome.result.status == "SUCCEEDED":
        last = engine.events(outcome.statebag)[-1]
        assert last.progress.completed == last.progress.total == len(raw["nodes"])
        # counted by the rule, from the few records it names (not by listing them all)
        rule = skip_rule(validate_executable(raw))
        tenant, execution_id = outcome.statebag.tenant_id, outcome.statebag.execution_id
        needed = engine.records.get_nodes(tenant, execution_id, records_needed(rule))
        assert count_skipped(rule, needed) == outcome.result.nodes.get("skipped", 0)


def test_a_resume_keeps_no_skip_its_workflow_could_not_make() -> None:
    graph = validate_executable(linear_workflow("plain", 3))
    node_ids = list(graph.nodes)

    def record(node_id: str, status: str) -> NodeRecord:
        return NodeRecord.model_validate(
            {"node_id": node_id, "segment_id": "s", "stage": 0, "type": "transform", "status": status}
        )

    kept = reusable_records(
        graph, [record(node_ids[0], "succeeded"), record(node_ids[1], "skipped")], None, "earlier"
    )

    assert [r.node_id for r in kept] == [node_ids[0]]


def test_a_published_version_runs_the_plan_of_the_same_definition_submitted(engine: Engine) -> None:
    raw = linear_workflow("published", 5)
    submitted = engine.run(raw, {"start": 1})
    writes = engine.manifests.plan_writes
    engine.versions.publish("default", raw, "me")

    request = ExecutionRequest(
        tenant_id="default", workflow=WorkflowRef(workflow_id="published"), input={"start": 1}
    )
    started = Initializer(
        engine.records, engine.manifests, engine.outputs, engine.versions, engine.journal, clock=engine.clock
    ).initialize(request, "e-published", engine.clock.iso())

    assert started.statebag.workflow_version == 1
    assert started.statebag.manifest_prefix == submitted.statebag.manifest_prefix
    assert engine.manifests.plan_writes == writes
