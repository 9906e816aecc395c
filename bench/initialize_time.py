"""Where InitializeStateBag's time goes on a large chain: the first run (plans) and the next (reads the plan).

Runs the initializer as the deployed function runs it (its adapters, environment and IAM policy) on the
in-process embedded AWS, under cProfile, and prints each phase's cumulative seconds: reading the submission,
validating, partitioning, writing the plan and the reference copies, recording the execution. Then the
same for FinalizeExecution of a run that succeeded. Wall times on moto are not AWS's; the split is what
matters.

    python -m bench.initialize_time [--nodes 100000] [--shape chain]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
import uuid
from datetime import UTC, datetime
from functools import partial
from itertools import pairwise
from typing import Any

from segflow.contracts import ExecutionRequest, FinalizeEvent, S3Pointer
from segflow.domain.records import NodeRecord

from bench import workflows

# (label, the function whose cumulative time is the phase's): functions, not lines, so the figures follow
# the code as it moves.
INITIALIZE_PHASES = (
    ("plan key (code version)", "code_version.py", "code_version"),
    ("read plan summary", "manifests.py", "read_plan_summary"),
    ("read submission", "manifests.py", "read_submission"),
    ("validate", "validation.py", "validate_executable"),
    ("partition", "partitioner.py", "partition"),
    ("plan documents", "manifests.py", "plan_documents"),
    ("write plan", "manifests.py", "write_plan"),
    ("partition map", "plan.py", "partition_map"),
    ("write plan summary", "manifests.py", "write_plan_summary"),
    ("skip rule", "skips.py", "skip_rule"),
    ("save input", "outputs.py", "save_execution_data"),
    ("create execution", "execution_records.py", "create_execution"),
    ("first cursor", "stage_advancer.py", "cursor_for_stage"),
)
FINALIZE_PHASES = (
    ("read plan summary", "manifests.py", "read_plan_summary"),
    ("read sinks", "manifests.py", "read_sinks"),
    ("get_nodes", "execution_records.py", "get_nodes"),
    ("list_nodes", "execution_records.py", "list_nodes"),
    ("record the end", "execution_events.py", "finish"),
)


Phases = tuple[tuple[str, str, str], ...]


def _phases(profile: cProfile.Profile, phases: Phases) -> dict[str, float]:
    stats = pstats.Stats(profile)
    by_function: dict[tuple[str, str], float] = {}
    for (filename, _, name), (_, _, _, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        key = (filename.rsplit("/", 1)[-1], name)
        by_function[key] = by_function.get(key, 0.0) + cumulative
    return {label: by_function[(file, name)] for label, file, name in phases if (file, name) in by_function}


def _profiled(call: Any, phases: Phases) -> tuple[Any, float, dict[str, float]]:
    profile = cProfile.Profile()
    began = time.perf_counter()
    result = profile.runcall(call)
    return result, time.perf_counter() - began, _phases(profile, phases)


def chain(count: int) -> dict[str, Any]:
    """The smallest chain document of ``count`` transforms (the benchmark's ``linear`` shape passes the
    workflow size limit, MAX_WORKFLOW_BYTES, before 100,000 nodes)."""
    nodes = [
        {"node_id": f"n{index:05d}", "type": "transform", "config": {"output": index}}
        for index in range(count)
    ]
    edges = [{"source": a["node_id"], "target": b["node_id"]} for a, b in pairwise(nodes)]
    return {"workflow_id": f"chain-{count}", "name": f"chain-{count}", "nodes": nodes, "edges": edges}


def _show(title: str, wall: float, phases: dict[str, float]) -> None:
    print(f"{title}: {wall:.2f} s (under cProfile)")
    for label, seconds in phases.items():
        print(f"    {label:<28} {seconds:8.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=100_000)
    parser.add_argument("--shape", default="chain", choices=("chain", *workflows.SHAPES))
    args = parser.parse_args()

    from segflow.adapters import factory
    from segflow.adapters.execution_launcher import ExecutionLauncher
    from segflow.engine.finalizer import finalize
    from segflow.engine.initializer import Initializer

    from segflow_cli.locate import Resources
    from segflow_local.embedded import embedded_aws

    document = chain(args.nodes) if args.shape == "chain" else workflows.build(args.shape, args.nodes)
    with embedded_aws(stage="bench") as aws:
        bucket = Resources.from_outputs(aws.stack.outputs()).bucket
        launcher = ExecutionLauncher("", None, bucket, aws.client("s3"))
        began = time.perf_counter()
        key = launcher.upload_submission("default", "workflows", document)
        print(f"{args.shape} chain of {args.nodes:,} nodes; uploaded in {time.perf_counter() - began:.2f} s")
        request = ExecutionRequest(tenant_id="default", workflow=S3Pointer(s3_key=key), input={"blob": "x"})

        results = []
        for run in ("first run (plans)", "second run (reads the plan)"):
            with aws.running_as("InitializeStateBag"):
                records = factory.execution_records()
                initializer = Initializer(
                    records,
                    factory.manifests(),
                    factory.node_outputs(),
                    factory.workflow_versions(),
                    factory.journal(records),
                )
                execution_id = f"init-{uuid.uuid4().hex[:8]}"
                started = datetime.now(UTC).isoformat()
                result, wall, phases = _profiled(
                    partial(initializer.initialize, request, execution_id, started), INITIALIZE_PHASES
                )
            _show(f"InitializeStateBag, {run}", wall, phases)
            results.append(result)
        bag = results[0].statebag
        print(f"    ({bag.segment_count:,} segments in {bag.stage_count:,} stages)")
        with aws.running_as("InitializeStateBag"):  # planning again (other code), without the profiler
            records = factory.execution_records()
            initializer = Initializer(
                records,
                factory.manifests(),
                factory.node_outputs(),
                factory.workflow_versions(),
                factory.journal(records),
                code_version=uuid.uuid4().hex,
            )
            began = time.perf_counter()
            initializer.initialize(request, f"init-{uuid.uuid4().hex[:8]}", datetime.now(UTC).isoformat())
            print(f"InitializeStateBag planning, without the profiler: {time.perf_counter() - began:.2f} s")

        # FinalizeExecution of the second run, as if every node had succeeded (only the sink's record is
        # written: the finalizer of a successful run reads no other).
        statebag = results[-1].statebag
        with aws.running_as("ExecuteSegment"):
            sink = document["nodes"][-1]["node_id"]
            factory.execution_records().put_nodes(
                statebag.tenant_id,
                statebag.execution_id,
                [
                    NodeRecord(
                        node_id=sink,
                        segment_id="s",
                        stage=0,
                        type="transform",
                        status="succeeded",
                        output_json='{"done":true}',
                    )
                ],
            )
        with aws.running_as("FinalizeExecution"):
            records = factory.execution_records()
            journal = factory.journal(records)
            event = FinalizeEvent(statebag=statebag, outcome="SUCCEEDED")
            outcome, wall, phases = _profiled(
                lambda: finalize(records, factory.manifests(), factory.node_outputs(), event, journal),
                FINALIZE_PHASES,
            )
        _show("FinalizeExecution (succeeded)", wall, phases)
        print(f"    summary {outcome.nodes}, output {outcome.output}")


if __name__ == "__main__":
    main()
