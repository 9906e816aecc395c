"""A node output of 50 MB is kept in S3 (never in a state or a DynamoDB item) and the execution succeeds."""

from __future__ import annotations

import pytest
from segflow.domain.limits import STATE_PAYLOAD_BUDGET_BYTES

from segflow_cli.client import SegflowClient
from tests.conftest import history, run_to_end
from tests.support.history import largest_payload
from tests.support.workflows import chain_edges, transform, workflow

pytestmark = pytest.mark.e2e

FIFTY_MB = 50 * 1024 * 1024


def test_a_fifty_megabyte_output_goes_through_s3_and_the_execution_succeeds(client: SegflowClient) -> None:
    # Given a node whose output is a 50 MB string (from a 50 MB input, which travels by S3 reference too)
    wf = workflow(
        "fifty-mb",
        [
            transform("big", {"blob": "{{ input.blob }}"}),
            transform("size", {"length": "{{ length(nodes.big.blob) }}"}),
        ],
        chain_edges(["big", "size"]),
    )

    # When it runs
    arn, description = run_to_end(client, wf, {"blob": "x" * FIFTY_MB}, timeout=600)

    # Then it succeeds; the big output is an S3 object, the next node read it whole, no state grew
    assert description["status"] == "SUCCEEDED", description.get("cause")
    record = client.node_records(arn)["big"]
    assert record.output_key and record.output_json is None and record.output_bytes > FIFTY_MB
    assert client.node_records(arn)["size"].output_json == '{"length":52428800}'
    assert largest_payload(history(client, arn)).size <= STATE_PAYLOAD_BUDGET_BYTES
