"""Size thresholds live in limits.py only, and they fit together under the per-state payload budget.

Prior art: thresholds scattered over five modules (10, 20, 30, 100, 150, 200, 250 KB) disagreed with each
other.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

from segflow.contracts import Cursor, StateBag
from segflow.domain import limits, s3_layout
from segflow.domain.limits import (
    INLINE_STAGE_MAX_BYTES,
    MAP_CHILD_RESULT_BYTES,
    MAP_STAGE_MAX_SEGMENTS,
    MAX_NODE_ID_LENGTH,
    NODE_CONFIG_INLINE_MAX_BYTES,
    OUTPUT_INLINE_MAX_BYTES,
    SEGMENT_CONFIG_MAX_BYTES,
    STATE_PAYLOAD_BUDGET_BYTES,
    STEP_FUNCTIONS_PAYLOAD_LIMIT_BYTES,
)
from segflow.domain.plan import compact_json
from segflow.domain.stored_plan import plan_key

REPO_ROOT = Path(__file__).resolve().parents[3]
DYNAMODB_ITEM_LIMIT_BYTES = 400 * 1024


def byte_thresholds() -> dict[str, int]:
    return {
        name: value
        for name, value in vars(limits).items()
        if name.isupper() and name.endswith("_BYTES") and isinstance(value, int)
    }


# Numbers that are not sizes in bytes even when they look like one (memory in MB, cache entries).
NOT_BYTE_SIZES = {"memory_mb", "maxsize", "max_pool_connections", "max_workers"}


def numeric_literals(path: Path) -> list[tuple[int, int]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    ignored = {
        id(keyword.value)
        for keyword in ast.walk(tree)
        if isinstance(keyword, ast.keyword) and keyword.arg in NOT_BYTE_SIZES
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, int)
        and not isinstance(node.value, bool)
        and id(node) not in ignored
    ]


def test_byte_thresholds_are_defined_in_limits_only() -> None:
    thresholds = {value: name for name, value in byte_thresholds().items() if value >= 1024}
    thresholds |= {256_000: "256 KB", 262_144: "STEP_FUNCTIONS_PAYLOAD_LIMIT_BYTES"}
    duplicates = []
    for root in (REPO_ROOT / "lambdas" / "segflow", REPO_ROOT / "src"):
        for path in sorted(root.rglob("*.py")):
            if path.name == "limits.py":
                continue
            for line, value in numeric_literals(path):
                if value in thresholds:
                    duplicates.append(
                        f"{path.relative_to(REPO_ROOT)}:{line} repeats {thresholds[value]} ({value})"
                    )
    assert duplicates == []


def worst_case_statebag() -> StateBag:
    """The largest statebag the contracts allow: longest tenant, workflow id, execution name; huge counts."""
    tenant = "t" * 63
    workflow_id = "w" * MAX_NODE_ID_LENGTH
    execution_id = "e" * 80  # Step Functions execution names are at most 80 characters
    return StateBag(
        tenant_id=tenant,
        workflow_id=workflow_id,
        execution_id=execution_id,
        started_at="2026-01-22T10:35:00.123456+00:00",
        manifest_prefix=s3_layout.plan_prefix(tenant, workflow_id, plan_key("0" * 64, "0" * 64)),
        stage_count=999_999,
        segment_count=999_999,
        node_count=999_999,
    )


def test_thresholds_are_ordered_sensibly() -> None:
    assert STATE_PAYLOAD_BUDGET_BYTES < STEP_FUNCTIONS_PAYLOAD_LIMIT_BYTES
    assert NODE_CONFIG_INLINE_MAX_BYTES <= SEGMENT_CONFIG_MAX_BYTES <= INLINE_STAGE_MAX_BYTES
    assert OUTPUT_INLINE_MAX_BYTES < DYNAMODB_ITEM_LIMIT_BYTES // 2


def test_an_execute_segment_input_fits_the_state_budget_in_the_worst_case() -> None:
    statebag = worst_case_statebag().model_dump()
    segment_input = {"segment_config": {"pad": "x" * SEGMENT_CONFIG_MAX_BYTES}, "statebag": statebag}
    overhead = len(compact_json(segment_input).encode()) - SEGMENT_CONFIG_MAX_BYTES
    assert SEGMENT_CONFIG_MAX_BYTES + overhead <= STATE_PAYLOAD_BUDGET_BYTES


def test_a_stage_passed_inline_fits_the_state_budget_in_the_worst_case() -> None:
    statebag = worst_case_statebag().model_dump()
    cursor = Cursor(
        stage=999_999, mode="inline", wait_seconds=999_999, max_concurrency=40, items=[]
    ).model_dump(exclude_none=True)
    state = {"statebag": statebag, "cursor": cursor}
    assert len(compact_json(state).encode()) + INLINE_STAGE_MAX_BYTES <= STATE_PAYLOAD_BUDGET_BYTES


def test_a_map_stage_of_the_widest_allowed_width_collects_a_result_under_the_payload_limit() -> None:
    # Every Map child in the state machine outputs {} whatever its segment returned...
    definition = json.loads((REPO_ROOT / "asl" / "workflow.asl.json").read_text())
    maps = {name: state for name, state in definition["States"].items() if state["Type"] == "Map"}
    assert set(maps) == {"RunStage", "RunStageFromS3"}
    for state in maps.values():
        processor = state["ItemProcessor"]
        [child] = processor["States"].values()
        assert child["OutputPath"] is None and child.get("End") is True and len(processor["States"]) == 1
    # ...so the collected result of the widest stage allowed ("[{},{},...]") stays under the limit.
    widest = "[" + ",".join(["{}"] * MAP_STAGE_MAX_SEGMENTS) + "]"
    assert len(widest) == MAP_STAGE_MAX_SEGMENTS * MAP_CHILD_RESULT_BYTES + 1
    assert len(widest) < STEP_FUNCTIONS_PAYLOAD_LIMIT_BYTES
    assert MAP_STAGE_MAX_SEGMENTS >= 10_000
