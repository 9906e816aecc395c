"""Outputs far larger than a state payload live in S3; later nodes still read them; states stay small."""

from __future__ import annotations

import pytest
from segflow.domain.limits import OUTPUT_INLINE_MAX_BYTES, STATE_PAYLOAD_BUDGET_BYTES

from segflow_cli.client import SegflowClient
from tests.conftest import history, run_to_end
from tests.support.e2e import final_output, node_outputs, unique_path
from tests.support.history import largest_payload
from tests.support.http_server import LocalHttpServer
from tests.support.stores import stores_of
from tests.support.workflows import api_call, chain_edges, transform, workflow

pytestmark = pytest.mark.e2e

BIG_CHARS = 150_000


def test_a_150_kb_output_is_stored_in_s3_and_read_by_a_later_node(
    client: SegflowClient, http_server: LocalHttpServer
) -> None:
    # Given an API answering 150 KB, and a node two steps later reading that answer
    path = unique_path("big")
    http_server.route("GET", path, body={"data": "x" * BIG_CHARS, "tail": "the end"})
    wf = workflow(
        "large-output",
        [
            api_call("fetch", http_server.url + path, method="GET"),
            transform("middle", {"ok": True}),
            transform(
                "summary",
                {"length": "{{ length(nodes.fetch.body.data) }}", "tail": "{{ nodes.fetch.body.tail }}"},
            ),
        ],
        chain_edges(["fetch", "middle", "summary"]),
    )

    # When it runs
    arn, description = run_to_end(client, wf)

    # Then the later node read the whole output
    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert final_output(client, arn) == {"summary": {"length": BIG_CHARS, "tail": "the end"}}
    # and the output itself lives in S3, not in the record
    record = client.node_records(arn)["fetch"]
    assert record.output_json is None and record.output_key
    assert record.output_bytes > BIG_CHARS > OUTPUT_INLINE_MAX_BYTES
    stored = stores_of(client).s3.head_object(Bucket=client.resources.bucket, Key=record.output_key)
    assert stored["ContentLength"] == record.output_bytes
    assert node_outputs(client, arn)["fetch"]["body"]["tail"] == "the end"
    # and no state input or output came near it
    largest = largest_payload(history(client, arn))
    assert largest.size <= STATE_PAYLOAD_BUDGET_BYTES, str(largest)


def test_a_large_final_output_is_returned_by_reference(client: SegflowClient) -> None:
    wf = workflow(
        "large-final",
        [
            transform("seed", {"n": 3}),
            transform("big", {"blob": "{{ join('', [input.chunk, input.chunk]) }}"}),
        ],
        chain_edges(["seed", "big"]),
    )
    arn, description = run_to_end(client, wf, {"chunk": "y" * 60_000})
    assert description["status"] == "SUCCEEDED", description.get("cause")
    result = client.output(arn)
    assert result["output_ref"], "the final output did not fit inline"
    ended = stores_of(client).sfn.describe_execution(executionArn=arn)
    assert len(ended["output"].encode()) <= STATE_PAYLOAD_BUDGET_BYTES
    assert len(result["output"]["big"]["blob"]) == 120_000
    assert largest_payload(history(client, arn)).size <= STATE_PAYLOAD_BUDGET_BYTES
