"""How many history events the state machine writes, and when an execution must continue in a new one.

Step Functions ends an execution at 25,000 history events. Handlers cannot read the history cheaply
(GetExecutionHistory is throttled per account), but segflow's state machine is fixed, so the events each
cursor causes are known: every cursor carries ``events``, the estimated history length once its states have
run. Before the state machine is pointed at the next stage, :func:`budgeted` checks that the stage, and a
continuation after it, still fit :data:`~segflow.domain.limits.HISTORY_EVENT_BUDGET`; if not, the cursor
becomes a continuation and a new execution takes the stage over (:mod:`segflow.engine.continuation`).

The counts are those of ``asl/workflow.asl.json`` (a test compares them with real histories): a Task is
Entered, Scheduled, Started, Succeeded, Exited; a Choice Entered and Exited; an inline Map Entered, Started,
Succeeded, Exited around 7 events per item; a Distributed Map adds MapRunStarted and MapRunSucceeded.
"""

from __future__ import annotations

from segflow.contracts import Cursor
from segflow.domain.limits import HISTORY_EVENT_BUDGET

TASK_EVENTS = 5
CHOICE_EVENTS = 2
# ExecutionStarted, then the InitializeStateBag Task (RunFirstStage follows: first_budgeted).
START_EVENTS = 1 + TASK_EVENTS
# WaitBeforeStage, then the RouteStageAfterWait Choice.
WAIT_EVENTS = 2 + CHOICE_EVENTS
INLINE_MAP_EVENTS = 4
MAP_ITEM_EVENTS = 7  # MapIterationStarted, the ExecuteSegment Task, MapIterationSucceeded
DISTRIBUTED_MAP_EVENTS = 6
# WaitForApproval (a callback Task: TaskSubmitted too), then the RouteStageAfterWait Choice.
APPROVAL_EVENTS = TASK_EVENTS + 1 + CHOICE_EVENTS
# FinalizeExecution, then ExecutionSucceeded.
FINISH_EVENTS = TASK_EVENTS + 1
# ContinueExecution, the ExecutionContinued Succeed state, ExecutionSucceeded.
CONTINUE_EVENTS = TASK_EVENTS + 2 + 1


def dispatch_events(cursor: Cursor) -> int:
    """The events from RouteStage through the states that run ``cursor``'s stage (AdvanceStage included)."""
    events = CHOICE_EVENTS
    if cursor.mode == "done":
        return events + FINISH_EVENTS
    if cursor.mode == "continue":
        return events + CONTINUE_EVENTS
    if cursor.approval is not None:
        events += APPROVAL_EVENTS
    elif cursor.wait_seconds > 0:
        events += WAIT_EVENTS
    if cursor.mode == "single":
        return events + TASK_EVENTS
    if cursor.mode == "inline":
        return events + INLINE_MAP_EVENTS + MAP_ITEM_EVENTS * len(cursor.items or ()) + TASK_EVENTS
    return events + DISTRIBUTED_MAP_EVENTS + TASK_EVENTS


def first_budgeted(cursor: Cursor) -> Cursor:
    """InitializeStateBag's cursor: RunFirstStage follows at once, running the stage itself when it
    :meth:`~segflow.contracts.Cursor.starts_as_task`, else handing the cursor back for RouteStage. An inline
    Map's items are left out (RunFirstStage reads them back): no ExecuteSegment gets segments not its own."""
    after_first_task = START_EVENTS + TASK_EVENTS
    if cursor.starts_as_task():
        return cursor.model_copy(update={"events": after_first_task})
    return budgeted(cursor, after_first_task).model_copy(update={"items": None})


def budgeted(cursor: Cursor, events_so_far: int, budget: int = HISTORY_EVENT_BUDGET) -> Cursor:
    """``cursor`` with its events estimate; a continuation at its stage if it leaves no room for one."""
    if cursor.mode not in ("done", "continue"):
        after = events_so_far + dispatch_events(cursor)
        continuation = Cursor(stage=cursor.stage, mode="continue", wait_seconds=cursor.wait_seconds)
        if after + dispatch_events(continuation) > budget:
            return continuation.model_copy(update={"events": events_so_far + dispatch_events(continuation)})
        return cursor.model_copy(update={"events": after})
    return cursor.model_copy(update={"events": events_so_far + dispatch_events(cursor)})
