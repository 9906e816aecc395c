"""A user's own Lambda function for examples/lambda_invoke.json: scores an order's risk.

Deploy it as a Python function (handler ``lambda_function.handler``); segflow calls it synchronously and the
dict it returns is the node's output. Raising fails the node with the exception's class name as its error.
"""

from __future__ import annotations

from typing import Any


class OrderRejected(Exception):
    """An order segflow should not go on with (the node fails with error type OrderRejected)."""


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    lines = event.get("lines") or []
    if not lines:
        raise OrderRejected(f"order {event.get('order_id')!r} has no lines")
    total = sum(line["qty"] * line["price"] for line in lines)
    risk = "high" if total > 1000 else "low"
    custom = getattr(getattr(context, "client_context", None), "custom", None) or {}
    return {
        "order_id": event.get("order_id"),
        "total": round(total, 2),
        "risk": risk,
        "idempotency_key": custom.get("segflow_idempotency_key"),
    }
