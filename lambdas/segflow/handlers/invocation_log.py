"""Each invocation's own log context: every line a handler logs names its function and request id.

powertools' ``inject_lambda_context`` keeps them in the logger's shared keys: right in Lambda, where a sandbox
runs one invocation at a time, wrong where one process runs several at once (the local runtime's thread mode),
since every line then carries whichever invocation set them last. Here they are powertools' thread-safe keys
(a context variable): each thread logs its own invocation's, and so do the threads a handler starts with its
context (``run_executor``, ``for_each``).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.lambda_context import build_lambda_context_model

Handler = Callable[[dict[str, Any], Any], Any]

_lock = threading.Lock()
_started: set[str] = set()  # the functions this process has run an invocation of


def _cold_start(function_name: str) -> bool:
    """The first invocation of the function in this process (in Lambda: in its sandbox)."""
    with _lock:
        cold = function_name not in _started
        _started.add(function_name)
    return cold


def invocation_log_context(logger: Logger) -> Callable[[Handler], Handler]:
    """Decorates a handler: what ``inject_lambda_context(clear_state=True)`` logs (function name, memory, ARN,
    request id, cold start), for this invocation's lines only."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        def wrapper(event: dict[str, Any], context: Any) -> Any:
            keys = build_lambda_context_model(context).__dict__
            logger.thread_safe_clear_keys()
            logger.thread_safe_append_keys(cold_start=_cold_start(keys["function_name"]), **keys)
            try:
                return handler(event, context)
            finally:
                logger.thread_safe_clear_keys()

        return wrapper

    return decorate
