"""The benchmark's workflows: three shapes at any node count, each node producing an output of a chosen size.

Every node's output carries ``input.blob`` (a string of the chosen size, sent as the execution input), so a
node's config stays small whatever its output size: the partition is the same for 1 KB and 100 KB outputs,
and only what the outputs cost differs.

- ``linear``: a chain; each node also reads its predecessor's ``i``.
- ``wide``: a root, ``n - 2`` parallel branches, and a join after all of them (a transform that waits for
  every branch and reads none of them, so the join's own output stays one blob whatever the width).
- ``mixed``: blocks of 20 nodes: a chain of 6, a fork into 4 branches of 2, an aggregator over the 4 branch
  ends, a judgment routing to one of two arms of 2 nodes (the other arm is skipped), and the next block's
  first node joining both arms.
- ``calls``: ``wide`` with every branch an ``api_call`` (POST to the input's ``call_url``, answered with its
  own body by :mod:`bench.echo_server`): a stage with side effects, which segflow runs as a Map. The other
  shapes hold pure nodes only, whose stages segflow runs in one invocation.
"""

from __future__ import annotations

from typing import Any

SHAPES = ("linear", "wide", "mixed", "calls")
KB = 1024
# Bytes of a node's output besides its blob ({"i": n, "prev": n, "data": ...}).
_OUTPUT_OVERHEAD = 40

Node = dict[str, Any]
Edge = dict[str, Any]


def blob_input(output_bytes: int, call_url: str = "") -> dict[str, Any]:
    """The execution input: one string that makes each node's output about ``output_bytes`` bytes, and the
    URL the ``calls`` shape posts to."""
    return {"blob": "x" * max(1, output_bytes - _OUTPUT_OVERHEAD), "route": "left", "call_url": call_url}


def _node(node_id: str, index: int, reads: str | None = None) -> Node:
    output: dict[str, Any] = {"i": index, "data": "{{ input.blob }}"}
    if reads is not None:
        output["prev"] = f"{{{{ nodes.{reads}.i }}}}"
    return {"node_id": node_id, "type": "transform", "config": {"output": output}}


def _edge(source: str, target: str, condition: str | None = None) -> Edge:
    result: Edge = {"source": source, "target": target}
    if condition is not None:
        result["condition"] = condition
    return result


def _workflow(workflow_id: str, nodes: list[Node], edges: list[Edge]) -> dict[str, Any]:
    return {"workflow_id": workflow_id, "name": workflow_id, "nodes": nodes, "edges": edges}


def linear(count: int) -> dict[str, Any]:
    nodes = [_node("n00000", 0)]
    edges: list[Edge] = []
    for index in range(1, count):
        previous = nodes[-1]["node_id"]
        nodes.append(_node(f"n{index:05d}", index, reads=previous))
        edges.append(_edge(previous, nodes[-1]["node_id"]))
    return _workflow(f"linear-{count}", nodes, edges)


def wide(count: int) -> dict[str, Any]:
    if count < 3:
        raise ValueError("a wide workflow needs at least 3 nodes")
    nodes = [_node("root", 0)]
    edges: list[Edge] = []
    for index in range(1, count - 1):
        branch = f"b{index:05d}"
        nodes.append(_node(branch, index))
        edges += [_edge("root", branch), _edge(branch, "join")]
    nodes.append(_node("join", count - 1))
    return _workflow(f"wide-{count}", nodes, edges)


def calls(count: int) -> dict[str, Any]:
    workflow = wide(count)
    for node in workflow["nodes"][1:-1]:
        node.update(
            type="action",
            action_type="api_call",
            config={"url": "{{ input.call_url }}", "method": "POST", "body": node["config"]["output"]},
        )
    workflow["workflow_id"] = workflow["name"] = f"calls-{count}"
    return workflow


_BLOCK = 20


def mixed(count: int) -> dict[str, Any]:
    """Blocks of 20 nodes (see the module docstring); a last partial block is a chain."""
    nodes: list[Node] = []
    edges: list[Edge] = []
    ends: list[str] = []  # what the next node follows (two arm ends after a judgment)
    index = 0

    def add(node_id: str, after: list[str], reads: str | None = None, condition: str | None = None) -> str:
        nonlocal index
        nodes.append(_node(node_id, index, reads=reads))
        edges.extend(_edge(source, node_id, condition) for source in after)
        index += 1
        return node_id

    block = 0
    while count - len(nodes) >= _BLOCK:
        p = f"k{block:04d}"
        last = add(f"{p}c0", ends)
        for step in range(1, 6):
            last = add(f"{p}c{step}", [last], reads=last)
        branch_ends = []
        for branch in range(4):
            first = add(f"{p}f{branch}a", [last])
            branch_ends.append(add(f"{p}f{branch}b", [first], reads=first))
        aggregate = f"{p}agg"
        nodes.append({"node_id": aggregate, "type": "aggregator", "config": {"mode": "object"}})
        edges.extend(_edge(source, aggregate) for source in branch_ends)
        index += 1
        judge = f"{p}judge"
        nodes.append({"node_id": judge, "type": "judgment", "config": {"condition": "{{ input.route }}"}})
        edges.append(_edge(aggregate, judge))
        index += 1
        arms = []
        for arm in ("left", "right"):
            first = f"{p}{arm}0"
            nodes.append(_node(first, index))
            edges.append(_edge(judge, first, arm))
            index += 1
            arms.append(add(f"{p}{arm}1", [first], reads=first))
        ends = arms
        block += 1
    while len(nodes) < count:
        previous = ends[-1] if len(ends) == 1 else None
        node_id = add(f"t{index:05d}", ends, reads=previous)
        ends = [node_id]
    return _workflow(f"mixed-{count}", nodes, edges)


BUILDERS = {"linear": linear, "wide": wide, "mixed": mixed, "calls": calls}


def build(shape: str, count: int) -> dict[str, Any]:
    workflow = BUILDERS[shape](count)
    if len(workflow["nodes"]) != count:
        raise AssertionError(f"{shape}: built {len(workflow['nodes'])} nodes, wanted {count}")
    return workflow
