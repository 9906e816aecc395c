"""examples/order_review.json written with the Python builder (the suite checks both are the same workflow).

Print the JSON: ``python examples/python/order_review.py > /tmp/order_review.json``.
"""

from __future__ import annotations

from segflow.dsl.builder import Retry, Workflow, expr


def workflow() -> Workflow:
    wf = Workflow(
        "order-review",
        name="Order review (the four-node flow)",
        description=(
            "data query -> judgment -> action -> notification. The order is read from your DynamoDB table; "
            "large orders are escalated through an API; small ones are approved automatically. Either way a "
            "notification goes out."
        ),
    )
    load = wf.data_query(
        "load_order",
        "dynamodb",
        label="data query",
        operation="get",
        table=expr("input.orders_table"),
        key={"order_id": expr("input.order_id")},
        select="{order_id: order_id, amount: sum(lines[].amount), customer: customer}",
    )
    assess = wf.judgment(
        "assess",
        expr(f"{load.ref('amount')} > input.review_threshold"),
        label="judgment: large order?",
    )
    escalate = wf.action(
        "escalate",
        "api_call",
        label="action: open review",
        url="{{ input.api_url }}/reviews",
        method="POST",
        headers={"X-Request-Source": "segflow"},
        body={
            "order_id": load.template("order_id"),
            "amount": load.template("amount"),
            "reason": "above threshold",
        },
        config={"timeout_seconds": 10},  # the call's own timeout (timeout_seconds=... would be the node's)
        retry=Retry(max_attempts=3, backoff_seconds=0.5),
    )
    approve = wf.transform(
        "auto_approve", {"approved": True, "order_id": load.template("order_id")}, label="auto-approve"
    )
    outcome = expr(f"{assess.ref('route')} == 'true' && 'sent for review' || 'approved'")
    notify = wf.notification(
        "notify",
        "webhook",
        label="notification",
        url="{{ input.api_url }}/notifications",
        message=f"Order {load.template('order_id')} ({load.template('amount')}): {outcome}",
        payload={"to": load.template("customer")},
    )
    load >> assess
    assess.when("true") >> escalate
    assess.when("false") >> approve
    escalate >> notify
    approve >> notify
    return wf


if __name__ == "__main__":
    print(workflow().to_json())
