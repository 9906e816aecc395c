"""How published workflows are shown: the publish line, the workflow list, versions with history, diffs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from segflow_cli.rendering.text import table


def version_label(version: Any) -> str:
    return f"v{version}" if version is not None else "-"


def publish_line(published: dict[str, Any]) -> str:
    version, workflow = published["version"], published["workflow"]
    number, active = version["version"], workflow.get("active_version")
    if active == number:
        state = "active"
    elif active is None:
        state = "not active; no version is active"
    else:
        state = f"not active; version {active} stays active"
    return f"published {version['workflow_id']} version {number} ({state})"


def workflow_lines(workflows: Sequence[dict[str, Any]]) -> list[str]:
    rows = [
        (
            workflow["workflow_id"],
            workflow.get("name"),
            version_label(workflow.get("active_version")),
            version_label(workflow.get("latest_version")),
            workflow.get("updated_at"),
            workflow.get("updated_by"),
        )
        for workflow in sorted(workflows, key=lambda workflow: workflow["workflow_id"])
    ]
    return table(("WORKFLOW", "NAME", "ACTIVE", "LATEST", "UPDATED", "BY"), rows)


def version_lines(document: dict[str, Any], arrow: str = "→") -> list[str]:
    workflow = document["workflow"]
    active = workflow.get("active_version")
    lines = [
        f"workflow {workflow['workflow_id']} ({workflow.get('name') or workflow['workflow_id']}): "
        f"active {version_label(active)}, latest {version_label(workflow.get('latest_version'))}",
        "",
    ]
    rows = [
        (
            version["version"],
            "active" if version["version"] == active else "",
            version.get("created_at"),
            version.get("created_by"),
            version.get("node_count"),
            version.get("message") or "",
        )
        for version in document.get("versions", [])
    ]
    lines += table(("VERSION", "ACTIVE", "CREATED", "BY", "NODES", "MESSAGE"), rows)
    history = document.get("history", [])
    lines += ["", "HISTORY"]
    if not history:
        return [*lines, "no version has been active yet"]
    rows = [
        (
            entry["seq"],
            entry["kind"],
            f"{version_label(entry.get('from_version'))} {arrow} {version_label(entry.get('to_version'))}",
            entry.get("by"),
            entry.get("at"),
            entry.get("reason") or "",
        )
        for entry in history
    ]
    return lines + table(("SEQ", "KIND", "CHANGE", "BY", "AT", "REASON"), rows)


def _edge(edge: dict[str, Any], arrow: str) -> str:
    condition = edge.get("condition")
    return f"{edge['source']} {arrow} {edge['target']}" + (f" (if {condition})" if condition else "")


def _condition(condition: Any) -> str:
    return "(none)" if condition is None else repr(condition)


def diff_lines(document: dict[str, Any], arrow: str = "→") -> list[str]:
    diff = document["diff"]
    lines = [f"diff {document['workflow_id']} v{document['from_version']} {arrow} v{document['to_version']}"]
    sections: list[tuple[str, list[str]]] = [
        ("nodes added", [f"+ {node}" for node in diff.get("nodes_added", [])]),
        ("nodes removed", [f"- {node}" for node in diff.get("nodes_removed", [])]),
        (
            "nodes changed",
            [
                f"~ {change['node_id']}: {', '.join(change['fields'])}"
                for change in diff.get("nodes_changed", [])
            ],
        ),
        ("edges added", [f"+ {_edge(edge, arrow)}" for edge in diff.get("edges_added", [])]),
        ("edges removed", [f"- {_edge(edge, arrow)}" for edge in diff.get("edges_removed", [])]),
        (
            "edges changed",
            [
                f"~ {change['source']} {arrow} {change['target']}: condition "
                f"{_condition(change.get('from_condition'))} {arrow} {_condition(change.get('to_condition'))}"
                for change in diff.get("edges_changed", [])
            ],
        ),
        ("metadata changed", [f"~ {field}" for field in diff.get("metadata_changed", [])]),
    ]
    shown = [(title, items) for title, items in sections if items]
    if not shown:
        return [*lines, "no differences"]
    for title, items in shown:
        lines.append(f"{title}:")
        lines += [f"  {item}" for item in items]
    return lines


def rolled_back_line(result: dict[str, Any]) -> str:
    return (
        f"rolled back {result['workflow_id']} from {version_label(result.get('previous_version'))} "
        f"to {version_label(result['rolled_back_to_version'])}"
    )


def activated_line(result: dict[str, Any]) -> str:
    return (
        f"activated {result['workflow_id']} version {result['rolled_back_to_version']} "
        f"(was {version_label(result.get('previous_version'))})"
    )
