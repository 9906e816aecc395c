"""Answers of model calls, kept per node in the executions table (``MODELCALL#<node>#<n>``), so a segment
retried after a crash reuses them instead of calling the model again."""

from __future__ import annotations

from typing import Any

from segflow.adapters.dynamo_items import decode_item, encode_item, expires_at, put_if_absent
from segflow.adapters.execution_records import execution_pk
from segflow.llm.models import ChatAnswer


class ModelCallLedger:
    def __init__(self, table_name: str, dynamodb_client: Any) -> None:
        self.table_name = table_name
        self._client = dynamodb_client

    def answers(self, tenant_id: str, execution_id: str, call_key: str) -> list[ChatAnswer]:
        response = self._client.query(
            TableName=self.table_name,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues=encode_item(
                {":pk": execution_pk(tenant_id, execution_id), ":prefix": f"MODELCALL#{call_key}#"}
            ),
            ConsistentRead=True,
        )
        items = sorted((decode_item(i) for i in response.get("Items", [])), key=lambda i: i["number"])
        return [ChatAnswer.model_validate_json(item["answer"]) for item in items]

    def keep(self, tenant_id: str, execution_id: str, call_key: str, number: int, answer: ChatAnswer) -> None:
        """Keep call ``number``'s answer; a concurrent attempt's answer, kept first, stands."""
        item = {
            "pk": execution_pk(tenant_id, execution_id),
            "sk": f"MODELCALL#{call_key}#{number:02d}",
            "number": number,
            "answer": answer.model_dump_json(),
            "expires_at": expires_at(),
        }
        put_if_absent(self._client, self.table_name, item)
