"""The node registry: the one place that lists every node type segflow knows.

Built-in types are listed by key and module, and a module is imported the first time its type is looked up,
so a segment's cold start only pays for the node types it runs. Listing all types imports them all.
"""

from __future__ import annotations

import importlib

from segflow.nodes.base import NodeType

# key ("type" or "type:subtype") -> the module whose NODE_TYPE it is
BUILTIN_NODE_TYPES: dict[str, str] = {
    "transform": "segflow.nodes.transform",
    "judgment": "segflow.nodes.judgment",
    "aggregator": "segflow.nodes.aggregator",
    "wait": "segflow.nodes.wait",
    "approval": "segflow.nodes.approval",
    "for_each": "segflow.nodes.for_each",
    "loop": "segflow.nodes.loop",
    "llm_chat": "segflow.nodes.llm_chat",
    "data_query": "segflow.nodes.data_query",
    "notification": "segflow.nodes.notification",
    "action:api_call": "segflow.nodes.api_call",
    "action:dynamodb_update": "segflow.nodes.dynamodb_update",
    "rollback:workflow": "segflow.nodes.rollback",
    "deploy:model": "segflow.nodes.model_deploy",
}

_REGISTRY: dict[str, NodeType] = {}


def register(node_type: NodeType) -> NodeType:
    if node_type.key in _REGISTRY:
        raise ValueError(f"node type {node_type.key!r} is already registered")
    _REGISTRY[node_type.key] = node_type
    return node_type


def _load(key: str) -> NodeType | None:
    if key not in _REGISTRY and key in BUILTIN_NODE_TYPES:
        node_type: NodeType = importlib.import_module(BUILTIN_NODE_TYPES[key]).NODE_TYPE
        if node_type.key != key:
            raise RuntimeError(f"{BUILTIN_NODE_TYPES[key]} declares {node_type.key!r}, listed as {key!r}")
        _REGISTRY.setdefault(key, node_type)
    return _REGISTRY.get(key)


def all_node_types() -> list[NodeType]:
    for key in BUILTIN_NODE_TYPES:
        _load(key)
    return list(_REGISTRY.values())


def lookup(type_name: str, subtype: str | None) -> NodeType | None:
    """The node type for a node's ``type`` and its ``action_type`` / ``target_type`` selector."""
    return _load(f"{type_name}:{subtype}" if subtype is not None else type_name)


def known_subtypes(type_name: str) -> list[str]:
    return sorted(t.subtype for t in all_node_types() if t.type == type_name and t.subtype)
