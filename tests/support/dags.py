"""Hypothesis strategies for random valid workflows (DAGs), and graph helpers to check partitions against."""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any

from hypothesis import strategies as st

from tests.support.workflows import edge, workflow

NODE_TYPES = ("transform", "aggregator", "wait", "judgment")
ROUTE_LABELS = ("true", "false", "gold", "silver")


def ancestors_by_index(count: int, edges: list[tuple[int, int]]) -> list[set[int]]:
    """For edges i<j: every node's set of ancestors (edges always point forward, so one pass suffices)."""
    parents: dict[int, set[int]] = defaultdict(set)
    for source, target in edges:
        parents[target].add(source)
    ancestors: list[set[int]] = []
    for index in range(count):
        found: set[int] = set()
        for parent in parents[index]:
            found.add(parent)
            found |= ancestors[parent]
        ancestors.append(found)
    return ancestors


@st.composite
def random_workflows(
    draw: st.DrawFn,
    max_nodes: int = 60,
    max_padding: int = 900,
    padding_chars: str = "abcdefghijklmnopqrstuvwxyz",
) -> dict[str, Any]:
    """A valid workflow: random node count, random forward edges, random node types with valid conditions.

    Transforms sometimes read an ancestor's output and carry padding of random size, so the byte budget and
    segment bodies are exercised. The details come from a ``Random`` seeded by hypothesis (fast to generate,
    reproducible, and still shrinkable through the node count, density and chain bias).
    """
    count = draw(st.integers(min_value=1, max_value=max_nodes))
    density = draw(st.sampled_from([0.0, 0.03, 0.08, 0.2, 0.5]))
    chain_bias = draw(st.sampled_from([0.0, 0.5, 0.7, 0.95]))
    rng = random.Random(draw(st.integers(min_value=0, max_value=2**32 - 1)))
    edges: set[tuple[int, int]] = set()
    for target in range(1, count):
        # mostly chain-like graphs, so segments of several nodes appear; sometimes wide and dense
        if rng.random() < chain_bias:
            edges.add((target - 1, target))
        for source in range(max(0, target - 12), target):
            if rng.random() < density:
                edges.add((source, target))
    types = [rng.choice(NODE_TYPES) for _ in range(count)]
    incoming: dict[int, list[int]] = defaultdict(list)
    outgoing: dict[int, list[int]] = defaultdict(list)
    for source, target in sorted(edges):
        incoming[target].append(source)
        outgoing[source].append(target)
    for index in range(count):
        if types[index] == "aggregator" and not incoming[index]:
            if index == 0:
                types[index] = "transform"
            else:
                source = rng.randrange(index)
                edges.add((source, index))
                incoming[index].append(source)
                outgoing[source].append(index)
    for index in range(count):
        if types[index] == "judgment" and not outgoing[index]:
            types[index] = "transform"

    ordered_edges = sorted(edges)
    ancestors = ancestors_by_index(count, ordered_edges)
    nodes = []
    for index, node_type in enumerate(types):
        node_id = f"n{index}"
        if node_type == "transform":
            output: dict[str, Any] = {"i": index}
            if ancestors[index] and rng.random() < 0.5:
                read = rng.choice(sorted(ancestors[index]))
                output["from"] = f"{{{{ nodes.n{read} }}}}"
            padding = rng.choice([0, 0, 0, 10, 100, 400, max_padding])
            if padding:
                output["pad"] = "".join(rng.choice(padding_chars) for _ in range(padding))
            nodes.append({"node_id": node_id, "type": "transform", "config": {"output": output}})
        elif node_type == "aggregator":
            nodes.append({"node_id": node_id, "type": "aggregator", "config": {}})
        elif node_type == "wait":
            nodes.append({"node_id": node_id, "type": "wait", "config": {"seconds": rng.randrange(6)}})
        else:
            nodes.append({"node_id": node_id, "type": "judgment", "config": {"condition": "{{ input.kind }}"}})

    workflow_edges = []
    has_default: set[int] = set()
    for source, target in ordered_edges:
        condition = None
        if types[source] == "judgment":
            choices = ROUTE_LABELS if source in has_default else (*ROUTE_LABELS, "default")
            condition = rng.choice(choices)
            if condition == "default":
                has_default.add(source)
        workflow_edges.append(edge(f"n{source}", f"n{target}", condition))
    return workflow("random", nodes, workflow_edges)


def reachability(nodes: list[str], edges: list[tuple[str, str]]) -> dict[str, set[str]]:
    """Every node's set of descendants (``nodes`` must be in topological order)."""
    children: dict[str, list[str]] = defaultdict(list)
    for source, target in edges:
        children[source].append(target)
    reach: dict[str, set[str]] = {}
    for node in reversed(nodes):
        found: set[str] = set()
        for child in children[node]:
            found.add(child)
            found |= reach[child]
        reach[node] = found
    return reach
