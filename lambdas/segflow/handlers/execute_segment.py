"""ExecuteSegment: run a batch of a stage's segments, or a stage run as a Task and those that follow it.
Never loads the workflow config or the partition map.

In a Map, an item names one batch of its stage (:mod:`segflow.engine.stage_batch`): its segments run at the
same time, each recording its outcome, and the handler returns ``{}`` (the Map discards it; AdvanceStage
decides from the records). When its stage runs as a Task (``advance``: one segment, pure segments, or one
batch) it returns the cursor of what runs next, running directly following such stages while time remains
(:mod:`segflow.engine.segment_chain`). Handed one segment_config without ``advance``, it runs that segment
alone and returns its result.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from segflow.adapters import factory
from segflow.contracts import ExecuteSegmentEvent, SegmentResult
from segflow.domain.plan import SegmentConfig
from segflow.engine.history_budget import budgeted
from segflow.engine.segment_chain import handed_back, run_segment_chain
from segflow.engine.segment_runner import SegmentRunner
from segflow.engine.stage_batch import run_map_batch, segment_nodes
from segflow.handlers.errors import concise_errors
from segflow.handlers.invocation_log import invocation_log_context

logger = Logger()


@invocation_log_context(logger)
@concise_errors(logger)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    parsed = ExecuteSegmentEvent.model_validate(event)
    statebag = parsed.statebag
    manifests = factory.manifests()
    if parsed.cursor is not None and not parsed.cursor.starts_as_task():
        # RunFirstStage with a cursor that is RouteStage's to follow
        return handed_back(manifests, statebag, parsed.cursor).model_dump(exclude_none=True)
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

    if parsed.batch is not None:
        outcome = run_map_batch(runner, manifests, statebag, parsed.batch, log_segment)
        outcome.raise_failure()
        return {}
    stage = parsed.task_stage()
    assert stage is not None  # a cursor that does not start as a Task was handed back above
    segment, stage_segments, history_events = stage
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
    result = runner.run(statebag, segment, *segment_nodes(manifests, segment))
    log_segment(segment, result)
    return result.model_dump()
