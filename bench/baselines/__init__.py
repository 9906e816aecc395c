"""The designs segflow replaces, rebuilt as honestly as each allows, run beside it on the same embedded AWS.

Their Lambda functions are declared here the way ``segflow.declaration`` declares segflow's (same memory for
the same kind of work), and answered by :class:`bench.invocations.InvocationRecorder`.
"""

from __future__ import annotations

from segflow.declaration import EXECUTE_SEGMENT, FINALIZE_EXECUTION, INITIALIZE_STATE_BAG, FunctionSpec

_HANDLERS = "bench.baselines.handlers"


# Each baseline function runs with the environment and IAM policy of the segflow function it stands for.
RUNS_AS: dict[str, str] = {}


def _spec(logical_id: str, handler: str, like: FunctionSpec, description: str) -> FunctionSpec:
    RUNS_AS[logical_id] = like.logical_id
    return FunctionSpec(
        logical_id=logical_id,
        handler=f"{_HANDLERS}.{handler}",
        description=description,
        memory_mb=like.memory_mb,
        timeout_seconds=like.timeout_seconds,
    )


BASELINE_FUNCTIONS: dict[str, FunctionSpec] = {
    spec.logical_id: spec
    for spec in (
        _spec(
            "ChoiceLoopInitialize",
            "choice_loop_initialize",
            INITIALIZE_STATE_BAG,
            "partition, write manifest",
        ),
        _spec("ChoiceLoopSegment", "choice_loop_segment", EXECUTE_SEGMENT, "ExecuteSegment by index"),
        _spec("PerNodeInitialize", "per_node_initialize", INITIALIZE_STATE_BAG, "record and input only"),
        _spec("FatInitialize", "fat_initialize", INITIALIZE_STATE_BAG, "config and partition into the state"),
        _spec("FatSegment", "fat_segment", EXECUTE_SEGMENT, "run a segment over the whole state"),
        _spec("FatFinalize", "fat_finalize", FINALIZE_EXECUTION, "the sinks' outputs"),
    )
}
