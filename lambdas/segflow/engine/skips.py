"""Which nodes an execution that succeeds skipped, from the few records that decide it.

A node is skipped when none of its incoming edges is taken, and an edge is taken when its source succeeded and
the edge has no condition or carries the route its source (a judgment) chose
(:func:`segflow.nodes.routing.edge_taken`); a judgment that succeeds always chooses one of its edges' labels.
In an execution that succeeds every node succeeds or is skipped, so each node falls in one of three cases,
found in one pass over the graph in topological order:

- it **always runs**: it has no incoming edge, or an unconditional one from a node that always runs, or edges
  from one judgment's routes that together cover every label that judgment can choose;
- it **runs on a route**: it runs exactly when a judgment that always runs chose one of some labels (the arms
  of a judgment and what follows them until they join);
- anything else (a route behind another route, arms of several judgments joined): its own record says.

So the end of a run reads the records of the judgments that guard routes and of the nodes of the third kind,
none in a workflow without judgments, and counts the rest (:func:`count_skipped`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from segflow.domain.records import NodeRecord
from segflow.domain.stored_plan import RouteGuard, SkipRule
from segflow.dsl.graph import WorkflowGraph


@dataclass(frozen=True)
class _Route:
    judgment: str
    labels: frozenset[str]


_ALWAYS = "always"
_UNKNOWN = "unknown"
_Guard = _Route | str  # _ALWAYS, _UNKNOWN, or the route a node runs on


def _guards(graph: WorkflowGraph) -> dict[str, _Guard]:
    labels_of: dict[str, frozenset[str]] = {}
    guards: dict[str, _Guard] = {}
    for node_id in graph.order:
        incoming = graph.incoming[node_id]
        if not incoming:
            guards[node_id] = _ALWAYS
            continue
        edge_guards: list[_Guard] = []
        for edge in incoming:
            source = guards[edge.source]
            if edge.condition is None:
                edge_guards.append(source)
            elif source == _ALWAYS:
                edge_guards.append(_Route(edge.source, frozenset({edge.condition})))
            else:  # a route behind a route
                edge_guards.append(_UNKNOWN)
        guards[node_id] = _either(edge_guards, labels_of, graph)
    return guards


def _either(edge_guards: list[_Guard], labels_of: dict[str, frozenset[str]], graph: WorkflowGraph) -> _Guard:
    """The guard of a node that runs when any of its incoming edges is taken."""
    if _ALWAYS in edge_guards:
        return _ALWAYS
    routes = [guard for guard in edge_guards if isinstance(guard, _Route)]
    if len(routes) < len(edge_guards) or len({route.judgment for route in routes}) != 1:
        return _UNKNOWN
    judgment = routes[0].judgment
    labels = frozenset().union(*(route.labels for route in routes))
    if judgment not in labels_of:
        labels_of[judgment] = frozenset(e.condition for e in graph.outgoing[judgment] if e.condition)
    return _ALWAYS if labels >= labels_of[judgment] else _Route(judgment, labels)


def skip_rule(graph: WorkflowGraph) -> SkipRule:
    """What the end of a successful run needs to count its skipped nodes."""
    counts: dict[_Route, int] = defaultdict(int)
    unknown: list[str] = []
    for node_id, guard in _guards(graph).items():
        if isinstance(guard, _Route):
            counts[guard] += 1
        elif guard == _UNKNOWN:
            unknown.append(node_id)
    routed = [
        RouteGuard(judgment=route.judgment, labels=sorted(route.labels), nodes=count)
        for route, count in counts.items()
    ]
    return SkipRule(routed=routed, unknown=unknown)


def skippable_nodes(graph: WorkflowGraph) -> set[str]:
    """The nodes a successful run may skip (every node but those that always run)."""
    return {node_id for node_id, guard in _guards(graph).items() if guard != _ALWAYS}


def records_needed(rule: SkipRule) -> list[str]:
    return list(dict.fromkeys([*(guard.judgment for guard in rule.routed), *rule.unknown]))


def count_skipped(rule: SkipRule, records: dict[str, NodeRecord]) -> int | None:
    """The nodes a successful run skipped, from the records :func:`records_needed` names; None if one of them
    is not what a successful run leaves (then only all records can say)."""
    skipped = 0
    for guard in rule.routed:
        judgment = records.get(guard.judgment)
        if judgment is None or judgment.status != "succeeded":
            return None
        skipped += guard.nodes if judgment.route not in guard.labels else 0
    for node_id in rule.unknown:
        record = records.get(node_id)
        if record is None or record.status not in ("succeeded", "skipped"):
            return None
        skipped += record.status == "skipped"
    return skipped
