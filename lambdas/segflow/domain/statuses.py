"""The status vocabulary: what an execution, a node and a segment run can be, and which states are final.

Executions use Step Functions' own words (``RUNNING`` … ``TIMED_OUT``); execution events and node records use
lower case (an execution's state in an event is its status in lower case, see :func:`event_state`).
"""

from __future__ import annotations

from typing import Literal, cast

ExecutionStatus = Literal["RUNNING", "SUCCEEDED", "FAILED", "ABORTED", "TIMED_OUT"]
# What DescribeExecution may also answer while a redrive is pending.
DescribedExecutionStatus = Literal[
    "RUNNING", "SUCCEEDED", "FAILED", "ABORTED", "TIMED_OUT", "PENDING_REDRIVE"
]
TERMINAL_EXECUTION_STATUSES: tuple[ExecutionStatus, ...] = ("SUCCEEDED", "FAILED", "ABORTED", "TIMED_OUT")
# An execution that ended without succeeding can be resumed from its completed nodes.
RESUMABLE_EXECUTION_STATUSES: tuple[ExecutionStatus, ...] = ("FAILED", "TIMED_OUT", "ABORTED")

# An execution's state in its events: pending before it runs, then its status in lower case.
ExecutionState = Literal["pending", "running", "succeeded", "failed", "aborted", "timed_out"]
TERMINAL_EXECUTION_STATES: tuple[ExecutionState, ...] = ("succeeded", "failed", "aborted", "timed_out")

NodeStatus = Literal["running", "succeeded", "failed", "skipped", "waiting"]
TERMINAL_NODE_STATUSES: tuple[NodeStatus, ...] = ("succeeded", "failed", "skipped")
# A resume carries these over from the execution it resumes: they are not run again.
REUSABLE_NODE_STATUSES: tuple[NodeStatus, ...] = ("succeeded", "skipped")
# A node's state in its events: its record's status, and the states between them.
NodeState = Literal["pending", "running", "retrying", "succeeded", "failed", "skipped", "waiting"]

SegmentRecordStatus = Literal["succeeded", "failed", "waiting", "yielded", "approval"]


def event_state(status: ExecutionStatus) -> ExecutionState:
    """An execution's status as its events say it."""
    return cast(ExecutionState, status.lower())
