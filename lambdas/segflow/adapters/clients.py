"""boto3 clients, built once per process and shared across threads (the local runtime runs handlers
concurrently in one process; Lambda reuses them across warm invocations)."""

from __future__ import annotations

import threading
from functools import cache
from typing import Any

import boto3
from botocore.config import Config

_lock = threading.Lock()
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=50)


@cache
def _client(service: str, endpoint_url: str | None) -> Any:
    return boto3.session.Session().client(service, config=_CONFIG, endpoint_url=endpoint_url)


def client(service: str, endpoint_url: str | None = None) -> Any:
    with _lock:
        return _client(service, endpoint_url)


def reset_clients() -> None:
    """Forget cached clients (tests that switch endpoints or mocks)."""
    with _lock:
        _client.cache_clear()
