"""Random valid workflows (DAGs) for property tests, and a reference model of what running one must produce.

The model states the documented semantics directly (a node runs when it has no incoming edge or one incoming
edge is taken; an edge is taken when its source succeeded and its condition, if any, is the source's route);
it knows nothing of segments, stages or the state machine, so it checks them rather than re-implementing them.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st
from segflow.domain.truth import truth

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
    wait_seconds: tuple[int, ...] = (0, 1, 2, 3, 4, 5),
) -> dict[str, Any]:
    """A valid workflow: random node count, random forward edges, random node types with valid conditions.

    The details come from a ``Random`` seeded by hypothesis (fast to generate, reproducible, and still
    shrinkable through the node count, density and chain bias).
    """
    return build_random_workflow(
        random.Random(draw(st.integers(min_value=0, max_value=2**32 - 1))),
        count=draw(st.integers(min_value=1, max_value=max_nodes)),
        density=draw(st.sampled_from([0.0, 0.03, 0.08, 0.2, 0.5])),
        chain_bias=draw(st.sampled_from([0.0, 0.5, 0.7, 0.95])),
        max_padding=max_padding,
        padding_chars=padding_chars,
        wait_seconds=wait_seconds,
    )


def build_random_workflow(
    rng: random.Random,
    count: int,
    density: float,
    chain_bias: float,
    max_padding: int = 900,
    padding_chars: str = "abcdefghijklmnopqrstuvwxyz",
    wait_seconds: tuple[int, ...] = (0, 1, 2, 3, 4, 5),
) -> dict[str, Any]:
    """Random forward edges (i<j) and types among transform/aggregator/wait/judgment, made valid.

    Transforms sometimes read an ancestor's output and carry padding of random size, so the byte budget and
    segment bodies are exercised. Judgment ``nX`` routes on ``input.routes.nX``; edges carry random labels.
    """
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
            nodes.append(
                {"node_id": node_id, "type": "wait", "config": {"seconds": rng.choice(wait_seconds)}}
            )
        else:
            condition = f"{{{{ input.routes.{node_id} }}}}"
            nodes.append({"node_id": node_id, "type": "judgment", "config": {"condition": condition}})

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


@dataclass
class ExpectedRun:
    """What a run must produce according to the reference model."""

    statuses: dict[str, str]  # node_id -> succeeded | skipped | failed (absent: never reached)
    outputs: dict[str, Any]
    final_output: dict[str, Any]
    failed_judgments: list[str]  # judgments whose route matched no edge (the execution must fail)


def expected_run(raw: dict[str, Any], execution_input: dict[str, Any]) -> ExpectedRun:
    """Run a workflow of transforms, judgments, aggregators and waits by the documented semantics.

    Transforms are expected to use only ``{"i": n, "from": "{{ nodes.<id> }}", "pad": "..."}`` configs (as
    :func:`build_random_workflow` makes them).
    """
    incoming: dict[str, list[dict[str, Any]]] = defaultdict(list)
    outgoing: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in raw["edges"]:
        incoming[e["target"]].append(e)
        outgoing[e["source"]].append(e)
    statuses: dict[str, str] = {}
    routes: dict[str, str] = {}
    outputs: dict[str, Any] = {}
    failed: list[str] = []
    for node in raw["nodes"]:  # node ids nI are in topological order by construction
        node_id = node["node_id"]
        edges_in = incoming[node_id]
        if any(statuses.get(e["source"]) in (None, "failed") for e in edges_in):
            continue  # something before it failed: it is never reached
        taken = [
            e
            for e in edges_in
            if statuses[e["source"]] == "succeeded" and e.get("condition") in (None, routes.get(e["source"]))
        ]
        if edges_in and not taken:
            statuses[node_id] = "skipped"
            continue
        config = node["config"]
        if node["type"] == "transform":
            output = dict(config["output"])
            if "from" in output:
                output["from"] = outputs.get(output["from"].split("nodes.")[1].split()[0])
            outputs[node_id] = output
        elif node["type"] == "aggregator":
            results = {e["source"]: outputs[e["source"]] for e in taken}
            outputs[node_id] = {"results": results, "count": len(results), "branches": list(results)}
        elif node["type"] == "wait":
            outputs[node_id] = {"waited_seconds": config["seconds"]}
        else:
            value = execution_input["routes"][node_id]
            labels = {e["condition"] for e in outgoing[node_id]}
            # its own label, else "true"/"false" by the truth rule, else "default" (docs: judgment routing)
            route = value
            if value not in labels or value == "default":
                by_truth = "true" if truth(value) else "false"
                route = by_truth if by_truth in labels else "default"
            if route not in labels:
                statuses[node_id] = "failed"
                failed.append(node_id)
                continue
            routes[node_id] = route
            outputs[node_id] = {"result": value, "route": route}
        statuses[node_id] = "succeeded"
    sinks = [n["node_id"] for n in raw["nodes"] if not outgoing[n["node_id"]]]
    final = {sink: outputs[sink] for sink in sinks if statuses.get(sink) == "succeeded"}
    return ExpectedRun(statuses, outputs, final, failed)


def random_routes(raw: dict[str, Any], rng: random.Random) -> dict[str, str]:
    """An input label for every judgment: mostly one of its edges' labels, sometimes one no edge has."""
    routes = {}
    for node in raw["nodes"]:
        if node["type"] == "judgment":
            labels = [e["condition"] for e in raw["edges"] if e["source"] == node["node_id"]]
            routes[node["node_id"]] = rng.choice([*labels, *labels, "bronze"])
    return routes
