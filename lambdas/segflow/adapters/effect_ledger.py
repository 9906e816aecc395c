"""The effect ledger: side effects on a user's DynamoDB table applied at most once per execution and node.

The user's write and a marker item (``EFFECT#<tenant>#<origin execution>`` / ``NODE#<node path>`` in the
executions table) commit in one DynamoDB transaction, made with the tenant's credentials: the node role may
put only such markers, only in its own tenant's partitions (``dynamodb:LeadingKeys``), only with these
attributes (``EFFECT_MARKER_ATTRIBUTES``). A segment retried after its process died, even between the write
and the node's checkpoint, finds the marker, and the transaction is refused instead of writing twice; so
does a resume, as markers are keyed by the execution its chain of resumes started from (its origin). A
transaction cancelled only by contention is sent again (:mod:`segflow.adapters.transactions`); contention
that lasts is the node's ``DynamoDbBusy``, which its retry policy may retry.
"""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import ClientError

from segflow.adapters.dynamo_items import encode_item, expires_at
from segflow.adapters.transactions import transact_write
from segflow.declaration import EFFECT_MARKER_PREFIX
from segflow.domain.errors import EffectConditionFailed


def effect_pk(tenant_id: str, origin_execution_id: str) -> str:
    return f"{EFFECT_MARKER_PREFIX}{tenant_id}#{origin_execution_id}"


class EffectLedger:
    def __init__(self, table_name: str, dynamodb_client: Any) -> None:
        self.table_name = table_name
        self._client = dynamodb_client

    def update_once(
        self,
        tenant_id: str,
        origin_execution_id: str,
        node_id: str,
        update: dict[str, Any],
    ) -> bool:
        """Apply ``update`` (a TransactWriteItems ``Update``) once; False if this node already had, in this
        execution or any of its chain of resumes (all share ``origin_execution_id``)."""
        marker = {
            "pk": effect_pk(tenant_id, origin_execution_id),
            "sk": f"NODE#{node_id}",
            "applied_at": time.time(),
            "target_table": update["TableName"],
            "expires_at": expires_at(),
        }
        try:
            transact_write(
                self._client,
                [
                    {"Update": update},
                    {
                        "Put": {
                            "TableName": self.table_name,
                            "Item": encode_item(marker),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                ],
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            reasons = [r.get("Code") for r in error.response.get("CancellationReasons", [])]
            if len(reasons) == 2 and reasons[1] == "ConditionalCheckFailed":
                return False
            if reasons and reasons[0] == "ConditionalCheckFailed":
                raise EffectConditionFailed(update.get("ConditionExpression", "")) from error
            raise
        return True
