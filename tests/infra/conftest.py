"""Synthesize the stack once per session, with the same context as cdk.json and the CDK CLI."""

from __future__ import annotations

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


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    pytest.importorskip("aws_cdk", reason="aws-cdk-lib is not installed: pip install the infra pins")
    from segflow_infra.application import build_app

    outdir = tmp_path_factory.mktemp("cdk.out")
    # Synth raises if cdk-nag (registered by build_app) has an unacknowledged finding.
    app, stack = build_app(outdir=str(outdir))
    app.synth()
    template = json.loads((outdir / f"{stack.stack_name}.template.json").read_text())
    return Synth(stack_name=stack.stack_name, outdir=outdir, template=template)


@pytest.fixture(scope="session")
def jwt_synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The same app with JWT authorization (cdk-nag on: synth raises on any unacknowledged finding)."""
    pytest.importorskip("aws_cdk", reason="aws-cdk-lib is not installed: pip install the infra pins")
    from segflow_infra.application import build_app

    outdir = tmp_path_factory.mktemp("cdk.out.jwt")
    app, stack = build_app(context=JWT_CONTEXT, outdir=str(outdir))
    app.synth()
    template = json.loads((outdir / f"{stack.stack_name}.template.json").read_text())
    return Synth(stack_name=stack.stack_name, outdir=outdir, template=template)


@pytest.fixture(scope="session")
def template(synth: Synth) -> Any:
    """aws_cdk.assertions view of the same template (no second synth)."""
    from aws_cdk.assertions import Template

    return Template.from_json(synth.template)
