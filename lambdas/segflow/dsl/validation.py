"""Workflow validation: every problem is reported at once, each naming its node, edge or field."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from segflow.domain.errors import SegflowError
from segflow.domain.limits import MAX_NODES_PER_WORKFLOW
from segflow.dsl.graph import WorkflowGraph, is_ancestor, topological_order
from segflow.dsl.models import EdgeSpec, WorkflowDefinition
from segflow.dsl.templates import TemplateError, expressions_in, iter_strings, node_references
from segflow.nodes import registry
from segflow.nodes.base import NodeType
from segflow.nodes.judgment import DEFAULT_ROUTE


@dataclass(frozen=True)
class ValidationIssue:
    location: str  # "workflow", "node 'x'", "edge 'a' -> 'b'"
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


class WorkflowValidationError(SegflowError, ValueError):
    """The workflow is invalid; ``issues`` lists every problem found."""

    code = "InvalidWorkflow"
    kind = "invalid"

    def __init__(self, issues: list[ValidationIssue]) -> None:
        self.issues = issues
        count = len(issues)
        shown = "; ".join(str(issue) for issue in issues[:20])
        more = f" (and {count - 20} more)" if count > 20 else ""
        super().__init__(f"invalid workflow, {count} problem{'s' if count != 1 else ''}: {shown}{more}")


def _location_of(raw: Any, loc: tuple[int | str, ...]) -> tuple[str, str]:
    """Turn a pydantic error location into ("node 'x'", "field path")."""
    if len(loc) >= 2 and loc[0] in ("nodes", "edges") and isinstance(loc[1], int):
        items = raw.get(loc[0]) if isinstance(raw, dict) else None
        item = items[loc[1]] if isinstance(items, list) and loc[1] < len(items) else None
        rest = ".".join(str(part) for part in loc[2:]) or "(the item)"
        if loc[0] == "nodes":
            node_id = item.get("node_id") if isinstance(item, dict) else None
            where = f"node '{node_id}'" if node_id else f"node #{loc[1] + 1}"
        else:
            if isinstance(item, dict):
                where = f"edge '{item.get('source')}' -> '{item.get('target')}'"
            else:
                where = f"edge #{loc[1] + 1}"
        return where, rest
    return "workflow", ".".join(str(part) for part in loc) or "(document)"


def _is_template(value: Any) -> bool:
    return isinstance(value, str) and "{{" in value


def _structure_issues(raw: Any, error: ValidationError) -> list[ValidationIssue]:
    issues = []
    for detail in error.errors():
        where, field_path = _location_of(raw, tuple(detail["loc"]))
        issues.append(ValidationIssue(where, f"{field_path}: {detail['msg']}"))
    return issues


def _node_type_issues(graph_nodes: dict[str, Any], issues: list[ValidationIssue]) -> dict[str, NodeType]:
    types: dict[str, NodeType] = {}
    for node_id, node in graph_nodes.items():
        where = f"node '{node_id}'"
        node_type = registry.lookup(node.type, node.subtype)
        if node_type is None:
            known_sub = registry.known_subtypes(node.type)
            if known_sub:
                selector = "action_type" if node.action_type or node.type == "action" else "target_type"
                issues.append(
                    ValidationIssue(
                        where, f"{selector} {node.subtype!r} is not one of: {', '.join(known_sub)}"
                    )
                )
            else:
                known = sorted({t.type for t in registry.all_node_types()})
                issues.append(
                    ValidationIssue(where, f"unknown type {node.type!r}; known: {', '.join(known)}")
                )
            continue
        types[node_id] = node_type
        for selector in ("action_type", "target_type"):
            given = getattr(node, selector)
            if given is not None and selector != node_type.subtype_field:
                expected = f"use {node_type.subtype_field}" if node_type.subtype_field else "remove it"
                issues.append(ValidationIssue(where, f"{node.type!r} takes no {selector} ({expected})"))
        if node_type.placement == "wait" and node.timeout_seconds is not None:
            issues.append(
                ValidationIssue(
                    where,
                    f"timeout_seconds: a {node_type.key} node takes none (it waits config.seconds; the state "
                    "machine waits, nothing runs that could time out); remove it",
                )
            )
        try:
            node_type.config_model.model_validate(node.config)
        except ValidationError as error:
            for detail in error.errors():
                if _is_template(detail.get("input")):
                    continue  # a {{ template }} meets the field's type check once rendered, at run time
                field_path = ".".join(str(part) for part in ("config", *detail["loc"]))
                issues.append(ValidationIssue(where, f"{field_path}: {detail['msg']}"))
    return types


def _template_issues(graph: WorkflowGraph, issues: list[ValidationIssue]) -> None:
    for node_id, node in graph.nodes.items():
        where = f"node '{node_id}'"
        references: set[str] = set()
        node_type = graph.node_types.get(node_id)
        raw = node_type.raw_fields if node_type else ()  # sub-flows: checked by the node's own config model
        own = {key: value for key, value in node.config.items() if key not in raw}
        for path, text in iter_strings(own):
            try:
                for expression in expressions_in(text):
                    references |= node_references(expression)
            except TemplateError as error:
                issues.append(ValidationIssue(where, f"{path}: {error}"))
        graph.references[node_id] = references
        if node_type and node_type.routes:
            condition = node.config.get("condition")
            if not (isinstance(condition, str) and expressions_in(condition)):
                issues.append(ValidationIssue(where, "config.condition must be a {{ expression }} template"))


def _edge_issues(
    definition: WorkflowDefinition, graph: WorkflowGraph, issues: list[ValidationIssue]
) -> list[EdgeSpec]:
    valid: list[EdgeSpec] = []
    seen: set[tuple[str, str]] = set()
    for edge in definition.edges:
        problems = []
        if edge.source not in graph.nodes:
            problems.append(f"source '{edge.source}' is not a node")
        if edge.target not in graph.nodes:
            problems.append(f"target '{edge.target}' is not a node")
        if edge.source == edge.target:
            problems.append("an edge cannot connect a node to itself")
        if (edge.source, edge.target) in seen:
            problems.append("duplicate edge")
        source_type = graph.node_types.get(edge.source)
        if not problems and source_type is not None:
            if edge.condition is not None and not source_type.routes:
                problems.append(
                    f"condition is only allowed on edges leaving a judgment, not a {source_type.key}"
                )
            if edge.condition is None and source_type.routes:
                problems.append(
                    f"edges leaving judgment '{edge.source}' need a condition (e.g. 'true', 'false')"
                )
        for problem in problems:
            issues.append(ValidationIssue(edge.label, problem))
        if not problems:
            seen.add((edge.source, edge.target))
            valid.append(edge)
    return valid


def validate_workflow(raw: Any) -> WorkflowGraph:
    """Validate a workflow document; raise :class:`WorkflowValidationError` listing every problem."""
    if not isinstance(raw, dict):
        raise WorkflowValidationError([ValidationIssue("workflow", "must be a JSON object")])
    try:
        definition = WorkflowDefinition.model_validate(raw)
    except ValidationError as error:
        raise WorkflowValidationError(_structure_issues(raw, error)) from None

    issues: list[ValidationIssue] = []
    if not definition.nodes:
        raise WorkflowValidationError([ValidationIssue("workflow", "has no nodes")])
    if len(definition.nodes) > MAX_NODES_PER_WORKFLOW:
        issues.append(
            ValidationIssue(
                "workflow", f"has {len(definition.nodes)} nodes; at most {MAX_NODES_PER_WORKFLOW}"
            )
        )

    nodes = {}
    for node in definition.nodes:
        if node.node_id in nodes:
            issues.append(ValidationIssue(f"node '{node.node_id}'", "duplicate node_id"))
        else:
            nodes[node.node_id] = node

    graph = WorkflowGraph(
        definition=definition,
        nodes=nodes,
        node_types=_node_type_issues(nodes, issues),
        incoming={node_id: [] for node_id in nodes},
        outgoing={node_id: [] for node_id in nodes},
    )
    for edge in _edge_issues(definition, graph, issues):
        graph.outgoing[edge.source].append(edge)
        graph.incoming[edge.target].append(edge)

    order, cyclic = topological_order(list(nodes), graph.outgoing)
    if cyclic:
        members = ", ".join(f"'{n}'" for n in sorted(cyclic)[:10])
        issues.append(ValidationIssue("workflow", f"edges form a cycle through nodes {members}"))
        raise WorkflowValidationError(issues)
    graph.order = order
    graph.position = {node_id: index for index, node_id in enumerate(order)}

    _template_issues(graph, issues)
    for node_id, references in graph.references.items():
        for referenced in sorted(references):
            where = f"node '{node_id}'"
            if referenced not in nodes:
                issues.append(ValidationIssue(where, f"reads nodes.{referenced}, which is not a node"))
            elif referenced == node_id:
                issues.append(ValidationIssue(where, "reads its own output"))
            elif not is_ancestor(graph, referenced, node_id):
                issues.append(
                    ValidationIssue(
                        where, f"reads nodes.{referenced}, but '{referenced}' does not run before it"
                    )
                )
    for node_id, node_type in graph.node_types.items():
        if node_type.aggregates and not graph.incoming[node_id]:
            issues.append(
                ValidationIssue(f"node '{node_id}'", "an aggregator needs at least one incoming edge")
            )
        if node_type.routes and not graph.outgoing[node_id]:
            issues.append(
                ValidationIssue(f"node '{node_id}'", "a judgment needs outgoing edges with conditions")
            )
        if node_type.routes:
            labels = [e.condition for e in graph.outgoing[node_id]]
            if labels.count(DEFAULT_ROUTE) > 1:
                issues.append(ValidationIssue(f"node '{node_id}'", "more than one 'default' edge"))
    if issues:
        raise WorkflowValidationError(issues)
    return graph


def executable_issues(graph: WorkflowGraph) -> list[ValidationIssue]:
    """Node types that validate but cannot run in this release."""
    return [
        ValidationIssue(f"node '{node_id}'", f"type {node_type.key!r} cannot run yet in this release")
        for node_id, node_type in graph.node_types.items()
        if node_type.executor is None
    ]


def validate_executable(raw: Any) -> WorkflowGraph:
    """Validate a workflow document and refuse node types that cannot run yet: what every entry point that
    starts or publishes a workflow checks. Raises :class:`WorkflowValidationError` listing every problem."""
    graph = validate_workflow(raw)
    not_runnable = executable_issues(graph)
    if not_runnable:
        raise WorkflowValidationError(not_runnable)
    return graph
