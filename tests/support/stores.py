"""What a stack stored, read directly: for tests that assert on records, objects and Step Functions itself.

The CLI's client reads nothing of this itself (it goes through the executions service); a test that checks
what the engine wrote, or drives Step Functions under it, takes these from ``stores_of(client)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from segflow.adapters.execution_records import ExecutionRecordStore
from segflow.adapters.outputs import NodeOutputStore

from segflow_cli.client import SegflowClient


@dataclass(frozen=True)
class StackStores:
    records: ExecutionRecordStore  # the executions table: execution and node records
    outputs: NodeOutputStore  # node and execution outputs (inline or in the bucket)
    s3: Any  # an S3 client of the stack's session
    sfn: Any  # a Step Functions client of the stack's session
    bucket: str
    state_machine_arn: str


@cache
def _stored(session: Any, executions_table: str, bucket: str, state_machine_arn: str) -> StackStores:
    s3 = session.client("s3")
    return StackStores(
        records=ExecutionRecordStore(executions_table, session.client("dynamodb")),
        outputs=NodeOutputStore(bucket, s3),
        s3=s3,
        sfn=session.client("stepfunctions"),
        bucket=bucket,
        state_machine_arn=state_machine_arn,
    )


def stores_of(client: SegflowClient) -> StackStores:
    """The stores and clients of ``client``'s stack (one set per stack and session)."""
    resources = client.resources
    return _stored(client.session, resources.executions_table, resources.bucket, resources.state_machine_arn)
