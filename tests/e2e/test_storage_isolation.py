"""Each stored value has its own key: node outputs never overwrite the execution's own input or output."""

from __future__ import annotations

import pytest

from segflow_cli.client import SegflowClient
from tests.conftest import run_to_end
from tests.support.e2e import final_output, node_outputs
from tests.support.workflows import edge, transform, workflow

pytestmark = pytest.mark.e2e

LARGE = "x" * 40_000  # above OUTPUT_INLINE_MAX_BYTES: stored in S3


def test_a_node_named_execution_input_does_not_overwrite_the_input(client: SegflowClient) -> None:
    # Given a large input, and a node whose id is 'execution-input' with a large output, then two branches
    wf = workflow(
        "input-collision",
        [
            transform("execution-input", {"copy": "{{ input.blob }}"}),
            transform("left", "{{ input.marker }}"),
            transform("right", "{{ input.marker }}"),
        ],
        [edge("execution-input", "left"), edge("execution-input", "right")],
    )
    # When it runs
    arn, description = run_to_end(client, wf, {"blob": LARGE, "marker": "original"})
    # Then the later segments still see the execution input
    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert final_output(client, arn) == {"left": "original", "right": "original"}


def test_a_node_named_execution_output_keeps_its_own_output(client: SegflowClient) -> None:
    wf = workflow("output-collision", [transform("execution-output", {"blob": "{{ input.blob }}"})])
    arn, description = run_to_end(client, wf, {"blob": LARGE})
    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert node_outputs(client, arn)["execution-output"] == {"blob": LARGE}
