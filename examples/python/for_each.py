"""examples/for_each.json written with the Python builder: a for_each whose sub-flow is a :class:`Flow`."""

from __future__ import annotations

from segflow.dsl.builder import Flow, Workflow, expr


def price_flow() -> Flow:
    flow = Flow()
    bulk = flow.judgment("bulk", expr("item.quantity >= `10`"))
    line = {"line": expr("index"), "sku": expr("item.sku")}
    bulk.when("true") >> flow.transform("bulk_price", {**line, "tier": "bulk"})
    bulk.when("false") >> flow.transform("list_price", {**line, "tier": "list"})
    return flow


def workflow() -> Workflow:
    wf = Workflow(
        "price-check",
        name="Check every order line against its price list",
        description=(
            "A for_each runs a small sub-flow for each order line, eight at a time: a judgment on the "
            "quantity, then a transform per arm. Results come back in line order; the items never travel "
            "through a Step Functions state, however many there are."
        ),
    )
    lines = wf.transform("lines", expr("input.order.lines"), label="the order's lines")
    check = wf.for_each(
        "check_lines", lines.template(), price_flow(), label="check each line", max_concurrency=8
    )
    summary = wf.transform(
        "summary",
        {"lines": check.template("count"), "tiers": check.template("results[].tier")},
        label="summary",
    )
    wf.chain(lines, check, summary)
    return wf


if __name__ == "__main__":
    print(workflow().to_json())
