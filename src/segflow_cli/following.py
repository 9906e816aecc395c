"""Following an execution to its end, by polling the management API or over the WebSocket API, then its
outcome."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from segflow.domain.ids import execution_id_of
from segflow.domain.statuses import TERMINAL_EXECUTION_STATUSES

from segflow_cli.api_client import TOKEN_ENV
from segflow_cli.common import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, CliError
from segflow_cli.live import LiveError, LiveEvents, LiveView, local_url, signed_url, token_url
from segflow_cli.locate import LocatedStack, region_of
from segflow_cli.reads import ExecutionReader
from segflow_cli.rendering.executions import failure_lines, outcome_line
from segflow_cli.rendering.nodes import NodeView
from segflow_cli.rendering.progress import Progress, glyphs_for, progress_for
from segflow_cli.rendering.text import emit, emit_json, warn

POLL_SECONDS = 0.25


def execution_result(reader: ExecutionReader, arn: str, description: dict[str, Any]) -> dict[str, Any]:
    """``{execution_arn, status, output}``, plus ``error`` and ``cause`` when it did not succeed."""
    status = description["status"]
    result: dict[str, Any] = {"execution_arn": arn, "status": status, "output": None}
    if status == "SUCCEEDED":
        result["output"] = reader.output(arn)
    elif status in TERMINAL_EXECUTION_STATUSES:
        result["error"] = description.get("error")
        result["cause"] = description.get("cause")
    return result


def poll(
    reader: ExecutionReader,
    arn: str,
    workflow: dict[str, Any],
    progress: Progress,
    timeout_seconds: float | None,
) -> tuple[dict[str, Any], list[NodeView]]:
    """Poll the execution and its nodes until it ends (or the timeout passes); returns the last of each."""
    deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
    try:
        while True:
            polled_at = time.monotonic()
            state = reader.state(arn)  # its node records are read after its status: all shown once it ended
            description, views = state.description, reader.node_views(state, workflow)
            progress.update(views)
            if state.finished or (deadline is not None and time.monotonic() >= deadline):
                return description, views
            time.sleep(max(0.0, POLL_SECONDS - (time.monotonic() - polled_at)))
    finally:
        progress.finish()


def socket_url(stack: LocatedStack, tenant_id: str, arn: str, expires: int = 300) -> str:
    """The WebSocket API's URL for this caller: the local gateway's with the tenant, with ``$SEGFLOW_TOKEN``
    (a JWT: ``auth=jwt`` deployments) in its query, or SigV4-presigned."""
    url = stack.resources.websocket_url
    if not url:
        raise CliError(f"{stack.description} has no live-events WebSocket API (deployed before it?)")
    if stack.endpoint:
        return local_url(url, tenant_id)
    token = os.environ.get(TOKEN_ENV)
    if token:
        return token_url(url, token)
    return signed_url(url, stack.session, region_of(arn), expires)


def live_events(stack: LocatedStack, tenant_id: str, arn: str, since_seq: int = 0) -> LiveEvents:
    """The execution's events from the stack's WebSocket API (a fresh signature for every reconnect)."""
    socket_url(stack, tenant_id, arn)  # fails now, not on the first connect, if there is no socket
    return LiveEvents(lambda: socket_url(stack, tenant_id, arn), execution_id_of(arn), since_seq)


def watch_live(
    reader: ExecutionReader,
    stack: LocatedStack,
    arn: str,
    workflow: dict[str, Any],
    progress: Progress,
    timeout_seconds: float | None,
) -> tuple[dict[str, Any], list[NodeView]]:
    """Follow the execution's events over the WebSocket until its terminal event (or the timeout)."""
    deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
    view = LiveView(workflow)
    try:
        for event in live_events(stack, reader.tenant_id, arn):
            view.apply(event)
            progress.update(view.views())
            if deadline is not None and time.monotonic() >= deadline:
                break
    except LiveError as error:
        raise CliError(str(error)) from None
    finally:
        progress.finish()
    return reader.describe(arn), view.views()


def report_run(
    reader: ExecutionReader,
    arn: str,
    description: dict[str, Any],
    views: list[NodeView],
    timeout_seconds: float | None = None,
) -> int:
    status = description["status"]
    if status not in TERMINAL_EXECUTION_STATUSES:
        waited = f" after {timeout_seconds:g} s" if timeout_seconds else ""
        emit(f"still {status}{waited}; it keeps running: segflow status {arn}")
        return EXIT_FAILED
    emit(outcome_line(description, views, glyphs_for(sys.stdout).separator))
    result = execution_result(reader, arn, description)
    if status == "SUCCEEDED":
        emit_json(result["output"])
        return EXIT_OK
    for line in failure_lines(result):
        warn(line)
    return EXIT_FAILED


def follow(
    reader: ExecutionReader,
    arn: str,
    workflow: dict[str, Any],
    timeout_seconds: float | None,
    stack: LocatedStack | None = None,
) -> int:
    """Live progress until the execution ends, then its outcome: from the WebSocket when ``stack`` is
    given (``--watch``, ``segflow watch``), else by polling the management API."""
    try:
        progress = progress_for(sys.stdout)
        if stack is not None:
            description, views = watch_live(reader, stack, arn, workflow, progress, timeout_seconds)
        else:
            description, views = poll(reader, arn, workflow, progress, timeout_seconds)
    except KeyboardInterrupt:
        warn(f"\ndetached; the execution keeps running: segflow status {arn}")
        return EXIT_INTERRUPTED
    return report_run(reader, arn, description, views, timeout_seconds)


def run_quietly(
    reader: ExecutionReader, arn: str, timeout_seconds: float | None, extra: dict[str, Any] | None = None
) -> int:
    """``--json``: no progress, one JSON object once the execution ends (or the timeout passes)."""
    try:
        description = reader.wait(arn, timeout_seconds=timeout_seconds or float("inf"))
    except TimeoutError:
        description = reader.describe(arn)
    emit_json({**execution_result(reader, arn, description), **(extra or {})})
    return EXIT_OK if description["status"] == "SUCCEEDED" else EXIT_FAILED
