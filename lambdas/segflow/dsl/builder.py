"""Workflows written in Python: a small typed builder that writes the DSL's JSON, checked by the same
validation.

::

    from segflow.dsl.builder import Retry, Workflow, expr

    wf = Workflow("order-review", name="Order review")
    load = wf.transform("load", {"amount": expr("sum(input.lines[].amount)")})
    assess = wf.judgment("assess", expr(f"{load.ref('amount')} > `500`"))
    escalate = wf.action("escalate", "api_call", url="https://example.com/r", retry=Retry(max_attempts=2))
    approve = wf.transform("approve", {"approved": True})
    load >> assess
    assess.when("true") >> escalate
    assess.when("false") >> approve
    wf.validate()          # the graph, or WorkflowValidationError listing every problem
    wf.to_json()           # what `segflow validate` / `segflow run` read

``node.ref("a.b")`` is ``nodes.<id>.a.b`` with the id quoted when it needs to be; ``expr`` wraps an expression
in ``{{ }}``. Sub-flows (``for_each``, ``loop``) are :class:`Flow` objects built the same way.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field
from typing import Any

from segflow.dsl.graph import WorkflowGraph
from segflow.dsl.models import RetryPolicy

_PLAIN_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def Retry(**fields: Any) -> RetryPolicy:
    """A retry policy; only the fields given are written (the rest keep their defaults)."""
    return RetryPolicy(**fields)


def expr(expression: str) -> str:
    """``{{ expression }}``: a template (JMESPath) rendered when the node runs."""
    return "{{ " + expression + " }}"


def node_path(node_id: str, path: str = "") -> str:
    """``nodes.<id>[.path]`` as an expression, quoting an id JMESPath would not read bare (``my-node``)."""
    name = node_id if _PLAIN_ID.match(node_id) else json.dumps(node_id)
    if not path:
        return f"nodes.{name}"
    return f"nodes.{name}{path if path.startswith('[') else '.' + path}"


@dataclass(frozen=True)
class Arm:
    """A judgment's outgoing arm: ``judgment.when("true") >> target``."""

    source: Node
    condition: str

    def __rshift__(self, target: Node) -> Node:
        self.source.graph.edge(self.source, target, self.condition)
        return target


@dataclass(eq=False)
class Node:
    """A node added to a workflow or flow; ``a >> b`` adds the edge a -> b and returns b."""

    graph: _Graph
    node_id: str
    type: str
    config: dict[str, Any]
    subtype_field: str | None = None
    subtype: str | None = None
    label: str | None = None
    retry: RetryPolicy | None = None
    timeout_seconds: float | None = None

    def __rshift__(self, target: Node) -> Node:
        self.graph.edge(self, target)
        return target

    def when(self, condition: str) -> Arm:
        """The arm of this judgment taken for ``condition`` ('true', 'false', a label or 'default')."""
        return Arm(self, condition)

    def ref(self, path: str = "") -> str:
        """The expression reading this node's output (or ``path`` in it): use inside :func:`expr`."""
        return node_path(self.node_id, path)

    def template(self, path: str = "") -> str:
        """``{{ nodes.<id>.path }}``: the whole value of this node's output (or of ``path`` in it)."""
        return expr(self.ref(path))

    def to_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = {"node_id": self.node_id, "type": self.type}
        if self.subtype_field is not None:
            document[self.subtype_field] = self.subtype
        if self.label is not None:
            document["label"] = self.label
        document["config"] = {key: _json(value) for key, value in self.config.items()}
        if self.retry is not None:
            document["retry"] = self.retry.model_dump(exclude_unset=True)
        if self.timeout_seconds is not None:
            document["timeout_seconds"] = self.timeout_seconds
        return document


def _json(value: Any) -> Any:
    """Config values as JSON: flows become ``{nodes, edges}``, nested lists and objects are copied."""
    if isinstance(value, Flow):
        return value.to_dict()
    if isinstance(value, dict):
        return {key: _json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json(item) for item in value]
    return value


