"""The node registry: the one place that lists every node type segflow knows.

Built-in types are listed by key and module, and a module is imported the first time its type is looked up,
so a segment's cold start only pays for the node types it runs. Listing all types imports them all.
Custom types (:mod:`segflow.nodes.custom`) are registered by the modules the deployment names; those are
imported when a type that is not built in is looked up, or all types are listed.
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
    "action:lambda_invoke": "segflow.nodes.lambda_invoke",
    "rollback:workflow": "segflow.nodes.rollback",
    "deploy:model": "segflow.nodes.model_deploy",
}

_REGISTRY: dict[str, NodeType] = {}


class NodeTypeRegistrationError(ValueError):
    """A node type cannot be registered (taken name, malformed declaration, module that fails to import)."""


def register(node_type: NodeType) -> NodeType:
    """Add a type that is not built in (see :func:`segflow.nodes.custom.node_type`)."""
    if node_type.key in BUILTIN_NODE_TYPES:
        raise NodeTypeRegistrationError(f"node type {node_type.key!r} is built in; choose another name")
    if node_type.key in _REGISTRY:
        raise NodeTypeRegistrationError(f"node type {node_type.key!r} is already registered")
    _REGISTRY[node_type.key] = node_type
    return node_type


def _load(key: str) -> NodeType | None:
    if key not in _REGISTRY and key in BUILTIN_NODE_TYPES:
        node_type: NodeType = importlib.import_module(BUILTIN_NODE_TYPES[key]).NODE_TYPE
        if node_type.key != key:
            raise RuntimeError(f"{BUILTIN_NODE_TYPES[key]} declares {node_type.key!r}, listed as {key!r}")
        _REGISTRY.setdefault(key, node_type)
    if key not in _REGISTRY:
        from segflow.nodes import custom

        custom.load_configured_modules()
    return _REGISTRY.get(key)


def all_node_types(builtin_only: bool = False) -> list[NodeType]:
    """Every registered type; ``builtin_only``: segflow's own (the committed schema lists only those)."""
    for key in BUILTIN_NODE_TYPES:
        _load(key)
    if builtin_only:
        return [_REGISTRY[key] for key in BUILTIN_NODE_TYPES]
    from segflow.nodes import custom

    custom.load_configured_modules()
    return list(_REGISTRY.values())


def lookup(type_name: str, subtype: str | None) -> NodeType | None:
    """The node type for a node's ``type`` and its ``action_type`` / ``target_type`` selector."""
    return _load(f"{type_name}:{subtype}" if subtype is not None else type_name)


def known_subtypes(type_name: str) -> list[str]:
    return sorted(t.subtype for t in all_node_types() if t.type == type_name and t.subtype)
