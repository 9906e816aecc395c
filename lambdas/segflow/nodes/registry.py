"""The node registry: the one place that lists every node type segflow knows.

Built-in types are listed by key and module, and a module is imported the first time its type is looked up,
so a segment's cold start only pays for the node types it runs. Listing all types imports them all.
Custom types (:mod:`segflow.nodes.custom`) are registered by the modules the deployment names; those are
imported when a type that is not built in is looked up, or all types are listed.
"""

from __future__ import annotations

import importlib
import os
import re
import threading
from importlib.metadata import entry_points

from segflow.declaration import NODE_MODULES_ENV
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
# Types registered from outside segflow (custom node types): key -> "module.function" that registered it.
ENTRY_POINT_GROUP = "segflow.node_types"
_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_origins: dict[str, str] = {}
_lock = threading.RLock()
_imported: set[str] = set()
_entry_points_loaded = False


class NodeTypeRegistrationError(ValueError):
    """A node type cannot be registered (taken name, malformed declaration, module that fails to import)."""


def register(node_type: NodeType, origin: str) -> NodeType:
    """Add a type that is not built in (see :func:`segflow.nodes.custom.node_type`); ``origin`` names the
    function that implements it."""
    with _lock:
        if node_type.key in BUILTIN_NODE_TYPES:
            raise NodeTypeRegistrationError(f"node type {node_type.key!r} is built in; choose another name")
        if node_type.key in _origins:
            raise NodeTypeRegistrationError(
                f"node type {node_type.key!r} is registered twice: by {_origins[node_type.key]} "
                f"and by {origin}"
            )
        if node_type.key in _REGISTRY:
            raise NodeTypeRegistrationError(f"node type {node_type.key!r} is already registered")
        _REGISTRY[node_type.key] = node_type
        _origins[node_type.key] = origin
    return node_type


def _load(key: str) -> NodeType | None:
    if key not in _REGISTRY and key in BUILTIN_NODE_TYPES:
        node_type: NodeType = importlib.import_module(BUILTIN_NODE_TYPES[key]).NODE_TYPE
        if node_type.key != key:
            raise RuntimeError(f"{BUILTIN_NODE_TYPES[key]} declares {node_type.key!r}, listed as {key!r}")
        _REGISTRY.setdefault(key, node_type)
    if key not in _REGISTRY:
        load_configured_modules()
    return _REGISTRY.get(key)


def all_node_types(builtin_only: bool = False) -> list[NodeType]:
    """Every registered type; ``builtin_only``: segflow's own (the committed schema lists only those)."""
    for key in BUILTIN_NODE_TYPES:
        _load(key)
    if builtin_only:
        return [_REGISTRY[key] for key in BUILTIN_NODE_TYPES]
    load_configured_modules()
    return list(_REGISTRY.values())


def lookup(type_name: str, subtype: str | None) -> NodeType | None:
    """The node type for a node's ``type`` and its ``action_type`` / ``target_type`` selector."""
    return _load(f"{type_name}:{subtype}" if subtype is not None else type_name)


def known_subtypes(type_name: str) -> list[str]:
    return sorted(t.subtype for t in all_node_types() if t.type == type_name and t.subtype)


def configured_modules() -> list[str]:
    """The module names in ``SEGFLOW_NODE_MODULES``, checked."""
    names = [part.strip() for part in os.environ.get(NODE_MODULES_ENV, "").split(",") if part.strip()]
    for module in names:
        if not _MODULE.fullmatch(module):
            raise NodeTypeRegistrationError(f"{NODE_MODULES_ENV}: {module!r} is not a Python module name")
    return names


def _import(module: str, source: str) -> None:
    try:
        importlib.import_module(module)
    except NodeTypeRegistrationError:
        raise
    except Exception as error:
        raise NodeTypeRegistrationError(
            f"{source} names module {module!r}, which failed to import: {type(error).__name__}: {error}"
        ) from error
    _imported.add(module)


def load_configured_modules() -> None:
    """Import the registering modules not imported yet (entry points once; the environment each time,
    so a module named later is still found)."""
    global _entry_points_loaded
    with _lock:
        if not _entry_points_loaded:
            for point in entry_points(group=ENTRY_POINT_GROUP):
                if point.module not in _imported:
                    _import(point.module, f"entry point {point.name!r} ({ENTRY_POINT_GROUP})")
            _entry_points_loaded = True
        for module in configured_modules():
            if module not in _imported:
                _import(module, NODE_MODULES_ENV)


def custom_node_types() -> dict[str, str]:
    """Registered custom type key -> the function that implements it."""
    with _lock:
        return dict(_origins)
