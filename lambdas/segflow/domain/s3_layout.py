"""The S3 key layout: every object segflow writes lives under one of these prefixes.

Keys always carry the tenant right after the prefix, so a tenant's data can be listed, expired or
protected by prefix alone. A plan is stored once per definition and code (its plan key,
:mod:`segflow.domain.stored_plan`), not per execution: every execution of it reads the same objects. Inside a
plan's prefix::

    manifest.json              the seed's manifest: [{segment_id, segment_type, segment_config, dependencies}]
    stages/chunk-000000.json   the entries of stages 0-63, 64 to an object: how each runs, and the segment
                               configs of each that needs no object of its own (segflow.domain.stage_layout)
    stages/000000.json         a stage's segment_configs, when its entry does not hold them: a list; or, for
                               a stage run as a Map, a list of its batches, each read by byte range
    stages/000000.batches.json a Map's items (batch pointers) when they do not travel inline: its ItemReader
    bodies/<segment_id>.json   the bulky part of an oversized segment config
    sinks.json                 node ids without successors (their outputs form the execution's output)
    plan.json                  the plan's summary, written last: the plan is complete when it is there
"""

from __future__ import annotations

SUBMISSIONS = "submissions/"  # workflow definitions and inputs uploaded to start an execution
MANIFESTS = "manifests/"  # the segment manifest and per-stage items, read during execution
REFERENCE = "reference/"  # reference copies (workflow-configs, workflow-partitions): never read by the engine
OUTPUTS = "outputs/"  # node outputs and execution results too large for DynamoDB
WORKFLOWS = "workflows/"  # published workflow definitions too large for DynamoDB: kept for good


def _safe(part: str) -> str:
    if not part or "/" in part or part in (".", ".."):
        raise ValueError(f"invalid key component {part!r}")
    return part


def submission_key(tenant_id: str, digest: str, kind: str) -> str:
    return f"{SUBMISSIONS}{_safe(tenant_id)}/{_safe(kind)}/{_safe(digest)}.json"


def plan_prefix(tenant_id: str, workflow_id: str, plan_key: str) -> str:
    """Where the plan of one definition (as made by one code version) is stored, for every execution of it."""
    return f"{MANIFESTS}{_safe(tenant_id)}/{_safe(workflow_id)}/plans/{_safe(plan_key)}/"


def execution_manifest_prefix(tenant_id: str, workflow_id: str, execution_id: str) -> str:
    """A prefix of one execution's own (the benchmark's other designs store their plans per execution)."""
    return f"{MANIFESTS}{_safe(tenant_id)}/{_safe(workflow_id)}/{_safe(execution_id)}/"


def workflow_config_reference_key(tenant_id: str, workflow_id: str, plan_key: str) -> str:
    """The reference copy of a planned definition: written once per plan, like the plan."""
    scope = f"{_safe(tenant_id)}/{_safe(workflow_id)}/{_safe(plan_key)}"
    return f"{REFERENCE}workflow-configs/{scope}/config.json"


def partition_map_reference_key(tenant_id: str, workflow_id: str, plan_key: str) -> str:
    return (
        f"{REFERENCE}workflow-partitions/{_safe(tenant_id)}/{_safe(workflow_id)}/{_safe(plan_key)}"
        "/partition_map.json"
    )


def node_output_key(tenant_id: str, execution_id: str, node_id: str, digest: str) -> str:
    """Content-addressed: two attempts of a node never overwrite each other's output, and the record that
    wins points at exactly the bytes it was written with."""
    return f"{OUTPUTS}{_safe(tenant_id)}/{_safe(execution_id)}/nodes/{_safe(node_id)}/{_safe(digest)}.json"


def execution_data_key(tenant_id: str, execution_id: str, name: str) -> str:
    """The execution's own input and result: a key space node ids cannot reach."""
    return f"{OUTPUTS}{_safe(tenant_id)}/{_safe(execution_id)}/execution/{_safe(name)}.json"


def workflow_definition_key(tenant_id: str, workflow_id: str, sha256: str) -> str:
    """Content-addressed: publishing the same definition twice stores one object."""
    return f"{WORKFLOWS}{_safe(tenant_id)}/{_safe(workflow_id)}/definitions/{_safe(sha256)}.json"


def manifest_key(prefix: str) -> str:
    return f"{prefix}manifest.json"


def sinks_key(prefix: str) -> str:
    return f"{prefix}sinks.json"


def stage_chunk_key(prefix: str, chunk: int) -> str:
    return f"{prefix}stages/chunk-{chunk:06d}.json"


def stage_segments_key(prefix: str, stage: int) -> str:
    return f"{prefix}stages/{stage:06d}.json"


def stage_batches_key(prefix: str, stage: int) -> str:
    return f"{prefix}stages/{stage:06d}.batches.json"


def body_key(prefix: str, segment_id: str) -> str:
    return f"{prefix}bodies/{segment_id}.json"


def plan_summary_key(prefix: str) -> str:
    return f"{prefix}plan.json"
