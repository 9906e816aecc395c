"""`make demo`: start the embedded local AWS, run example workflows with live progress, stop it again.

Everything runs on this machine: moto executes segflow's real ASL and dispatches every Lambda task to the
real handlers. No AWS account, no Docker.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from segflow.contexts import as_contexts

from segflow_local.example_data import EXAMPLE_USER_RESOURCES

REPO = Path(__file__).resolve().parents[1]
SEGFLOW = str(Path(sys.executable).with_name("segflow"))
DEMO_EXAMPLES = ("order_review", "fan_out_fan_in")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_healthy(endpoint: str, server: subprocess.Popen[bytes], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"segflow local up exited with {server.returncode}")
        try:
            with urllib.request.urlopen(f"{endpoint}/_segflow/health", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"the local endpoint did not come up within {timeout:.0f}s")


def example_input_file(name: str, endpoint: str) -> str:
    example_input = json.loads((REPO / "examples" / f"{name}.input.json").read_text())
    if "api_url" in example_input:
        example_input["api_url"] = f"{endpoint}/_segflow/echo"
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(example_input, handle)
    return handle.name


def run_example(name: str, endpoint: str) -> int:
    workflow = REPO / "examples" / f"{name}.json"
    input_file = example_input_file(name, endpoint)
    print(f"\n=== {name}: {json.loads(workflow.read_text()).get('name', name)}", flush=True)
    try:
        command = [SEGFLOW, "run", str(workflow), "--input-file", input_file, "--endpoint", endpoint]
        return subprocess.call(command)
    finally:
        os.unlink(input_file)


def run_rollback_story(endpoint: str) -> int:
    """Publish the canary example twice; its run as v2 fails the canary and rolls itself back to v1."""
    workflow = REPO / "examples" / "canary_rollback.json"
    workflow_id = json.loads(workflow.read_text())["workflow_id"]
    input_file = example_input_file("canary_rollback", endpoint)
    print("\n=== canary_rollback: versions, and a rollback node restoring the previous version", flush=True)
    steps = [
        ["publish", str(workflow), "-m", "stable release"],
        ["publish", str(workflow), "-m", "release under canary"],
        ["run", workflow_id, "--input-file", input_file],
        ["versions", workflow_id],
    ]
    try:
        for step in steps:
            print(f"$ segflow {' '.join(step)}", flush=True)
            code = subprocess.call([SEGFLOW, *step, "--endpoint", endpoint])
            if code != 0:
                return code
        return 0
    finally:
        os.unlink(input_file)


def main() -> int:
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    print(f"Starting the embedded local AWS on {endpoint} …", flush=True)
    log = open(REPO / ".segflow-demo-server.log", "w")  # noqa: SIM115 (kept open for the server's lifetime)
    # The examples' own tables, bucket, topic and function, named as `cdk deploy -c …` would name them.
    contexts = [arg for pair in as_contexts(EXAMPLE_USER_RESOURCES) for arg in ("-c", pair)]
    server = subprocess.Popen(
        [SEGFLOW, "local", "up", "--port", str(port), *contexts], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        wait_until_healthy(endpoint, server)
        # order_review reads its order from a table of the user's: create it (and the other examples' data)
        seed = [sys.executable, "-m", "segflow_local.example_data", "--endpoint", endpoint]
        subprocess.check_call(seed, stdout=subprocess.DEVNULL)
        failures = [name for name in DEMO_EXAMPLES if run_example(name, endpoint) != 0]
        if run_rollback_story(endpoint) != 0:
            failures.append("canary_rollback")
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
    if failures:
        print(f"\ndemo failed: {', '.join(failures)} (server log: .segflow-demo-server.log)")
        return 1
    print("\nDemo finished: every workflow ran through the real state machine and handlers.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
