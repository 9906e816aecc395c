"""``python -m bench.side_effect_stage [--segments 1000]``: one stage of that many side-effect segments.

A fan-out of N ``api_call`` branches (the ``calls`` shape: every branch posts to a local echo service) is one
stage of N segments with side effects. The run must end SUCCEEDED under every quota the embedded AWS enforces:
256 KB on each state's input and output, on each Lambda result and on the Map's collected result
(``segflow_local.moto_patches``; a child adds ``{}``). Printed: wall time, state transitions (the execution's
own, plus one per Distributed Map child, whose histories are not in the parent's), the largest payload in the
execution's history and where, the history's event count, and the size of the Map's collected result (read
from the emulator).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from segflow.domain.limits import STEP_FUNCTIONS_PAYLOAD_LIMIT_BYTES

from bench import emulator, history, workflows
from bench.echo_server import EchoServer
from segflow_cli.client import SegflowClient
from segflow_cli.locate import Resources
from segflow_local.embedded import EmbeddedAws, embedded_aws

DEFAULT_SEGMENTS = 1_000


@dataclass(frozen=True)
class StageRun:
    segments: int
    status: str
    seconds: float
    history_events: int
    transitions: int  # the execution's own, plus one per Distributed Map child
    largest_payload: int
    largest_payload_where: str
    map_result_bytes: int | None  # the largest Map result seen (None: not recorded)
    failure: str = ""  # the execution's error and cause, if it did not succeed

    def lines(self) -> list[str]:
        per_segment_ms = 1000 * self.seconds / max(1, self.segments)
        result = "not recorded" if self.map_result_bytes is None else f"{self.map_result_bytes:,} bytes"
        return [
            f"segments with side effects in one stage: {self.segments:,}",
            f"status: {self.status}",
            f"wall time: {self.seconds:.1f} s ({per_segment_ms:.0f} ms a segment)",
            f"state transitions: {self.transitions:,}",
            f"history events: {self.history_events:,}",
            f"largest state payload: {self.largest_payload:,} bytes ({self.largest_payload_where})",
            f"Map's collected result: {result} (limit {STEP_FUNCTIONS_PAYLOAD_LIMIT_BYTES:,})",
            *([f"failure: {self.failure}"] if self.failure else []),
        ]


class MapResults:
    """Records the size of every Map's collected result (before ``ResultPath`` drops it), as Step Functions
    counts it, and how many children the Distributed Maps ran: their histories are not in the parent's, so
    this reads both from the emulator."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.distributed_children = 0

    @contextmanager
    def recording(self) -> Iterator[MapResults]:
        from moto.stepfunctions.parser.asl.component.state.exec.state_map.state_map import (
            DistributedIterationComponent,
            StateMap,
        )
        from moto.stepfunctions.parser.asl.utils.encoding import to_json_str

        original = StateMap._eval_execution
        recorder = self

        def _eval_execution(self: Any, env: Any) -> None:
            try:
                original(self, env)
            finally:
                if env.stack:
                    result = env.stack[-1]
                    recorder.sizes.append(len(to_json_str(result, separators=(",", ":")).encode()))
                    distributed = isinstance(self.iteration_component, DistributedIterationComponent)
                    if distributed and isinstance(result, list):
                        recorder.distributed_children += len(result)

        StateMap._eval_execution = _eval_execution  # type: ignore[method-assign]
        try:
            yield self
        finally:
            StateMap._eval_execution = original  # type: ignore[method-assign]


def run(
    embedded: EmbeddedAws,
    segments: int,
    call_url: str,
    map_results: MapResults | None = None,
    timeout_seconds: float = 7_200,
) -> StageRun:
    client = SegflowClient(embedded.session, Resources.from_outputs(embedded.stack.outputs()))
    workflow = workflows.build("calls", segments + 2)  # a root, the branches, a join
    began = time.monotonic()
    arn = client.start(workflow, workflows.blob_input(64, call_url))
    description = client.wait(arn, timeout_seconds=timeout_seconds)
    seconds = time.monotonic() - began
    events = history.fetch(embedded.client("stepfunctions"), arn)
    metrics = history.measure(events)
    return StageRun(
        segments=segments,
        status=description["status"],
        seconds=seconds,
        history_events=len(events),
        transitions=metrics.transitions + (map_results.distributed_children if map_results else 0),
        largest_payload=metrics.largest_payload,
        largest_payload_where=metrics.largest_payload_where,
        map_result_bytes=max(map_results.sizes, default=None) if map_results else None,
        failure=f"{description.get('error', '')}: {description.get('cause', '')}"[:1000]
        if description["status"] != "SUCCEEDED"
        else "",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=DEFAULT_SEGMENTS)
    args = parser.parse_args(argv)
    emulator.apply()
    map_results = MapResults()
    echo = EchoServer().start()
    try:
        with embedded_aws(stage="bench-stage") as embedded, map_results.recording():
            os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"  # after the deployment set the handlers' INFO
            emulator.quiet_handler_logs()
            result = run(embedded, args.segments, echo.url, map_results)
    finally:
        echo.stop()
    print("\n".join(result.lines()))
    return 0 if result.status == "SUCCEEDED" else 1


if __name__ == "__main__":
    sys.exit(main())
