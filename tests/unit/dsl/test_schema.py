"""docs/workflow.schema.json accepts what the engine accepts: every example, every workflow the test builders
make, and a {{ template }} wherever validation lets one stand for a config value."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from segflow.dsl.schema import workflow_json_schema
from segflow.dsl.validation import WorkflowValidationError, validate_workflow
from segflow.nodes import registry

from tests.support import workflows as w
from tests.support.dags import build_random_workflow

REPO_ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = sorted(p for p in (REPO_ROOT / "examples").glob("*.json") if not p.name.endswith(".input.json"))
CLI_DATA = REPO_ROOT / "tests" / "cli" / "data"
COMMITTED = json.loads((REPO_ROOT / "docs" / "workflow.schema.json").read_text())
TEMPLATE = "{{ input.anything }}"


def validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


COMMITTED_VALIDATOR = validator(COMMITTED)


def schema_problems(document: dict[str, Any], schema: dict[str, Any] | None = None) -> list[str]:
    checker = COMMITTED_VALIDATOR if schema is None else validator(schema)
    return [
        f"{'/'.join(str(p) for p in error.absolute_path)}: {error.message[:200]}"
        for error in checker.iter_errors(document)
    ]


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_passes_the_committed_schema(path: Path, example_node_modules: str) -> None:
    document = json.loads(path.read_text())
    validate_workflow(document)
    # a custom type is in the schema `segflow schema` prints where it is installed, not in the committed one
    schema = workflow_json_schema() if path.stem == "custom_node" else None
    assert schema_problems(document, schema) == []


def builder_workflows() -> Iterator[tuple[str, dict[str, Any]]]:
    yield "linear", w.linear_workflow("lin", 5)
    yield "fan_out", w.fan_out_workflow("fan", [w.transform(f"b{i}", i) for i in range(3)])
    yield "large", w.large_workflow("large", 40)
    for seed in range(25):
        yield f"random-{seed}", build_random_workflow(random.Random(seed), 30, 0.2, 0.7, max_padding=50)
    flow = w.subflow([w.transform("inner", "{{ item }}")])
    yield "for_each", w.workflow("fe", [w.for_each("fe", "{{ input.rows }}", flow, max_concurrency=4)])
    yield "loop", w.workflow("lp", [w.loop("lp", w.subflow([w.transform("s", 1)]), "{{ result }}", 3)])
    yield "api_call", w.workflow("a", [w.api_call("a", "{{ input.url }}", timeout_seconds="{{ input.t }}")])
    yield "wait", w.workflow("wt", [w.wait("wt", "{{ input.seconds }}")])  # type: ignore[arg-type]
    yield "approval", w.workflow("ap", [w.approval("ap", "ok?", timeout_seconds="{{ input.t }}")])
    for path in sorted(CLI_DATA.glob("*.json")):
        try:
            document = json.loads(path.read_text())
            validate_workflow(document)
        except (ValueError, WorkflowValidationError):
            continue  # the broken and invalid ones are there for the refusals
        yield f"cli-{path.stem}", document


BUILT = list(builder_workflows())


@pytest.mark.parametrize(("name", "document"), BUILT, ids=[name for name, _ in BUILT])
def test_every_workflow_the_test_builders_make_passes_the_schema(name: str, document: dict[str, Any]) -> None:
    validate_workflow(document)
    assert schema_problems(document) == []


def leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from leaves(item, (*path, key))
    elif isinstance(value, list) and value:
        for index, item in enumerate(value):
            yield from leaves(item, (*path, index))
    else:
        yield path


def replaced(document: dict[str, Any], node_index: int, path: tuple[Any, ...]) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    target = changed["nodes"][node_index]["config"]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = TEMPLATE
    return changed


def templated_variants() -> Iterator[tuple[str, dict[str, Any]]]:
    """Each example with one config value (at any depth) replaced by a template, outside sub-flows."""
    for path in EXAMPLES:
        document = json.loads(path.read_text())
        if path.stem == "custom_node":
            continue
        for index, node in enumerate(document["nodes"]):
            node_type = registry.lookup(node["type"], node.get("action_type") or node.get("target_type"))
            assert node_type is not None
            for leaf in leaves(node.get("config", {})):
                if leaf and leaf[0] not in node_type.raw_fields:
                    yield (
                        f"{path.stem}:{node['node_id']}:{'.'.join(map(str, leaf))}",
                        replaced(document, index, leaf),
                    )


VARIANTS = list(templated_variants())


# Where the schema is looser than validation: llm_chat's output_schema is itself a JSON Schema, checked by the
# node's own validator (no template inside it), which the published schema does not describe.
LOOSER = ("output_schema",)


@pytest.mark.parametrize(("name", "document"), VARIANTS, ids=[name for name, _ in VARIANTS])
def test_the_schema_accepts_a_template_exactly_where_validation_does(
    name: str, document: dict[str, Any]
) -> None:
    try:
        validate_workflow(document)
    except WorkflowValidationError:
        if not any(f":{field}" in name for field in LOOSER):
            assert schema_problems(document) != [], "validation refuses it: so must the schema"
        return
    assert schema_problems(document) == []


@pytest.mark.parametrize(
    "document",
    [
        w.workflow("wf", [{**w.transform("a", 1), "timeout_seconds": TEMPLATE}]),
        w.workflow("wf", [{**w.transform("a", 1), "retry": {"max_attempts": TEMPLATE}}]),
        w.workflow("wf", [{**w.transform("a", 1), "colour": "red"}]),
        w.workflow("wf", [w.for_each("fe", "{{ input.rows }}", TEMPLATE)]),  # type: ignore[arg-type]
        w.workflow("wf", [{"node_id": "w", "type": "wait", "config": {"seconds": "soon"}}]),
    ],
    ids=["node-timeout", "retry", "unknown-field", "sub-flow", "not-a-template"],
)
def test_what_validation_refuses_the_schema_refuses(document: dict[str, Any]) -> None:
    with pytest.raises(WorkflowValidationError):
        validate_workflow(document)
    assert schema_problems(document) != []
