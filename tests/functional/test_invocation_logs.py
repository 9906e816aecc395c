"""Each invocation logs under its own function name and request id, also when the local runtime runs several
invocations of different functions at once in one process (in Lambda, a sandbox runs one at a time)."""

from __future__ import annotations

import importlib
import json
import logging
import threading
from collections import defaultdict
from typing import Any

import pytest
from aws_lambda_powertools import Logger
from segflow.declaration import ADVANCE_STAGE, EXECUTE_SEGMENT

from segflow_local.embedded import EmbeddedAws
from segflow_local.lambda_invocation import local_function_name

pytestmark = pytest.mark.e2e

PER_FUNCTION = 4


class AllInFlight(logging.Handler):
    """Keeps the lines of the named threads, formatted as powertools formats them, but only once every one of
    those threads has logged: by then every invocation has set up its log context, so a context shared between
    invocations would show the same (last) function and request id in all of them."""

    def __init__(self, threads: set[str], loggers: dict[str, Logger]) -> None:
        super().__init__()
        self.threads = threads
        self.loggers = loggers  # the handlers' powertools loggers, by the name they log under
        self.barrier = threading.Barrier(len(threads), timeout=30)
        self.lines: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def handle(self, record: logging.LogRecord) -> bool:  # without the handler's lock: threads meet in emit
        self.emit(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        # The runtime runs each handler in a thread of its own, named after the invoking thread.
        owner = (record.threadName or "").split("/", 1)[0]
        if owner not in self.threads:
            return
        with self._lock:
            first = owner not in self._seen
            self._seen.add(owner)
        if first:
            self.barrier.wait()
        line = json.loads(self.loggers[record.name].registered_formatter.format(record))
        with self._lock:
            self.lines[owner].append(line)


def test_concurrent_invocations_of_two_functions_each_log_their_own_function_and_request_id(
    embedded: EmbeddedAws,
) -> None:
    runtime = embedded.runtime
    specs = (EXECUTE_SEGMENT, ADVANCE_STAGE)
    functions = [local_function_name(runtime.stage, spec) for spec in specs]
    # (Each handler module's logger is named after the service as the environment said when it was imported.)
    loggers = {
        logger.name: logger
        for logger in (importlib.import_module(spec.handler.rpartition(".")[0]).logger for spec in specs)
    }
    # Each thread invokes one function once; an empty event fails validation, which the handler logs.
    threads = {f"invoke-{i}-{n}": name for n, name in enumerate(functions) for i in range(PER_FUNCTION)}
    capture = AllInFlight(set(threads), loggers)
    for name in loggers:
        logging.getLogger(name).addHandler(capture)
    try:
        workers = [
            threading.Thread(target=runtime.invoke, args=(name, b"{}"), name=thread)
            for thread, name in threads.items()
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=60)
    finally:
        for name in loggers:
            logging.getLogger(name).removeHandler(capture)

    assert set(capture.lines) == set(threads), "every invocation logged"
    request_ids = set()
    for thread, function_name in threads.items():
        lines = capture.lines[thread]
        assert {line["function_name"] for line in lines} == {function_name}
        assert {line["function_arn"].rsplit(":", 1)[-1] for line in lines} == {function_name}
        ids = {line["function_request_id"] for line in lines}
        assert len(ids) == 1, f"{thread}: one invocation, one request id: {ids}"
        request_ids |= ids
    assert len(request_ids) == len(threads), "each invocation has its own request id"
