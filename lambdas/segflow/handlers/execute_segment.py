"""ExecuteSegment: run one segment's nodes. Never loads the workflow config or the partition map."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from segflow.contracts import ExecuteSegmentEvent
from segflow.engine.plan import SegmentConfig
from segflow.engine.segment_runner import SegmentRunner
from segflow.handlers.errors import concise_errors
from segflow.nodes.base import NodeServices
from segflow.stores import factory

logger = Logger()


@logger.inject_lambda_context(clear_state=True)
@concise_errors(logger)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    parsed = ExecuteSegmentEvent.model_validate(event)
    statebag = parsed.statebag
    manifests = factory.manifests()
    segment = parsed.segment_config
    if segment is None:  # fallback: the manifest entry by index
        entry = manifests.read_manifest_entry(statebag.manifest_prefix, parsed.segment_index or 0)
        segment = SegmentConfig.model_validate(entry["segment_config"])
    nodes, reads = segment.nodes, segment.reads
    if segment.body_key:
        body = manifests.read_body(segment.body_key)
        nodes, reads = body.nodes, body.reads
    runner = SegmentRunner(
        factory.execution_records(),
        factory.node_outputs(),
        context.get_remaining_time_in_millis,
        services=NodeServices(workflow_versions_factory=factory.workflow_versions),
    )
    result = runner.run(statebag, segment, nodes or [], reads)
    logger.info(
        "segment finished",
        extra={
            "execution_id": statebag.execution_id,
            "segment_id": segment.segment_id,
            "status": result.status,
        },
    )
    return result.model_dump()
