"""Which deployed function's handler this thread is running: the calls it makes are that function's.

Lambda gives each invocation a sandbox of its own; the local runtime runs handlers on shared threads, next to
the test or CLI that drives them and the emulator's own threads. A context variable set around each handler
call tells a handler's AWS calls from everyone else's (fault injection hits only the former). Threads the
handler's executors start inherit it (a for_each's items, a node's timeout guard, parallel S3 writes):
``ThreadPoolExecutor.submit`` carries the submitter's context into the task while a handler is running.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

_current_function: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "segflow_local_current_function", default=None
)
_patch_lock = threading.Lock()
_patched = False


def current_function() -> str | None:
    """The deployed name of the function whose handler this thread runs, or None (not a handler's call)."""
    return _current_function.get()


@contextmanager
def running(function_name: str) -> Iterator[None]:
    """Mark the calls made inside (and in the thread pools it submits to) as ``function_name``'s."""
    _propagate_into_thread_pools()
    token = _current_function.set(function_name)
    try:
        yield
    finally:
        _current_function.reset(token)


def _propagate_into_thread_pools() -> None:
    global _patched
    with _patch_lock:
        if _patched:
            return
        original = ThreadPoolExecutor.submit

        def submit(self: ThreadPoolExecutor, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
            if _current_function.get() is None:
                return original(self, fn, *args, **kwargs)
            return original(self, contextvars.copy_context().run, fn, *args, **kwargs)

        ThreadPoolExecutor.submit = submit  # type: ignore[method-assign]
        _patched = True
