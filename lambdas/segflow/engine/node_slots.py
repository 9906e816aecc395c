"""Per node type concurrency within one invocation: a node of a type with a ``max_concurrency`` starts only
with one of its type's slots, which the segments of a batch share (one semaphore per type)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from segflow.nodes.base import NodeType

# How often a segment waiting for a slot checks whether it may still wait.
_POLL_SECONDS = 0.2


class NodeSlots:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._semaphores: dict[str, threading.BoundedSemaphore] = {}

    def _semaphore(self, node_type: NodeType, limit: int) -> threading.BoundedSemaphore:
        with self._lock:
            if node_type.key not in self._semaphores:
                self._semaphores[node_type.key] = threading.BoundedSemaphore(limit)
            return self._semaphores[node_type.key]

    @contextmanager
    def slot(self, node_type: NodeType, may_wait: Callable[[], bool]) -> Iterator[bool]:
        """Holds a slot of ``node_type`` while the block runs and yields True; yields False (no slot) once
        none came free while ``may_wait()`` held. A type without a limit always has one."""
        limit = node_type.max_concurrency
        if limit is None:
            yield True
            return
        semaphore = self._semaphore(node_type, limit)
        while not semaphore.acquire(timeout=_POLL_SECONDS):
            if not may_wait():
                yield False
                return
        try:
            yield True
        finally:
            semaphore.release()
