"""cdk-nag, cfn-lint and asl-validator; stage handling."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from segflow_infra.paths import REPO_ROOT

pytestmark = pytest.mark.infra

ASL_FILES = sorted((REPO_ROOT / "asl").glob("*.json"))


def test_nag_reports_no_unacknowledged_finding(synth: Any) -> None:
    # The session synth already raised on any; the report it wrote must be clean too.
    report = json.loads((synth.outdir / "validation-report.json").read_text())
    assert [plugin for plugin in report["pluginReports"] if plugin["conclusion"] != "success"] == []


def _findings(outdir: Path) -> set[tuple[str, str]]:
    report = json.loads((outdir / "validation-report.json").read_text())
    return {
        (construct["constructPath"], violation["ruleName"])
        for plugin in report["pluginReports"]
        for violation in plugin["violations"]
        for construct in violation["violatingConstructs"]
    }


def test_every_acknowledgement_matches_a_finding_and_has_a_specific_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Synthesize again with acknowledgements recorded instead of applied: they must cover the findings
    one for one, so none is stale and none hides more than it says."""
    import aws_cdk as cdk
    from segflow_infra.application import build_app

    recorded: list[tuple[str, str, str]] = []
    real_of = cdk.Validations.of

    class Recorder:
        """Stands in for Validations.of(scope): records acknowledgements, registers plugins for real."""

        def __init__(self, scope: Any) -> None:
            self._scope = scope

        def acknowledge(self, *acknowledgments: Any) -> None:
            recorded.extend((self._scope.node.path, ack.id, ack.reason) for ack in acknowledgments)

        def add_plugins(self, *plugins: Any) -> None:
            real_of(self._scope).add_plugins(*plugins)

    monkeypatch.setattr(cdk.Validations, "of", staticmethod(Recorder))
    app, _ = build_app(outdir=str(tmp_path))
    with pytest.raises(Exception, match="ValidationFailed"):
        app.synth()

    findings = _findings(tmp_path)
    acknowledged = {(path, rule) for path, rule, _ in recorded}
    uncovered = {
        (path, rule)
        for path, rule in findings
        if not any(
            rule == ack_rule and (path == ack_path or path.startswith(f"{ack_path}/"))
            for ack_path, ack_rule in acknowledged
        )
    }
    unused = {
        (ack_path, ack_rule)
        for ack_path, ack_rule in acknowledged
        if not any(
            rule == ack_rule and (path == ack_path or path.startswith(f"{ack_path}/"))
            for path, rule in findings
        )
    }
    assert uncovered == set()
    assert unused == set()
    reasons = [reason for _, _, reason in recorded]
    assert all(len(reason) >= 60 for reason in reasons), reasons


def test_cfn_lint_passes(synth: Any) -> None:
    # The interpreter's own cfn-lint first: an older one on PATH may not know newer resource properties.
    beside_python = Path(sys.executable).with_name("cfn-lint")
    cfn_lint = str(beside_python) if beside_python.exists() else shutil.which("cfn-lint")
    if cfn_lint is None:
        pytest.skip("cfn-lint is not installed: pip install cfn-lint==1.58.0")
    template = synth.outdir / f"{synth.stack_name}.template.json"
    result = subprocess.run(
        [cfn_lint, "--ignore-checks", "W3005", "--", str(template)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", ASL_FILES, ids=lambda path: path.name)
def test_asl_validator_accepts_definition(path: Path) -> None:
    if not (REPO_ROOT / "node_modules" / ".bin" / "asl-validator").exists():
        pytest.skip("node_modules is missing: run `npm ci` for the pinned asl-validator")
    result = subprocess.run(
        ["npx", "--no-install", "asl-validator", "--json-path", str(path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_stage_names_the_stack_and_its_resources() -> None:
    pytest.importorskip("aws_cdk", reason="aws-cdk-lib is not installed: pip install the infra pins")
    from segflow_infra.application import build_app

    _, stack = build_app(context={"stage": "prod"}, nag=False)
    assert stack.stack_name == "segflow-prod"
    assert {workflow.state_machine_name for workflow in stack.orchestration.workflows.values()} == {
        f"segflow-prod-{logical_id}" for logical_id in stack.orchestration.workflows
    }
    with pytest.raises(ValueError, match="stage"):
        build_app(context={"stage": "Prod_1"}, nag=False)
