"""boto3 clients, built once per process and shared across threads (the local runtime runs handlers
concurrently in one process; Lambda reuses them across warm invocations)."""

from __future__ import annotations

import threading
from functools import cache
from typing import Any

import boto3
from botocore.config import Config

_lock = threading.Lock()
CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=50)


@cache
def _client(service: str, endpoint_url: str | None) -> Any:
    return boto3.session.Session().client(service, config=CLIENT_CONFIG, endpoint_url=endpoint_url)


def unretried_config(read_timeout: float) -> Config:
    """Calls sent once, waiting ``read_timeout`` for the answer."""
    return Config(
        read_timeout=read_timeout,
        connect_timeout=10,
        retries={"mode": "standard", "max_attempts": 1},
        max_pool_connections=50,
    )


@cache
def _unretried_client(service: str, read_timeout: float) -> Any:
    return boto3.session.Session().client(service, config=unretried_config(read_timeout))


def client(service: str, endpoint_url: str | None = None) -> Any:
    with _lock:
        return _client(service, endpoint_url)


def unretried_client(service: str, read_timeout: float) -> Any:
    """A client whose calls are sent once and wait ``read_timeout`` for the answer: for calls that must not
    be repeated by the SDK (a retried synchronous Lambda invoke would run the function again)."""
    with _lock:
        return _unretried_client(service, read_timeout)
