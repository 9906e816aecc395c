"""Custom node types: the decorator, its errors, and discovery (SEGFLOW_NODE_MODULES, entry points)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from segflow.declaration import NODE_MODULES_ENV
from segflow.domain.errors import NodeFailure
from segflow.dsl.schema import workflow_json_schema
from segflow.dsl.validation import WorkflowValidationError, validate_workflow
from segflow.nodes import registry
from segflow.nodes.base import ExecutionInfo, NodeContext
from segflow.nodes.custom import node_type
from segflow.nodes.registry import ENTRY_POINT_GROUP, NodeTypeRegistrationError

from tests.support.workflows import workflow


class GreetConfig(BaseModel):
    name: str
    times: int = 1


def greet(config: GreetConfig, context: NodeContext) -> str:
    return " ".join([f"hello {config.name}"] * config.times)


@pytest.fixture()
def fresh_name() -> Iterator[str]:
    """A type name no other test uses; unregistered afterwards."""
    name = f"t_{uuid.uuid4().hex[:8]}"
    yield name
    for key in [k for k in list(registry._REGISTRY) if name in k]:
        registry._REGISTRY.pop(key, None)
        registry._origins.pop(key, None)


def context_for(config: Any) -> NodeContext:
    return NodeContext("n", config, ExecutionInfo("default", "e-1", "w", "2026-01-01T00:00:00Z"))


def test_a_decorated_function_becomes_a_node_type_validation_and_the_schema_know(fresh_name: str) -> None:
    node_type(fresh_name, config=GreetConfig, description="Greets someone.")(greet)

    found = registry.lookup(fresh_name, None)
    assert found is not None and found.description == "Greets someone."
    assert found.executor is not None
    assert found.executor(context_for(GreetConfig(name="Ada", times=2))).output == "hello Ada hello Ada"

    validate_workflow(
        workflow("w", [{"node_id": "g", "type": fresh_name, "config": {"name": "{{ input.x }}"}}])
    )
    with pytest.raises(
        WorkflowValidationError, match=r"node .g.: config.times: must be a whole number, not a string"
    ):
        validate_workflow(
            workflow("w", [{"node_id": "g", "type": fresh_name, "config": {"name": "a", "times": "x"}}])
        )

    assert fresh_name in workflow_json_schema()["$defs"]["NodeSpec"]["properties"]["type"]["enum"]
    assert (
        fresh_name
        not in workflow_json_schema(builtin_only=True)["$defs"]["NodeSpec"]["properties"]["type"]["enum"]
    )


def test_an_action_subtype_is_selected_by_action_type(fresh_name: str) -> None:
    node_type(f"action:{fresh_name}", config=GreetConfig, description="Greets.")(greet)
    validate_workflow(
        workflow(
            "w", [{"node_id": "g", "type": "action", "action_type": fresh_name, "config": {"name": "a"}}]
        )
    )
    assert fresh_name in registry.known_subtypes("action")


def test_a_second_registration_of_a_name_names_both_functions(fresh_name: str) -> None:
    node_type(fresh_name, config=GreetConfig, description="Greets.")(greet)

    def other(config: GreetConfig, context: NodeContext) -> None: ...

    with pytest.raises(
        NodeTypeRegistrationError, match=rf"'{fresh_name}' is registered twice: by .*greet and by .*other"
    ):
        node_type(fresh_name, config=GreetConfig, description="Again.")(other)


@pytest.mark.parametrize(
    ("name", "config", "description", "function", "message"),
    [
        ("transform", GreetConfig, "d", greet, "'transform' is built in"),
        ("action:api_call", GreetConfig, "d", greet, "'action:api_call' is built in"),
        ("action", GreetConfig, "d", greet, "'action' is built in"),
        ("Bad-Name", GreetConfig, "d", greet, "must be lower-case letters"),
        ("ok_name", dict, "d", greet, "config must be a pydantic model class"),
        ("ok_name", GreetConfig, " ", greet, "give a description"),
        ("ok_name", GreetConfig, "d", lambda config: None, r"must take \(config, context\)"),
    ],
)
def test_a_malformed_registration_says_what_is_wrong(
    name: str, config: Any, description: str, function: Any, message: str
) -> None:
    with pytest.raises(NodeTypeRegistrationError, match=message):
        node_type(name, config=config, description=description)(function)
    assert registry.lookup("ok_name", None) is None


def test_an_output_that_is_not_json_fails_the_node(fresh_name: str) -> None:
    node_type(fresh_name, config=GreetConfig, description="d")(lambda config, context: {1, 2})
    executor = registry.lookup(fresh_name, None).executor  # type: ignore[union-attr]
    with pytest.raises(NodeFailure, match="not JSON") as failure:
        executor(context_for(GreetConfig(name="a")))  # type: ignore[misc]
    assert failure.value.error_type == "InvalidOutput"


def write_module(directory: Path, type_name: str) -> str:
    module = f"nodes_{type_name}"
    (directory / f"{module}.py").write_text(
        "from pydantic import BaseModel\n"
        "from segflow.nodes.custom import node_type\n"
        "class C(BaseModel):\n    x: int\n"
        f"@node_type({type_name!r}, config=C, description='From a module.')\n"
        "def run(config, context):\n    return config.x\n"
    )
    return module


def test_modules_named_in_the_environment_are_imported_on_first_lookup(
    fresh_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv(NODE_MODULES_ENV, f" {write_module(tmp_path, fresh_name)} ,")
    found = registry.lookup(fresh_name, None)
    assert found is not None and found.description == "From a module."


def test_modules_of_the_entry_point_group_are_imported(
    fresh_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    point = EntryPoint(name="acme", value=write_module(tmp_path, fresh_name), group=ENTRY_POINT_GROUP)
    monkeypatch.setattr(registry, "entry_points", lambda group: [point] if group == ENTRY_POINT_GROUP else [])
    monkeypatch.setattr(registry, "_entry_points_loaded", False)
    assert registry.lookup(fresh_name, None) is not None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("not a module", f"{NODE_MODULES_ENV}: 'not a module' is not a Python module name"),
        (
            "no_such_module_here",
            f"{NODE_MODULES_ENV} names module 'no_such_module_here', which failed to import",
        ),
    ],
)
def test_a_bad_module_in_the_environment_is_a_clear_error(
    value: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(NODE_MODULES_ENV, value)
    with pytest.raises(NodeTypeRegistrationError, match=message):
        registry.lookup("no_such_type", None)
