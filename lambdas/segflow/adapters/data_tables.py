"""The user's DynamoDB tables, as nodes read and update them: plain JSON values in and out, failures named.

Updates go through the effect ledger (:mod:`segflow.adapters.effect_ledger`): the update and the node's
marker commit in one transaction, so a retried segment never applies an update twice.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from segflow.adapters.dynamo_items import decode_item, encode_item
from segflow.adapters.effect_ledger import EffectLedger
from segflow.domain.errors import DynamoDbBusy, DynamoDbError, NodeFailure

THROTTLING = {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}


def _failure(table: str, error: ClientError, busy: frozenset[str] = frozenset()) -> NodeFailure:
    code = error.response["Error"]["Code"]
    message = error.response["Error"].get("Message", "")
    if code in THROTTLING or code in busy:
        return DynamoDbBusy(f"{table}: {code}: {message}")
    return DynamoDbError(f"{table}: {code}: {message}")


class DataTables:
    def __init__(self, dynamodb_client: Any, effects: EffectLedger) -> None:
        self._client = dynamodb_client
        self._effects = effects

    def get_item(self, table: str, key: dict[str, Any], consistent_read: bool) -> dict[str, Any] | None:
        try:
            answer = self._client.get_item(
                TableName=table, Key=encode_item(key), ConsistentRead=consistent_read
            )
        except ClientError as error:
            raise _failure(table, error) from error
        return decode_item(answer["Item"]) if "Item" in answer else None

    def query(
        self,
        table: str,
        key_condition_expression: str,
        expression_attribute_values: dict[str, Any],
        *,
        expression_attribute_names: dict[str, str],
        filter_expression: str | None,
        index: str | None,
        scan_forward: bool,
        consistent_read: bool,
        limit: int,
    ) -> list[dict[str, Any]]:
        request: dict[str, Any] = {
            "TableName": table,
            "KeyConditionExpression": key_condition_expression,
            "ExpressionAttributeValues": encode_item(expression_attribute_values),
            "ScanIndexForward": scan_forward,
            "ConsistentRead": consistent_read,
        }
        if expression_attribute_names:
            request["ExpressionAttributeNames"] = expression_attribute_names
        if filter_expression:
            request["FilterExpression"] = filter_expression
        if index:
            request["IndexName"] = index
        items: list[dict[str, Any]] = []
        while len(items) < limit:
            try:
                page = self._client.query(**request, Limit=limit - len(items))
            except ClientError as error:
                raise _failure(table, error) from error
            items.extend(decode_item(item) for item in page["Items"])
            if "LastEvaluatedKey" not in page:
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return items

    def update_once(
        self,
        tenant_id: str,
        origin_execution_id: str,
        node_id: str,
        table: str,
        key: dict[str, Any],
        update_expression: str,
        *,
        expression_attribute_names: dict[str, str],
        expression_attribute_values: dict[str, Any],
        condition_expression: str | None,
    ) -> bool:
        update: dict[str, Any] = {
            "TableName": table,
            "Key": encode_item(key),
            "UpdateExpression": update_expression,
        }
        if expression_attribute_names:
            update["ExpressionAttributeNames"] = expression_attribute_names
        if expression_attribute_values:
            update["ExpressionAttributeValues"] = encode_item(expression_attribute_values)
        if condition_expression:
            update["ConditionExpression"] = condition_expression
        try:
            return self._effects.update_once(tenant_id, origin_execution_id, node_id, update)
        except ClientError as error:  # contention that outlasted the ledger's own attempts is busy too
            raise _failure(table, error, frozenset({"TransactionCanceledException"})) from error
