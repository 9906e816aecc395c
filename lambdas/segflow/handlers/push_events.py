"""PushEvents: fed by the execution log's DynamoDB stream; sends new events to every watching connection.

Records are grouped per execution. An execution nobody watches costs one read of its feed; a watched one a
delivery (:func:`segflow.engine.live_delivery.deliver`) whose writes do not depend on how many watch: the
feed's lease taken and given back. Delivery reads the log from where the feed was pushed, so a retried batch
sends nothing twice.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent

from segflow.adapters import factory
from segflow.engine.live_delivery import deliver
from segflow.handlers.invocation_log import invocation_log_context

logger = Logger()


def executions_in(event: DynamoDBStreamEvent) -> list[tuple[str, str]]:
    """(tenant, execution id) of every inserted event, first appearance first."""
    seen: dict[tuple[str, str], None] = {}
    for record in event.records:
        keys = record.dynamodb.keys if record.dynamodb else None
        if record.event_name is None or record.event_name.name != "INSERT" or not keys:
            continue
        _, tenant, execution_id = str(keys["pk"]).split("#", 2)
        seen[(tenant, execution_id)] = None
    return list(seen)


@invocation_log_context(logger)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    feeds, live, log = factory.connections(), factory.live_connections(), factory.event_log_reader()
    pushed = 0
    for tenant, execution_id in executions_in(DynamoDBStreamEvent(event)):
        sent = deliver(feeds, log, live, tenant, execution_id, context.aws_request_id)
        pushed += sum(sent.values())
    logger.info("pushed", extra={"events_sent": pushed})
    return {"batchItemFailures": []}
