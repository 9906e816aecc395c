"""Fault injection for the worker-process runtime: kill the handler process at a chosen AWS call.

``SEGFLOW_LOCAL_FAULTS`` names a JSON file: ``{"kills": [{"id": …, "operation": "TransactWriteItems",
"when": "before" | "after", "contains": ["…"]}]}``. In a worker, the first AWS call whose operation matches
and whose request body contains every ``contains`` string gets its process SIGKILLed, before the request is
sent or after its answer arrived. Each kill fires once: a ``<id>`` file in the ``<plan>.fired`` directory
records it, for the worker's successors and for the test that reads which kills happened.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any, Literal

import botocore.handlers
from pydantic import BaseModel, ConfigDict

FAULTS_ENV = "SEGFLOW_LOCAL_FAULTS"
_CONTEXT_KEY = "segflow_kill_after"


class KillPoint(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    operation: str
    when: Literal["before", "after"]
    contains: list[str] = []


class FaultPlan(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kills: list[KillPoint]


def fired_dir(plan_path: Path) -> Path:
    return plan_path.with_name(plan_path.name + ".fired")


class _Injector:
    def __init__(self, plan_path: Path) -> None:
        self.plan = FaultPlan.model_validate_json(plan_path.read_text())
        self.fired = fired_dir(plan_path)
        self.fired.mkdir(exist_ok=True)

    def _matching(self, operation: str, body: bytes, when: str) -> KillPoint | None:
        text = body.decode("utf-8", errors="replace")
        for point in self.plan.kills:
            wanted = point.operation == operation and point.when == when
            if wanted and all(s in text for s in point.contains) and not (self.fired / point.id).exists():
                return point
        return None

    def _kill(self, point: KillPoint) -> None:
        try:
            with open(self.fired / point.id, "x") as marker:
                marker.write(str(os.getpid()))
        except FileExistsError:  # another worker fired it first
            return
        os.kill(os.getpid(), signal.SIGKILL)

    def before_call(self, model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        body = params.get("body") or b""
        if isinstance(body, str):
            body = body.encode()
        elif not isinstance(body, bytes):  # a stream (S3 uploads): nothing to match in
            body = b""
        point = self._matching(model.name, body, "before")
        if point is not None:
            self._kill(point)
        after = self._matching(model.name, body, "after")
        if after is not None:
            context[_CONTEXT_KEY] = after

    def after_call(self, context: dict[str, Any], **_: Any) -> None:
        point = context.get(_CONTEXT_KEY)
        if point is not None:
            self._kill(point)


def install_from_environment() -> None:
    """Register the kill points of ``$SEGFLOW_LOCAL_FAULTS`` for every boto3 client made afterwards."""
    plan = os.environ.get(FAULTS_ENV)
    if not plan:
        return
    injector = _Injector(Path(plan))
    botocore.handlers.BUILTIN_HANDLERS.append(("before-call", injector.before_call))
    botocore.handlers.BUILTIN_HANDLERS.append(("after-call", injector.after_call))


def fired(plan_path: Path) -> list[str]:
    """The ids of the kills that happened."""
    directory = fired_dir(plan_path)
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def write_plan(plan_path: Path, kills: list[KillPoint]) -> None:
    plan_path.write_text(json.dumps(FaultPlan(kills=kills).model_dump()))
