"""PushEvents: fed by the execution log's DynamoDB stream; sends new events to every subscribed connection.

Records are grouped per execution, so a batch of many events costs one delivery per subscriber, and the
subscribers of an execution share one read of each page of the log. Delivery reads the log from what each
subscriber was sent, so a retried batch sends nothing twice.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent

from segflow.adapters import factory
from segflow.engine.live_delivery import SharedPages, deliver
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
    subscriptions, live = factory.connections(), factory.live_connections()
    log = SharedPages(factory.event_log_reader())
    pushed = 0
    for tenant, execution_id in executions_in(DynamoDBStreamEvent(event)):
        for connection_id in subscriptions.subscribers(tenant, execution_id):
            pushed += deliver(
                subscriptions, log, live, connection_id, tenant, execution_id, context.aws_request_id
            )
    logger.info("pushed", extra={"events_sent": pushed})
    return {"batchItemFailures": []}
