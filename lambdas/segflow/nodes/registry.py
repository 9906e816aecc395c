"""The node registry: the one place that lists every node type segflow knows."""

from __future__ import annotations

from segflow.nodes import aggregator, api_call, judgment, rollback, transform, wait
from segflow.nodes.base import NodeType

_REGISTRY: dict[str, NodeType] = {}


def register(node_type: NodeType) -> NodeType:
    if node_type.key in _REGISTRY:
        raise ValueError(f"node type {node_type.key!r} is already registered")
    _REGISTRY[node_type.key] = node_type
    return node_type


for _builtin in (
    transform.NODE_TYPE,
    judgment.NODE_TYPE,
    aggregator.NODE_TYPE,
    wait.NODE_TYPE,
    api_call.NODE_TYPE,
    rollback.NODE_TYPE,
):
    register(_builtin)


def all_node_types() -> list[NodeType]:
    return list(_REGISTRY.values())


def lookup(type_name: str, subtype: str | None) -> NodeType | None:
    """The node type for a node's ``type`` and its ``action_type`` / ``target_type`` selector."""
    if subtype is not None:
        return _REGISTRY.get(f"{type_name}:{subtype}")
    return _REGISTRY.get(type_name)


def known_subtypes(type_name: str) -> list[str]:
    return sorted(t.subtype for t in _REGISTRY.values() if t.type == type_name and t.subtype)
