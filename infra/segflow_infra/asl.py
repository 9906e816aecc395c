"""Plain-Python reading of ASL definitions: placeholders, states, Task resources.

CDK cannot infer IAM from a raw ASL string, so the stack derives what the definition needs from here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


def placeholders(definition_text: str) -> set[str]:
    """Names of every ``${Name}`` in a definition."""
    return set(PLACEHOLDER.findall(definition_text))


def substitute(definition_text: str, values: Mapping[str, str]) -> str:
    """Replace each ``${Name}`` the way CloudFormation's DefinitionSubstitutions does."""

    def replace(match: re.Match[str]) -> str:
        return values[match.group(1)]

    return PLACEHOLDER.sub(replace, definition_text)


def iter_states(definition: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every state, including those nested in Map processors and Parallel branches."""
    for name, state in definition.get("States", {}).items():
        yield name, state
        for key in ("ItemProcessor", "Iterator"):
            if key in state:
                yield from iter_states(state[key])
        for branch in state.get("Branches", ()):
            yield from iter_states(branch)


def is_distributed_map(state: Mapping[str, Any]) -> bool:
    processor = state.get("ItemProcessor", {})
    return state.get("Type") == "Map" and processor.get("ProcessorConfig", {}).get("Mode") == "DISTRIBUTED"


def has_distributed_map(definition: Mapping[str, Any]) -> bool:
    return any(is_distributed_map(state) for _, state in iter_states(definition))


def has_item_reader(definition: Mapping[str, Any]) -> bool:
    return any("ItemReader" in state for _, state in iter_states(definition))


def lambda_references(definition: Mapping[str, Any]) -> set[str]:
    """What the Task states invoke: direct ARNs in ``Resource``, or ``FunctionName`` of lambda:invoke."""
    references: set[str] = set()
    for _, state in iter_states(definition):
        if state.get("Type") != "Task":
            continue
        resource = state["Resource"]
        if resource.startswith("arn:aws:states:::lambda:invoke"):
            references.add(state.get("Parameters", {}).get("FunctionName", ""))
        elif not resource.startswith("arn:aws:states:::"):
            references.add(resource)
    return references


def parse(definition_text: str) -> dict[str, Any]:
    return json.loads(definition_text)
