"""Workflow builders shared by the unit and e2e tests: plain dicts in the DSL users write."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

Node = dict[str, Any]
Edge = dict[str, Any]


def transform(node_id: str, output: Any, label: str | None = None) -> Node:
    node: Node = {"node_id": node_id, "type": "transform", "config": {"output": output}}
    if label is not None:
        node["label"] = label
    return node


def judgment(node_id: str, condition: str) -> Node:
    return {"node_id": node_id, "type": "judgment", "config": {"condition": condition}}


def aggregator(node_id: str, mode: str = "object") -> Node:
    return {"node_id": node_id, "type": "aggregator", "config": {"mode": mode}}


def wait(node_id: str, seconds: float) -> Node:
    return {"node_id": node_id, "type": "wait", "config": {"seconds": seconds}}


def api_call(node_id: str, url: str, method: str = "POST", **config: Any) -> Node:
    node_config: dict[str, Any] = {"url": url, "method": method}
    retry = config.pop("retry", None)
    node_config.update(config)
    node: Node = {"node_id": node_id, "type": "action", "action_type": "api_call", "config": node_config}
    if retry is not None:
        node["retry"] = retry
    return node


def dynamodb_update(
    node_id: str, table: str, key: dict[str, Any], update_expression: str, **config: Any
) -> Node:
    node_config: dict[str, Any] = {
        "table": table,
        "key": key,
        "update_expression": update_expression,
        **config,
    }
    return {"node_id": node_id, "type": "action", "action_type": "dynamodb_update", "config": node_config}


def edge(source: str, target: str, condition: str | None = None) -> Edge:
    result: Edge = {"source": source, "target": target}
    if condition is not None:
        result["condition"] = condition
    return result


def chain_edges(node_ids: list[str]) -> list[Edge]:
    return [edge(a, b) for a, b in pairwise(node_ids)]


def workflow(
    workflow_id: str, nodes: list[Node], edges: list[Edge] | None = None, name: str = ""
) -> dict[str, Any]:
    return {"workflow_id": workflow_id, "name": name or workflow_id, "nodes": nodes, "edges": edges or []}


def linear_workflow(workflow_id: str, length: int) -> dict[str, Any]:
    """A chain of transforms: n0 reads the input, every later node adds one to its predecessor."""
    nodes = [transform("n0", {"value": "{{ input.start }}", "step": 0})]
    for index in range(1, length):
        nodes.append(transform(f"n{index}", {"value": f"{{{{ nodes.n{index - 1}.value }}}}", "step": index}))
    return workflow(workflow_id, nodes, chain_edges([n["node_id"] for n in nodes]))


def fan_out_workflow(workflow_id: str, branches: list[Node], join: Node | None = None) -> dict[str, Any]:
    """start -> every branch node -> join (an aggregator unless given)."""
    join = join or aggregator("join")
    nodes = [transform("start", {"started": True}), *branches, join]
    edges = [edge("start", b["node_id"]) for b in branches] + [
        edge(b["node_id"], join["node_id"]) for b in branches
    ]
    return workflow(workflow_id, nodes, edges)


def large_workflow(
    workflow_id: str,
    node_count: int,
    fan_outs: int = 4,
    fan_width: int = 3,
    big_nodes: list[Node] | None = None,
) -> dict[str, Any]:
    """A chain of ``node_count`` nodes with a few fan-outs (``fan_width`` branches joined by an aggregator).

    ``big_nodes`` are spliced into the chain near the start; a reader node after them reads each one's output.
    """
    big_nodes = list(big_nodes or [])
    nodes: list[Node] = []
    edges: list[Edge] = []
    previous: str | None = None

    def add(node: Node) -> None:
        nonlocal previous
        nodes.append(node)
        if previous is not None:
            edges.append(edge(previous, node["node_id"]))
        previous = node["node_id"]

    add(transform("c00000", {"position": 0}))
    for node in big_nodes:
        add(node)
    if big_nodes:
        reads = {n["node_id"]: f"{{{{ length(to_string(nodes.{n['node_id']})) }}}}" for n in big_nodes}
        add(transform("read_big", reads))
    fan_every = max(1, node_count // (fan_outs + 1))
    fans_done = 0
    counter = 1
    while len(nodes) < node_count:
        remaining = node_count - len(nodes)
        if fans_done < fan_outs and counter % fan_every == 0 and remaining > fan_width + 1:
            assert previous is not None
            fork = previous
            join_id = f"join{fans_done}"
            for branch in range(fan_width):
                branch_id = f"f{fans_done}b{branch}"
                nodes.append(transform(branch_id, {"branch": branch, "fan": fans_done}))
                edges.append(edge(fork, branch_id))
                edges.append(edge(branch_id, join_id))
            nodes.append(aggregator(join_id))
            previous = join_id
            fans_done += 1
        else:
            add(transform(f"c{counter:05d}", {"position": counter}))
        counter += 1
    return workflow(workflow_id, nodes, edges)


def deploy_model(node_id: str, model_id: str, version: Any, environment: str, **config: Any) -> Node:
    node_config: dict[str, Any] = {
        "model_id": model_id,
        "version": version,
        "environment": environment,
        "poll_interval_seconds": 1,
        **config,
    }
    return {"node_id": node_id, "type": "deploy", "target_type": "model", "config": node_config}


def approval(node_id: str, message: str, **config: Any) -> Node:
    return {"node_id": node_id, "type": "approval", "config": {"message": message, **config}}


def subflow(nodes: list[Node], edges: list[Edge] | None = None) -> dict[str, Any]:
    return {"nodes": nodes, "edges": edges or []}


def for_each(node_id: str, items: Any, flow: dict[str, Any], **config: Any) -> Node:
    return {"node_id": node_id, "type": "for_each", "config": {"items": items, "flow": flow, **config}}


def loop(node_id: str, flow: dict[str, Any], until: str, max_iterations: int, **config: Any) -> Node:
    node_config = {"flow": flow, "until": until, "max_iterations": max_iterations, **config}
    return {"node_id": node_id, "type": "loop", "config": node_config}


def llm_chat(node_id: str, model: str, **config: Any) -> Node:
    return {"node_id": node_id, "type": "llm_chat", "config": {"model": model, **config}}


def data_query(node_id: str, source: str, **config: Any) -> Node:
    retry = config.pop("retry", None)
    node: Node = {"node_id": node_id, "type": "data_query", "config": {"source": source, **config}}
    if retry is not None:
        node["retry"] = retry
    return node


def notification(node_id: str, channel: str, message: str, **config: Any) -> Node:
    retry = config.pop("retry", None)
    node_config = {"channel": channel, "message": message, **config}
    node: Node = {"node_id": node_id, "type": "notification", "config": node_config}
    if retry is not None:
        node["retry"] = retry
    return node