@dataclass
class _Graph:
    nodes: list[Node] = field(default_factory=list)
    edges: list[dict[str, str]] = field(default_factory=list)

    def node(
        self,
        node_id: str,
        type: str,
        *,
        action_type: str | None = None,
        target_type: str | None = None,
        label: str | None = None,
        retry: RetryPolicy | None = None,
        timeout_seconds: float | None = None,
        config: dict[str, Any] | None = None,
        **fields: Any,
    ) -> Node:
        """Any node type, custom ones included. Its config is ``fields`` (keyword arguments) and ``config``:
        ``label``, ``retry`` and ``timeout_seconds`` are the node's own, so a config field of the same name
        (api_call's ``timeout_seconds``) goes in ``config={...}``."""
        config = {**(config or {}), **fields}
        subtype_field, subtype = (
            ("action_type", action_type)
            if action_type is not None
            else ("target_type", target_type)
            if target_type is not None
            else (None, None)
        )
        node = Node(self, node_id, type, config, subtype_field, subtype, label, retry, timeout_seconds)
        self.nodes.append(node)
        return node

    def edge(self, source: Node, target: Node, condition: str | None = None) -> None:
        edge = {"source": source.node_id, "target": target.node_id}
        if condition is not None:
            edge["condition"] = condition
        self.edges.append(edge)

    def chain(self, *nodes: Node) -> Node:
        """Edges a -> b -> c ...; returns the last node."""
        for source, target in itertools.pairwise(nodes):
            self.edge(source, target)
        return nodes[-1]

    # -- the built-in types, with their config as keyword arguments --------------------------------------

    def transform(self, node_id: str, output: Any, **options: Any) -> Node:
        return self.node(node_id, "transform", output=output, **options)

    def judgment(self, node_id: str, condition: str, **options: Any) -> Node:
        return self.node(node_id, "judgment", condition=condition, **options)

    def aggregator(self, node_id: str, **options: Any) -> Node:
        return self.node(node_id, "aggregator", **options)

    def wait(self, node_id: str, seconds: float | str, **options: Any) -> Node:
        return self.node(node_id, "wait", seconds=seconds, **options)

    def action(self, node_id: str, action_type: str, **options: Any) -> Node:
        """``action`` nodes: api_call, dynamodb_update, lambda_invoke."""
        return self.node(node_id, "action", action_type=action_type, **options)

    def data_query(self, node_id: str, source: str, **options: Any) -> Node:
        return self.node(node_id, "data_query", source=source, **options)

    def notification(self, node_id: str, channel: str, **options: Any) -> Node:
        return self.node(node_id, "notification", channel=channel, **options)

    def for_each(self, node_id: str, items: Any, flow: Flow, **options: Any) -> Node:
        return self.node(node_id, "for_each", items=items, flow=flow, **options)

    def loop(self, node_id: str, flow: Flow, until: str, max_iterations: int, **options: Any) -> Node:
        return self.node(node_id, "loop", flow=flow, until=until, max_iterations=max_iterations, **options)


@dataclass
class Flow(_Graph):
    """A sub-flow: the ``{nodes, edges}`` a ``for_each`` runs per item and a ``loop`` per iteration."""

    def to_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = {"nodes": [node.to_dict() for node in self.nodes]}
        if self.edges:
            document["edges"] = [dict(edge) for edge in self.edges]
        return document


@dataclass
class Workflow(_Graph):
    """A workflow: ``to_dict()``/``to_json()`` write the DSL's document, ``validate()`` checks it."""

    workflow_id: str = ""
    name: str | None = None
    description: str | None = None

    def __init__(self, workflow_id: str, name: str | None = None, description: str | None = None) -> None:
        super().__init__()
        self.workflow_id, self.name, self.description = workflow_id, name, description

    def to_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = {"workflow_id": self.workflow_id}
        if self.name is not None:
            document["name"] = self.name
        if self.description is not None:
            document["description"] = self.description
        document["nodes"] = [node.to_dict() for node in self.nodes]
        document["edges"] = [dict(edge) for edge in self.edges]
        return document

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def validate(self) -> WorkflowGraph:
        """The same validation as ``segflow validate`` and the API; raises WorkflowValidationError."""
        from segflow.dsl.validation import validate_workflow

        return validate_workflow(self.to_dict())
