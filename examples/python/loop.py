"""examples/loop.json written with the Python builder: a loop until a condition holds, at most 20 times."""

from __future__ import annotations

from segflow.dsl.builder import Flow, Workflow, expr


def workflow() -> Workflow:
    wf = Workflow(
        "backoff-schedule",
        name="Build a retry schedule with a loop",
        description=(
            "A loop runs its sub-flow until the condition holds: each iteration adds the next delay to the "
            "schedule (loop.previous is the last iteration's result). If it does not hold within "
            "max_iterations the node fails and says after how many iterations, rather than returning a "
            "partial schedule."
        ),
    )
    step = Flow()
    step.transform(
        "next",
        {
            "delays": expr("[loop.previous.delays, [input.step_seconds]][]"),
            "total": expr("sum([loop.previous.total, input.step_seconds])"),
        },
    )
    schedule = wf.loop(
        "schedule",
        step,
        until=expr("result.total >= input.budget_seconds"),
        max_iterations=20,
        label="add delays until the budget is spent",
        initial={"delays": [], "total": 0},
    )
    report = wf.transform(
        "report",
        {"iterations": schedule.template("iterations"), "delays": schedule.template("result.delays")},
    )
    schedule >> report
    return wf


if __name__ == "__main__":
    print(workflow().to_json())
