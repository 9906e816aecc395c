"""A definition is planned once: running the same 2,000-node chain a second time writes at most 3 S3 objects.

Every object written to the data bucket is counted where it lands, in the embedded S3 (whichever client wrote
it: the handlers', the management path's upload of the definition), during each run. The first run writes the
plan (manifest, stage items, stage index, sinks, summary) and both reference copies; the second reads them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from moto.s3.models import S3Backend
from segflow.domain import s3_layout

from segflow_cli.client import SegflowClient
from tests.conftest import run_to_end
from tests.support.e2e import final_output
from tests.support.workflows import linear_workflow

pytestmark = pytest.mark.e2e

NODES = 2_000
SECOND_RUN_MAX_OBJECTS = 3


@pytest.fixture()
def written(client: SegflowClient, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The keys of every object written to the data bucket from now on, in order."""
    keys: list[str] = []
    original = S3Backend.put_object

    def put_object(self: S3Backend, bucket_name: str, key_name: str, *args: Any, **kwargs: Any) -> Any:
        if bucket_name == client.resources.bucket:
            keys.append(key_name)
        return original(self, bucket_name, key_name, *args, **kwargs)

    monkeypatch.setattr(S3Backend, "put_object", put_object)
    yield keys


def test_running_a_definition_again_writes_none_of_its_plan(
    client: SegflowClient, written: list[str], measure: Any
) -> None:
    wf = linear_workflow("planned-once", NODES)

    first_arn, first = run_to_end(client, wf, {"start": 1}, timeout=600)
    assert first["status"] == "SUCCEEDED", first.get("cause")
    first_writes = list(written)
    written.clear()
    second_arn, second = run_to_end(client, wf, {"start": 1}, timeout=600)

    assert second["status"] == "SUCCEEDED", second.get("cause")
    assert (
        final_output(client, second_arn)
        == final_output(client, first_arn)
        == {f"n{NODES - 1}": {"value": 1, "step": NODES - 1}}
    )
    assert client.output(second_arn)["nodes"] == {"succeeded": NODES}
    # The first run planned: the plan and both reference copies, under the definition's plan key
    record = client.execution_record(second_arn)
    assert record is not None
    prefix = record.manifest_prefix
    assert prefix == client.execution_record(first_arn).manifest_prefix  # type: ignore[union-attr]
    plan_key = prefix.rstrip("/").rsplit("/", 1)[-1]
    assert s3_layout.plan_summary_key(prefix) in first_writes
    assert s3_layout.workflow_config_reference_key(client.tenant_id, "planned-once", plan_key) in first_writes
    assert s3_layout.partition_map_reference_key(client.tenant_id, "planned-once", plan_key) in first_writes
    # and the second wrote at most 3 objects, none of them the plan's
    assert len(written) <= SECOND_RUN_MAX_OBJECTS, written
    assert not [key for key in written if key.startswith((prefix, s3_layout.REFERENCE))], written
    measure(first_run_s3_objects=len(first_writes), second_run_s3_objects=len(written))
