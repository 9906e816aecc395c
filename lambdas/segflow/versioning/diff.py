"""Differences between two workflow definitions: nodes and edges added, removed and changed.

A changed node lists the dotted paths of the fields that differ (``config.url``, ``retry.max_attempts``);
edges are identified by (source, target), so a changed condition is a change, not a remove and an add.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

_MISSING = object()


class NodeChange(BaseModel):
    model_config = ConfigDict(defer_build=True)

    node_id: str
    fields: list[str]


class EdgeRef(BaseModel):
    model_config = ConfigDict(defer_build=True)

    source: str
    target: str
    condition: str | None = None


class EdgeChange(BaseModel):
    model_config = ConfigDict(defer_build=True)

    source: str
    target: str
    from_condition: str | None
    to_condition: str | None


class WorkflowDiff(BaseModel):
    model_config = ConfigDict(defer_build=True)

    nodes_added: list[str] = Field(default_factory=list)
    nodes_removed: list[str] = Field(default_factory=list)
    nodes_changed: list[NodeChange] = Field(default_factory=list)
    edges_added: list[EdgeRef] = Field(default_factory=list)
    edges_removed: list[EdgeRef] = Field(default_factory=list)
    edges_changed: list[EdgeChange] = Field(default_factory=list)
    metadata_changed: list[str] = Field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not any(
            (
                self.nodes_added,
                self.nodes_removed,
                self.nodes_changed,
                self.edges_added,
                self.edges_removed,
                self.edges_changed,
                self.metadata_changed,
            )
        )


def changed_paths(before: Any, after: Any, path: str = "") -> list[str]:
    """Dotted paths where two JSON values differ (lists compare by position)."""
    if isinstance(before, dict) and isinstance(after, dict):
        paths: list[str] = []
        for key in sorted(set(before) | set(after), key=str):
            child = f"{path}.{key}" if path else str(key)
            paths.extend(changed_paths(before.get(key, _MISSING), after.get(key, _MISSING), child))
        return paths
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        paths = []
        for index, (left, right) in enumerate(zip(before, after, strict=True)):
            paths.extend(changed_paths(left, right, f"{path}[{index}]"))
        return paths
    return [] if before == after else [path or "."]


def diff_workflows(before: dict[str, Any], after: dict[str, Any]) -> WorkflowDiff:
    result = WorkflowDiff()
    old_nodes = {node["node_id"]: node for node in before.get("nodes", [])}
    new_nodes = {node["node_id"]: node for node in after.get("nodes", [])}
    result.nodes_added = [node_id for node_id in new_nodes if node_id not in old_nodes]
    result.nodes_removed = [node_id for node_id in old_nodes if node_id not in new_nodes]
    for node_id, node in new_nodes.items():
        if node_id in old_nodes:
            fields = changed_paths(old_nodes[node_id], node)
            if fields:
                result.nodes_changed.append(NodeChange(node_id=node_id, fields=fields))

    old_edges = {(edge["source"], edge["target"]): edge.get("condition") for edge in before.get("edges", [])}
    new_edges = {(edge["source"], edge["target"]): edge.get("condition") for edge in after.get("edges", [])}
    for (source, target), condition in new_edges.items():
        if (source, target) not in old_edges:
            result.edges_added.append(EdgeRef(source=source, target=target, condition=condition))
        elif old_edges[(source, target)] != condition:
            result.edges_changed.append(
                EdgeChange(
                    source=source,
                    target=target,
                    from_condition=old_edges[(source, target)],
                    to_condition=condition,
                )
            )
    for (source, target), condition in old_edges.items():
        if (source, target) not in new_edges:
            result.edges_removed.append(EdgeRef(source=source, target=target, condition=condition))

    metadata_before = {k: v for k, v in before.items() if k not in ("nodes", "edges")}
    metadata_after = {k: v for k, v in after.items() if k not in ("nodes", "edges")}
    result.metadata_changed = changed_paths(metadata_before, metadata_after)
    return result
