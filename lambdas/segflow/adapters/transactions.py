"""DynamoDB transactions cancelled only by contention, sent again (jittered, bounded).

DynamoDB cancels a TransactWriteItems whose items another transaction is changing at that moment (reason
``TransactionConflict``) or whose capacity ran short (``ThrottlingError``, ``ProvisionedThroughputExceeded``):
nothing was written, and the same request may be sent again. botocore retries none of these (a 400
``TransactionCanceledException``); a cancellation with any other reason (a failed condition, a validation
error) is the caller's to handle, as is contention that outlasts the attempts.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any, cast

from botocore.exceptions import ClientError

from segflow.domain.limits import (
    TRANSACTION_BACKOFF_BASE_SECONDS,
    TRANSACTION_BACKOFF_CAP_SECONDS,
    TRANSACTION_MAX_ATTEMPTS,
)

CONTENTION_REASONS = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})


def cancelled_by_contention(error: ClientError) -> bool:
    """The request was refused only because of other requests or capacity: sending it again may succeed."""
    code = error.response.get("Error", {}).get("Code")
    if code == "TransactionConflictException":  # a single-item write that met a transaction
        return True
    if code != "TransactionCanceledException":
        return False
    reasons = [reason.get("Code") for reason in error.response.get("CancellationReasons", [])]
    contended = [r for r in reasons if r in CONTENTION_REASONS]
    return bool(contended) and all(r in CONTENTION_REASONS or r in (None, "None") for r in reasons)


def transact_write(
    client: Any, items: list[dict[str, Any]], sleep: Callable[[float], None] = time.sleep
) -> dict[str, Any]:
    """``TransactWriteItems`` of ``items``, sent again while DynamoDB cancels it only by contention."""
    for attempt in range(1, TRANSACTION_MAX_ATTEMPTS + 1):
        try:
            return cast(dict[str, Any], client.transact_write_items(TransactItems=items))
        except ClientError as error:
            if attempt == TRANSACTION_MAX_ATTEMPTS or not cancelled_by_contention(error):
                raise
            ceiling = min(
                TRANSACTION_BACKOFF_CAP_SECONDS, TRANSACTION_BACKOFF_BASE_SECONDS * 2 ** (attempt - 1)
            )
            sleep(random.uniform(0, ceiling))
    raise AssertionError("unreachable")
