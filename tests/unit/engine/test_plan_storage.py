"""How a plan is stored: its object count grows with the stages that need an object of their own, not with the
stages, and a Task going through many stages reads each chunk of them once."""

from __future__ import annotations

import math
from typing import Any

from segflow.adapters.manifests import plan_documents
from segflow.domain import s3_layout
from segflow.domain.limits import STAGES_PER_CHUNK
from segflow.domain.stage_layout import BatchRef
from segflow.dsl.validation import validate_executable
from segflow.engine.partitioner import partition

from segflow_local.memory_stores import MemoryManifests
from tests.support.workflows import api_call, chain_edges, fan_out_workflow, transform, workflow
from tests.unit.engine.harness import Engine, FakeClock


class CountingManifests(MemoryManifests):
    """The in-memory bucket, counting the objects read."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[str] = []

    def _get_json(self, key: str) -> Any:
        self.reads.append(key)
        return super()._get_json(key)


def long_chain(count: int) -> dict[str, Any]:
    """A chain of transforms large enough to fill many segments, one stage each."""
    ids = [f"n{i:05d}" for i in range(count)]
    return workflow(
        "chain",
        [transform(node_id, {"i": i, "pad": "x" * 200}) for i, node_id in enumerate(ids)],
        chain_edges(ids),
    )


def test_a_long_chain_is_stored_in_one_object_per_chunk_of_stages_besides_its_manifest_and_sinks() -> None:
    plan = partition(validate_executable(long_chain(2_000)), body_key_for=lambda s: f"p/bodies/{s}.json")
    assert len(plan.stages) > 2 * STAGES_PER_CHUNK

    writes, summaries = plan_documents("p/", plan)

    chunks = math.ceil(len(plan.stages) / STAGES_PER_CHUNK)
    expected = {s3_layout.stage_chunk_key("p/", chunk) for chunk in range(chunks)}
    assert {key for key, _ in writes} == expected | {s3_layout.manifest_key("p/"), s3_layout.sinks_key("p/")}
    assert summaries[0] == {"count": 1, "pure": True, "batches": 1, "bytes": 0}


def test_a_task_going_through_many_stages_reads_each_chunk_once(clock: FakeClock) -> None:
    engine = Engine(clock, manifests=CountingManifests())
    outcome = engine.run(long_chain(2_000))
    assert outcome.result is not None and outcome.result.status == "SUCCEEDED"
    assert isinstance(engine.manifests, CountingManifests)

    stage_reads = [key for key in engine.manifests.reads if "/stages/" in key]
    chunks = math.ceil(outcome.statebag.stage_count / STAGES_PER_CHUNK)
    assert len(engine.invocations) == 1
    assert sorted(stage_reads) == [
        s3_layout.stage_chunk_key(outcome.statebag.manifest_prefix, c) for c in range(chunks)
    ]


def test_a_stage_run_in_batches_has_one_object_read_by_byte_range_whatever_its_characters() -> None:
    branches = [
        api_call(f"c{i:03d}", "https://example.com/x", body={"text": f"é€ {i} ✓"}) for i in range(250)
    ]
    plan = partition(validate_executable(fan_out_workflow("fan", branches)), body_key_for=lambda s: f"p/{s}")
    store = MemoryManifests()
    writes, _ = plan_documents("p/", plan)
    store.documents.update(writes)

    entry = store.read_stage("p/", 1)

    assert entry.batches == 3 and entry.items is not None and entry.segments is None
    assert {key for key, _ in writes if key.startswith("p/stages/")} == {
        s3_layout.stage_chunk_key("p/", 0),
        s3_layout.stage_segments_key("p/", 1),
    }, "the items travel inline: no object for them"
    read = [store.read_batch("p/", BatchRef.model_validate(item)) for item in entry.items]
    configs = {segment.segment_id: segment.config.wire() for segment in plan.segments}
    assert [config for batch in read for config in batch] == [
        configs[s] for s in sorted(plan.stages[1].segment_ids)
    ]
    assert store.read_stage_items("p/", 1) == [config for batch in read for config in batch]
