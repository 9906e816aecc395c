"""Workflow validation: every problem is reported at once, each naming its node, edge or field."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from segflow.domain.errors import SegflowError
from segflow.domain.limits import MAX_NODES_PER_WORKFLOW, MAX_WORKFLOW_BYTES
from segflow.dsl.gc_pause import gc_paused
from segflow.dsl.graph import WorkflowGraph, is_ancestor, topological_order
from segflow.dsl.json_values import json_kind, json_problems, json_size, plain_json_size
from segflow.dsl.models import WorkflowDefinition
from segflow.dsl.templates import (
    TemplateError,
    check_functions,
    expressions_in,
    iter_strings,
    node_references,
    plain_path_references,
    plain_template_references,
    quoting_hint,
)
from segflow.dsl.wording import plain_problems
from segflow.nodes import registry
from segflow.nodes.base import NodeType
from segflow.nodes.judgment import DEFAULT_ROUTE


@dataclass(frozen=True)
class ValidationIssue:
    location: str  # "workflow", "node 'x'", "edge 'a' -> 'b'"
    message: str
    # The node id a template reads that is not a node of this workflow (a sub-flow's owner rewords it when it
    # is one of the outer workflow's nodes).
    unknown_reference: str | None = field(default=None, compare=False)

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


class WorkflowValidationError(SegflowError, ValueError):
    """The workflow is invalid; ``issues`` lists every problem found."""

    code = "InvalidWorkflow"
    kind = "invalid"

    def __init__(self, issues: list[ValidationIssue]) -> None:
        issues = list(dict.fromkeys(issues))  # one problem is reported once
        self.issues = issues
        count = len(issues)
        shown = "; ".join(str(issue) for issue in issues[:20])
        more = f" (and {count - 20} more)" if count > 20 else ""
        super().__init__(f"invalid workflow, {count} problem{'s' if count != 1 else ''}: {shown}{more}")


_ITEM_PATH = re.compile(r"^(nodes|edges)\[(\d+)\]\.?(.*)$", re.DOTALL)


def _item_location(raw: Any, collection: str, index: int) -> str:
    items = raw.get(collection) if isinstance(raw, dict) else None
    item = items[index] if isinstance(items, list) and index < len(items) else None
    if collection == "nodes":
        node_id = item.get("node_id") if isinstance(item, dict) else None
        return f"node '{node_id}'" if isinstance(node_id, str) and node_id else f"node #{index + 1}"
    if isinstance(item, dict) and isinstance(item.get("source"), str) and isinstance(item.get("target"), str):
        return f"edge '{item['source']}' -> '{item['target']}'"
    return f"edge #{index + 1}"


def _located(raw: Any, path: str, problem: str) -> ValidationIssue:
    """An issue at a document path (``nodes[2].retry.max_attempts``), placed on its node or edge."""
    match = _ITEM_PATH.match(path)
    if match is None:
        return ValidationIssue("workflow", f"{path}: {problem}" if path else problem)
    where = _item_location(raw, match.group(1), int(match.group(2)))
    rest = match.group(3)
    return ValidationIssue(where, f"{rest}: {problem}" if rest else problem)


def _is_template(value: Any) -> bool:
    return isinstance(value, str) and "{{" in value


@dataclass
class _Repaired:
    """The document with what pydantic refused taken out, so every other check still runs on the rest."""

    definition: WorkflowDefinition | None
    unusable_ids: set[str]  # ids of nodes left out: edges and templates naming them are not reported again
    unchecked_configs: set[str]  # nodes whose config is not an object


def _repair(raw: dict[str, Any], error: ValidationError) -> _Repaired:
    document = dict(raw)
    given_nodes, given_edges = raw.get("nodes"), raw.get("edges")
    nodes = list(given_nodes) if isinstance(given_nodes, list) else []
    edges = list(given_edges) if isinstance(given_edges, list) else []
    dropped_nodes: set[int] = set()
    dropped_edges: set[int] = set()
    dropped_keys: dict[int, set[str]] = {}
    for detail in error.errors():
        loc = tuple(detail["loc"])
        if loc[0] in ("nodes", "edges") and len(loc) >= 2 and isinstance(loc[1], int):
            index = loc[1]
            if loc[0] == "edges":
                dropped_edges.add(index)
            elif len(loc) == 2 or loc[2] in ("node_id", "type"):
                dropped_nodes.add(index)
            else:
                dropped_keys.setdefault(index, set()).add(str(loc[2]))
        elif loc[0] == "workflow_id":
            document["workflow_id"] = "workflow"
        elif loc[0] not in ("nodes", "edges"):
            document.pop(str(loc[0]), None)
    unusable: set[str] = set()
    unchecked: set[str] = set()
    kept_nodes = []
    for index, node in enumerate(nodes):
        node_id = node.get("node_id") if isinstance(node, dict) else None
        if index in dropped_nodes:
            if isinstance(node_id, str):
                unusable.add(node_id)
            continue
        keys = dropped_keys.get(index, set())
        repaired = {key: value for key, value in node.items() if key not in keys}
        if "config" in keys:
            repaired["config"] = {}
            unchecked.add(str(node_id))
        kept_nodes.append(repaired)
    document["nodes"] = kept_nodes
    document["edges"] = [edge for index, edge in enumerate(edges) if index not in dropped_edges]
    try:
        definition = WorkflowDefinition.model_validate(document)
    except ValidationError:  # not expected: every refused part was taken out
        definition = None
    return _Repaired(definition, unusable, unchecked)


def _config_issues(
    node_id: str, node_type: NodeType, config: dict[str, Any], outer: set[str], issues: list[ValidationIssue]
) -> None:
    where = f"node '{node_id}'"
    try:
        node_type.config_model.model_validate(config)
    except ValidationError as error:
        for path, problem, detail in plain_problems(config, error, "config"):
            loc = detail.get("loc") or ("",)
            if _is_template(detail.get("input")) and loc[0] not in node_type.raw_fields:
                continue  # a {{ template }} meets the field's type check once rendered, at run time
            inner = getattr((detail.get("ctx") or {}).get("error"), "issues", None)
            if inner:  # a sub-flow: its own problems, each named by its place in it
                issues.extend(_subflow_issue(where, path, issue, outer) for issue in inner)
            else:
                issues.append(ValidationIssue(where, f"{path}: {problem}"))


def _subflow_issue(where: str, path: str, issue: ValidationIssue, outer: set[str]) -> ValidationIssue:
    place = "" if issue.location == "workflow" else f"{issue.location}: "
    reference = issue.unknown_reference
    if reference is not None and reference in outer:
        return ValidationIssue(
            where,
            f"{path}: {place}reads nodes.{reference}, but '{reference}' is a node of the outer workflow: "
            "a sub-flow's templates see only the sub-flow's own nodes (and input, workflow, execution, item "
            "and index or loop), because its owner loads only the outputs its own templates name; pass what "
            "it needs in through the owner's config (items of a for_each, initial of a loop)",
        )
    return ValidationIssue(where, f"{path}: {place}{issue.message}", reference)


_LIST_ADAPTERS: dict[type[BaseModel], TypeAdapter[list[Any]]] = {}


def _all_valid(model: type[BaseModel], configs: list[Any]) -> bool:
    """Whether every config meets ``model``, found with one validation of the list of them (a list is
    validated item by item, as each config would be alone)."""
    adapter = _LIST_ADAPTERS.get(model)
    if adapter is None:
        adapter = _LIST_ADAPTERS[model] = TypeAdapter(list[model])  # type: ignore[valid-type]
    try:
        adapter.validate_python(configs)
    except ValidationError:
        return False
    return True


def _node_type_issues(
    graph_nodes: dict[str, Any], unchecked: set[str], outer: set[str], issues: list[ValidationIssue]
) -> dict[str, NodeType]:
    found: dict[tuple[str, str | None], NodeType | None] = {}
    types: dict[str, NodeType] = {}
    configs: dict[type[BaseModel], list[Any]] = {}
    remarkable = False  # a node with something to say besides its config
    for node_id, node in graph_nodes.items():
        selected = (node.type, node.action_type or node.target_type)
        if selected in found:
            node_type = found[selected]
        else:
            node_type = found[selected] = registry.lookup(*selected)
        if node_type is None:
            remarkable = True
            continue
        types[node_id] = node_type
        if node.action_type is not None or node.target_type is not None:
            remarkable = True
        remarkable = remarkable or (node_type.placement == "wait" and node.timeout_seconds is not None)
        if node_id not in unchecked:
            group = configs.get(node_type.config_model)
            if group is None:
                group = configs[node_type.config_model] = []
            group.append(node.config)
    valid_models = {model for model, items in configs.items() if _all_valid(model, items)}
    if not remarkable and len(valid_models) == len(configs):
        return types
    # Each node's problems in turn, its config's (validated alone, for their paths) after its own.
    for node_id, node in graph_nodes.items():
        node_type = types.get(node_id)
        if (
            node_type is not None
            and node.action_type is None
            and node.target_type is None
            and (node_type.placement != "wait" or node.timeout_seconds is None)
        ):  # the common case: nothing to say but what its config may
            if node_id not in unchecked and node_type.config_model not in valid_models:
                _config_issues(node_id, node_type, node.config, outer, issues)
            continue
        where = f"node '{node_id}'"
        if node_type is None:
            known_sub = registry.known_subtypes(node.type)
            if known_sub:
                selector = "action_type" if node.action_type or node.type == "action" else "target_type"
                if node.subtype is None:
                    message = f"{node.type!r} nodes need {selector}, one of: {', '.join(known_sub)}"
                else:
                    message = f"{selector} {node.subtype!r} is not one of: {', '.join(known_sub)}"
                issues.append(ValidationIssue(where, message))
            else:
                known = sorted({t.type for t in registry.all_node_types()})
                issues.append(
                    ValidationIssue(where, f"unknown type {node.type!r}; known: {', '.join(known)}")
                )
            continue
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
        if node_id not in unchecked and node_type.config_model not in valid_models:
            _config_issues(node_id, node_type, node.config, outer, issues)
    return types


# What a template text reads, and the problem that stops its reading (None: none).
_TextReads = tuple[frozenset[str], str | None]


class _TemplateReads:
    """What each distinct template text and expression reads, worked out once per validation: a workflow
    repeats the same templates in many nodes."""

    def __init__(self) -> None:
        self.known: dict[str, _TextReads] = {}  # by text; look here first, then ask of_text
        self._expressions: dict[str, _TextReads] = {}

    def of_text(self, text: str) -> _TextReads:
        found = self.known.get(text)
        if found is None:
            plain = plain_template_references(text)
            found = self.known[text] = (plain, None) if plain is not None else self._read_text(text)
        return found

    def _read_text(self, text: str) -> _TextReads:
        references: frozenset[str] = frozenset()
        try:
            for expression in expressions_in(text):
                found = self._expressions.get(expression)
                if found is None:
                    found = self._expressions[expression] = _read_expression(expression)
                references |= found[0]
                if found[1] is not None:
                    return references, found[1]
        except TemplateError as error:
            return references, str(error)
        return references, None


def _read_expression(expression: str) -> _TextReads:
    """The nodes an expression reads; a problem stops at the first check that fails, as one text's loop in
    the order of :func:`node_references` then :func:`check_functions`."""
    plain = plain_path_references(expression)
    if plain is not None:
        return plain, None
    references: frozenset[str] = frozenset()
    try:
        references = frozenset(node_references(expression))
        check_functions(expression)
    except TemplateError as error:
        return references, str(error)
    return references, None


# What the walk of a config does with each JSON type: look into it (str, dict, list) or skip it (None).
_WALKED: dict[type, Any] = {
    str: str,
    dict: dict,
    list: list,
    int: None,
    float: None,
    bool: None,
    type(None): None,
}


def _template_issues(graph: WorkflowGraph, issues: list[ValidationIssue]) -> None:
    reads = _TemplateReads()
    known = reads.known
    node_types = graph.node_types
    for node_id, node in graph.nodes.items():
        references: set[str] = set()
        node_type = node_types.get(node_id)
        raw = node_type.raw_fields if node_type else ()  # sub-flows: checked by the node's own config model
        failed = False
        stack = (
            [value for key, value in node.config.items() if key not in raw]
            if raw
            else [*node.config.values()]
        )
        while stack:  # every string with {{ in the config, as iter_strings walks it (in no particular order)
            text = stack.pop()
            kind = _WALKED.get(type(text), _WALKED)
            if kind is _WALKED:  # not a JSON type itself (a subclass of one?): walked as its JSON type
                kind = next((base for base in (str, dict, list) if isinstance(text, base)), None)
            if kind is dict:
                stack.extend(text.values())
            elif kind is list:
                stack.extend(text)
            elif kind is str and "{{" in text:
                read, problem = known.get(text) or reads.of_text(text)
                if read:
                    references |= read
                if problem is not None:
                    failed = True
        if failed:  # rare: walked again for each problem's path, in the config's order
            own = {key: value for key, value in node.config.items() if key not in raw}
            for path, text in iter_strings(own):
                problem = reads.of_text(text)[1]
                if problem is not None:
                    issues.append(ValidationIssue(f"node '{node_id}'", f"{path}: {problem}"))
        graph.references[node_id] = references
        if node_type and node_type.routes and "condition" in node.config:
            condition = node.config["condition"]
            try:
                templated = isinstance(condition, str) and bool(expressions_in(condition))
            except TemplateError:
                templated = True  # reported above
            if not templated:
                issues.append(
                    ValidationIssue(
                        f"node '{node_id}'",
                        f"config.condition must be a {{{{ expression }}}} template, not {condition!r}",
                    )
                )


def _edge_issues(
    definition: WorkflowDefinition, graph: WorkflowGraph, unusable: set[str], issues: list[ValidationIssue]
) -> None:
    """Each edge's problems; the valid edges go into the graph's adjacency, in the order written."""
    seen: set[tuple[str, str]] = set()
    nodes, node_types, incoming, outgoing = graph.nodes, graph.node_types, graph.incoming, graph.outgoing
    for edge in definition.edges:
        source, target = edge.source, edge.target
        if unusable and (source in unusable or target in unusable):
            continue  # the node is reported already
        source_type = node_types.get(source)
        if (
            source_type is not None
            and target in nodes
            and source != target
            and (source, target) not in seen
            and (edge.condition is None) != source_type.routes
        ):  # the common case, which the checks below all pass
            seen.add((source, target))
            outgoing[source].append(edge)
            incoming[target].append(edge)
            continue
        problems = []
        if edge.source not in graph.nodes:
            problems.append(f"source '{edge.source}' is not a node")
        if edge.target not in graph.nodes:
            problems.append(f"target '{edge.target}' is not a node")
        if edge.source == edge.target:
            problems.append("an edge cannot connect a node to itself")
        if (edge.source, edge.target) in seen:
            problems.append("duplicate edge")
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
            outgoing[source].append(edge)
            incoming[target].append(edge)


def _document_issues(raw: dict[str, Any]) -> list[ValidationIssue]:
    """What makes the document unfit to store or pass on: too deep, not JSON (NaN, Infinity), too large."""
    size = plain_json_size(raw)
    if size is None:  # json_problems says where; a document it finds nothing in is still measured
        issues = [_located(raw, path, problem) for path, problem in json_problems(raw, "")]
        if issues:
            return issues
        size = json_size(raw)
    if size > MAX_WORKFLOW_BYTES:
        return [ValidationIssue("workflow", f"is {size:,} bytes of JSON; at most {MAX_WORKFLOW_BYTES:,}")]
    return []


def _reference_issues(graph: WorkflowGraph, unusable: set[str], issues: list[ValidationIssue]) -> None:
    for node_id, references in graph.references.items():
        if not references:
            continue
        if len(references) == 1 and not unusable:
            (referenced,) = references
            into = graph.incoming[node_id]
            if referenced != node_id and (
                (len(into) == 1 and into[0].source == referenced) or any(e.source == referenced for e in into)
            ):
                continue  # reads a direct predecessor: the common case
        where = f"node '{node_id}'"
        for referenced in sorted(references - unusable) if unusable else sorted(references):
            if referenced not in graph.nodes:
                dotted = sorted(n for n in graph.nodes if n.startswith(f"{referenced}."))
                hint = f" ({quoting_hint(dotted[0])})" if dotted else ""
                issues.append(
                    ValidationIssue(where, f"reads nodes.{referenced}, which is not a node{hint}", referenced)
                )
            elif referenced == node_id:
                issues.append(ValidationIssue(where, "reads its own output"))
            elif not is_ancestor(graph, referenced, node_id):
                issues.append(
                    ValidationIssue(
                        where,
                        f"reads nodes.{referenced}, but '{referenced}' does not run before it "
                        f"(no path of edges leads from '{referenced}' to '{node_id}')",
                    )
                )


def validate_workflow(raw: Any) -> WorkflowGraph:
    """Validate a workflow document; raise :class:`WorkflowValidationError` listing every problem."""
    with gc_paused():
        return _validate_workflow(raw)


def _validate_workflow(raw: Any) -> WorkflowGraph:
    if not isinstance(raw, dict):
        raise WorkflowValidationError(
            [ValidationIssue("workflow", f"must be a JSON object, not {json_kind(raw)}")]
        )
    issues = _document_issues(raw)
    if issues:  # nothing else is looked at in a document that cannot be stored
        raise WorkflowValidationError(issues)
    unusable: set[str] = set()
    unchecked: set[str] = set()
    try:
        definition = WorkflowDefinition.model_validate(raw)
    except ValidationError as error:
        issues.extend(_located(raw, path, problem) for path, problem, _ in plain_problems(raw, error))
        repaired = _repair(raw, error)
        if repaired.definition is None:
            raise WorkflowValidationError(issues) from None
        definition, unusable, unchecked = (
            repaired.definition,
            repaired.unusable_ids,
            repaired.unchecked_configs,
        )

    if not definition.nodes:
        if not issues:
            issues.append(ValidationIssue("workflow", "has no nodes"))
        raise WorkflowValidationError(issues)
    if len(definition.nodes) > MAX_NODES_PER_WORKFLOW:
        issues.append(
            ValidationIssue(
                "workflow", f"has {len(definition.nodes)} nodes; at most {MAX_NODES_PER_WORKFLOW}"
            )
        )

    nodes = {node.node_id: node for node in definition.nodes}
    if len(nodes) < len(definition.nodes):  # the first of each id is the node; each other is reported
        nodes = {}
        for node in definition.nodes:
            if node.node_id in nodes:
                issues.append(ValidationIssue(f"node '{node.node_id}'", "duplicate node_id"))
            else:
                nodes[node.node_id] = node

    graph = WorkflowGraph(
        definition=definition,
        nodes=nodes,
        node_types=_node_type_issues(nodes, unchecked, set(nodes), issues),
        incoming={node_id: [] for node_id in nodes},
        outgoing={node_id: [] for node_id in nodes},
    )
    _edge_issues(definition, graph, unusable, issues)

    order, cyclic = topological_order(list(nodes), graph.outgoing, graph.incoming)
    if cyclic:
        members = ", ".join(f"'{n}'" for n in sorted(cyclic)[:10])
        issues.append(ValidationIssue("workflow", f"edges form a cycle through nodes {members}"))
        raise WorkflowValidationError(issues)
    graph.order = order
    graph.position = {node_id: index for index, node_id in enumerate(order)}

    _template_issues(graph, issues)
    _reference_issues(graph, unusable, issues)
    if any(node_type.aggregates or node_type.routes for node_type in _distinct(graph.node_types)):
        _joining_and_routing_issues(graph, issues)
    if issues:
        raise WorkflowValidationError(_in_document_order(definition, issues))
    return graph


def _distinct(node_types: dict[str, NodeType]) -> list[NodeType]:
    """The node types of a workflow, once each (by identity: the registry holds one of each)."""
    return list({id(node_type): node_type for node_type in node_types.values()}.values())


def _joining_and_routing_issues(graph: WorkflowGraph, issues: list[ValidationIssue]) -> None:
    sources = {edge.source for edge in graph.definition.edges}  # every edge written, valid or not
    for node_id, node_type in graph.node_types.items():
        if node_type.aggregates and not graph.incoming[node_id]:
            issues.append(
                ValidationIssue(f"node '{node_id}'", "an aggregator needs at least one incoming edge")
            )
        if node_type.routes and node_id not in sources:
            issues.append(
                ValidationIssue(f"node '{node_id}'", "a judgment needs outgoing edges with conditions")
            )
        if node_type.routes:
            labels = [e.condition for e in graph.outgoing[node_id]]
            if labels.count(DEFAULT_ROUTE) > 1:
                issues.append(ValidationIssue(f"node '{node_id}'", "more than one 'default' edge"))


def _in_document_order(
    definition: WorkflowDefinition, issues: list[ValidationIssue]
) -> list[ValidationIssue]:
    """The workflow's own problems first, then each node's in the order they are written, then the edges'."""
    rank = {f"node '{node.node_id}'": index for index, node in enumerate(definition.nodes)}

    def key(issue: ValidationIssue) -> tuple[int, int]:
        if issue.location == "workflow":
            return 0, 0
        if issue.location in rank:
            return 1, rank[issue.location]
        return (2, 0) if issue.location.startswith("edge") else (1, len(rank))

    return sorted(issues, key=key)


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
