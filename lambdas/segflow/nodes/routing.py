"""The routing rule, in one place: which edges are taken, so which nodes run and which are skipped.

An edge is taken when its source succeeded and the edge is unconditional or carries the label its source (a
judgment) chose. A node runs when one of its incoming edges is taken (or it has none), and is skipped when
all its sources finished without taking an edge to it. Segments (:mod:`segflow.engine.segment_runner`) and
sub-flows (:mod:`segflow.nodes.subflow`) both route by it.
"""

from __future__ import annotations

from collections.abc import Iterable


def edge_taken(condition: str | None, source_status: str | None, source_route: str | None) -> bool:
    """Whether an edge with ``condition`` is taken, given its source's status and chosen route."""
    return source_status == "succeeded" and (condition is None or condition == source_route)


def route_labels(conditions: Iterable[str | None]) -> list[str]:
    """The labels a judgment may choose: the conditions of its outgoing edges, sorted, once each."""
    return sorted({condition for condition in conditions if condition is not None})
