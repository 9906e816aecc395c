"""Custom node types: a team adds one by writing a function and a pydantic config model.

.. code-block:: python

    from pydantic import BaseModel
    from segflow.nodes.custom import node_type

    class ScoreConfig(BaseModel):
        amount: float

    @node_type("credit_score", config=ScoreConfig, description="Scores an order's credit risk.")
    def credit_score(config: ScoreConfig, context: NodeContext) -> dict:
        return {"score": 700 - config.amount / 10}

The function gets the node's config (templates rendered, validated by the model) and its
:class:`~segflow.nodes.base.NodeContext`; what it returns (JSON) is the node's output. It fails the node by
raising :class:`~segflow.domain.errors.NodeFailure` with its own ``error_type`` (any other exception fails the
node with the exception's class name). ``"action:<name>"`` declares an ``action`` with
``action_type: <name>``.

The function runs against the node's deadline (its ``timeout_seconds``, within the time its invocation has
left): ``context.deadline.left()`` is the seconds it has left, and
:func:`segflow.domain.deadline.check_deadline` (call it before each request the function sends itself) raises
the node's timeout once it has passed. AWS calls through ``context.services`` are checked and capped already.
Once the deadline passes the node has failed: what the function returns afterwards is discarded, and its
next attempt does not start before the function has returned.

Where registrations come from, so a deployed Lambda imports them too:

- the modules named in ``SEGFLOW_NODE_MODULES`` (comma-separated; the stack sets it from the CDK context
  ``node_modules``; the modules must be inside the Lambda asset, ``lambdas/``);
- the entry point group ``segflow.node_types`` of installed packages (each entry point names a module).
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel

from segflow.domain.errors import NodeFailure
from segflow.nodes import registry
from segflow.nodes.base import NodeContext, NodeResult, NodeType
from segflow.nodes.registry import NodeTypeRegistrationError

_NAME = re.compile(r"(action:)?[a-z][a-z0-9_]{0,63}")

CustomFunction = Callable[[Any, NodeContext], Any]
F = TypeVar("F", bound=CustomFunction)


def _check_declaration(name: str, fn: Any, config: Any, description: str) -> None:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise NodeTypeRegistrationError(
            f"node type name {name!r} must be lower-case letters, digits and '_' (starting with a letter, "
            "up to 64), optionally prefixed 'action:'"
        )
    builtin_types = {key.split(":", 1)[0] for key in registry.BUILTIN_NODE_TYPES}
    if ":" not in name and name in builtin_types:
        raise NodeTypeRegistrationError(f"node type {name!r} is built in; choose another name")
    if not (isinstance(config, type) and issubclass(config, BaseModel)):
        raise NodeTypeRegistrationError(
            f"node type {name!r}: config must be a pydantic model class, not {config!r}"
        )
    if not isinstance(description, str) or not description.strip():
        raise NodeTypeRegistrationError(
            f"node type {name!r}: give a description (editors and the schema show it)"
        )
    if not callable(fn):
        raise NodeTypeRegistrationError(f"node type {name!r}: {fn!r} is not a function")
    try:
        inspect.signature(fn).bind(None, None)
    except TypeError as error:
        raise NodeTypeRegistrationError(
            f"node type {name!r}: {getattr(fn, '__qualname__', fn)} must take (config, context): {error}"
        ) from None


def _executor(name: str, fn: CustomFunction) -> Callable[[NodeContext], NodeResult]:
    def run(context: NodeContext) -> NodeResult:
        result = fn(context.config, context)
        if isinstance(result, NodeResult):
            return result
        try:
            json.dumps(result)
        except (TypeError, ValueError) as error:
            raise NodeFailure(
                f"node type {name!r} returned an output that is not JSON: {error}", "InvalidOutput"
            ) from error
        return NodeResult(output=result)

    return run


def node_type(
    name: str,
    *,
    config: type[BaseModel],
    description: str,
    pure: bool = False,
    max_concurrency: int | None = None,
) -> Callable[[F], F]:
    """Register the decorated function as node type ``name`` (``"action:<name>"`` for an action subtype).

    ``pure``: the function has no side effects, so re-running it after a crash is harmless.
    ``max_concurrency``: how many nodes of the type one invocation runs at once, when a batch runs many of a
    stage's segments together (None: as many as the batch runs)."""
    if max_concurrency is not None and max_concurrency < 1:
        raise NodeTypeRegistrationError(f"node type {name!r}: max_concurrency must be at least 1")

    def register(fn: F) -> F:
        _check_declaration(name, fn, config, description)
        type_name, _, subtype = name.rpartition(":") if ":" in name else (name, "", "")
        declared = NodeType(
            type=type_name,
            subtype=subtype or None,
            subtype_field="action_type" if subtype else None,
            config_model=config,
            description=description.strip(),
            executor=_executor(name, fn),
            pure=pure,
            max_concurrency=max_concurrency,
        )
        registry.register(declared, origin=f"{fn.__module__}.{fn.__qualname__}")
        return fn

    return register
