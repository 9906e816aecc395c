"""ExecuteSegment: run one segment's nodes. Never loads the workflow config or the partition map.

In a Map it returns the segment's result (discarded). When its stage runs as a Task (``advance``: the stage's
only segment, or the segments of a pure stage one after another) it returns the cursor of what runs next,
running directly following such stages while time remains (:mod:`segflow.engine.segment_chain`).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from segflow.adapters import factory
from segflow.contracts import ExecuteSegmentEvent, SegmentResult
from segflow.domain.plan import SegmentConfig
from segflow.engine.history_budget import budgeted
from segflow.engine.segment_chain import handed_back, run_segment_chain, segment_nodes
from segflow.engine.segment_runner import SegmentRunner
from segflow.handlers.errors import concise_errors
from segflow.handlers.invocation_log import invocation_log_context

logger = Logger()


@invocation_log_context(logger)
@concise_errors(logger)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    parsed = ExecuteSegmentEvent.model_validate(event)
    statebag = parsed.statebag
    stage = parsed.task_stage()
    manifests = factory.manifests()
    if stage is None:  # RunFirstStage with a cursor that is RouteStage's to follow
        assert parsed.cursor is not None
        return handed_back(manifests, statebag, parsed.cursor).model_dump(exclude_none=True)
    segment, stage_segments, history_events = stage
    records = factory.execution_records()
    runner = SegmentRunner(
        records,
        factory.node_outputs(),
        context.get_remaining_time_in_millis,
        services=factory.node_services(statebag.tenant_id),
        journal=factory.journal(records, context.get_remaining_time_in_millis),
    )

    def log_segment(config: SegmentConfig, result: SegmentResult) -> None:
        logger.info(
            "segment finished",
            extra={
                "execution_id": statebag.execution_id,
                "segment_id": config.segment_id,
                "status": result.status,
            },
        )

    if parsed.advance or parsed.cursor is not None:
        cursor = run_segment_chain(
            runner,
            manifests,
            statebag,
            segment,
            context.get_remaining_time_in_millis,
            log_segment,
            stage_segments=stage_segments,
        )
        return budgeted(cursor, history_events).model_dump(exclude_none=True)
    nodes, reads = segment_nodes(manifests, segment)
    result = runner.run(statebag, segment, nodes, reads)
    log_segment(segment, result)
    return result.model_dump()
