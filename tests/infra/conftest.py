"""Synthesize the stack once per test run (shared by pytest-xdist workers), with the same context as cdk.json
and the CDK CLI."""

from __future__ import annotations

import fcntl
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "infra"))
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


JWT_CONTEXT = {
    "auth": "jwt",
    "jwt_issuer": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Example",
    "jwt_audience": "segflow-cli, segflow-console",
    "tenant_claim": "custom:tenant_id",
}


@dataclass(frozen=True)
class Synth:
    stack_name: str
    outdir: Path
    template: dict[str, Any]

    @property
    def resources(self) -> dict[str, Any]:
        return self.template["Resources"]

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {key: value for key, value in self.resources.items() if value["Type"] == resource_type}


def _synthesized(
    tmp_path_factory: pytest.TempPathFactory, name: str, context: dict[str, Any] | None
) -> Synth:
    """The app synthesized once per test run: under pytest-xdist the first worker that needs it synthesizes
    into the run's folder (above each worker's own) while the others wait for it, then all read it."""
    pytest.importorskip("aws_cdk", reason="aws-cdk-lib is not installed: pip install the infra pins")
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    outdir = root / name
    done = root / f"{name}.json"
    with open(root / f"{name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not done.exists():
                from segflow_infra.application import build_app

                # Synth raises if cdk-nag (registered by build_app) has an unacknowledged finding.
                app, stack = build_app(**({"context": context} if context else {}), outdir=str(outdir))
                app.synth()
                done.write_text(json.dumps({"stack_name": stack.stack_name}))
            stack_name = json.loads(done.read_text())["stack_name"]
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    template = json.loads((outdir / f"{stack_name}.template.json").read_text())
    return Synth(stack_name=stack_name, outdir=outdir, template=template)


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return _synthesized(tmp_path_factory, "cdk.out", None)


@pytest.fixture(scope="session")
def jwt_synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The same app with JWT authorization (cdk-nag on: synth raises on any unacknowledged finding)."""
    return _synthesized(tmp_path_factory, "cdk.out.jwt", JWT_CONTEXT)


@pytest.fixture(scope="session")
def template(synth: Synth) -> Any:
    """aws_cdk.assertions view of the same template (no second synth)."""
    from aws_cdk.assertions import Template

    return Template.from_json(synth.template)
