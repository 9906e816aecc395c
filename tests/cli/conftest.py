"""CLI test fixtures: the data files, the installed ``segflow`` command, a ``segflow local up`` process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

DATA_DIR = Path(__file__).parent / "data"
STARTUP_TIMEOUT_SECONDS = 60


def segflow_command() -> list[str]:
    """The installed console script next to this interpreter (the venv's), else the module."""
    script = Path(sys.executable).with_name("segflow")
    return [str(script)] if script.exists() else [sys.executable, "-m", "segflow_cli.main"]


def subprocess_env(**extra: str) -> dict[str, str]:
    """This environment without anything that would point the child at another endpoint."""
    dropped = ("AWS_ENDPOINT_URL", "SEGFLOW_ENDPOINT", "MOTO_PORT")
    env = {key: value for key, value in os.environ.items() if key not in dropped}
    env["PYTHONIOENCODING"] = "utf-8"
    env.update(extra)
    return env


def run_segflow(*args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*segflow_command(), *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
        env=subprocess_env(**env),
        check=False,
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LocalEndpoint:
    url: str
    process: subprocess.Popen[str]
    ready_line: str
    startup_seconds: float
    outputs: dict[str, str]

    def client(self, service: str, path: str = "") -> Any:
        """A boto3 client of the endpoint (``path``: under it, as the @connections API is)."""
        config = Config(s3={"addressing_style": "path"}) if service == "s3" else None
        return boto3.session.Session(
            aws_access_key_id="ak", aws_secret_access_key="sk", region_name="us-east-1"
        ).client(service, endpoint_url=self.url + path, config=config)


def _get_json(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, None


def wait_for_health(url: str, process: subprocess.Popen[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"segflow local up exited with {process.returncode}")
        try:
            status, body = _get_json(f"{url}/_segflow/health")
            if status == 200 and body and body.get("status") == "ok":
                return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} not healthy after {timeout}s")


def stop_process(process: subprocess.Popen[str], timeout: float = 30) -> None:
    if process.poll() is None:
        process.terminate()  # SIGTERM: the server stops its executions, then itself
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA_DIR


@contextmanager
def start_local_endpoint(stage: str, *extra_args: str, **env: str) -> Iterator[LocalEndpoint]:
    """``segflow local up`` on a free port in its own process, stopped (SIGTERM) on exit."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # stderr goes to a file: a pipe nobody reads could fill up and block the server.
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8") as stderr:
        started = time.monotonic()
        process = subprocess.Popen(
            [*segflow_command(), "local", "up", "--port", str(port), "--stage", stage, *extra_args],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            encoding="utf-8",
            env=subprocess_env(**env),
        )
        try:
            try:
                wait_for_health(url, process, STARTUP_TIMEOUT_SECONDS)
            except (RuntimeError, TimeoutError) as error:
                stderr.seek(0)
                raise RuntimeError(f"{error}\n{stderr.read()}") from error
            startup = time.monotonic() - started
            assert process.stdout is not None
            ready_line = process.stdout.readline().strip()
            _, outputs = _get_json(f"{url}/_segflow/outputs")
            yield LocalEndpoint(url, process, ready_line, startup, outputs)
        finally:
            stop_process(process)


@pytest.fixture(scope="module")
def local_endpoint() -> Iterator[LocalEndpoint]:
    """``segflow local up`` on a free port, in its own process, for the module's tests."""
    with start_local_endpoint("clitest") as endpoint:
        yield endpoint
