"""Writes infra/deployed-access.json: each function's IAM policy as the synthesized stack grants it.

The local runtime enforces these policies (segflow_local.deployed_access); tests/infra/test_deployed_access.py
fails when the file differs from a fresh synth. Run ``make access`` after changing a grant.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from segflow_infra.application import DEFAULT_STAGE, build_app
from segflow_local.deployed_access import SNAPSHOT_PATH, snapshot_from_template


def synthesized_snapshot(context: dict[str, Any] | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as outdir:
        app, stack = build_app(context={"stage": DEFAULT_STAGE, **(context or {})}, outdir=outdir)
        app.synth()
        template = json.loads((Path(outdir) / f"{stack.stack_name}.template.json").read_text())
    return snapshot_from_template(template, DEFAULT_STAGE)


def render(snapshot: dict[str, Any]) -> str:
    return json.dumps(snapshot, indent=1, sort_keys=True) + "\n"


def main() -> int:
    SNAPSHOT_PATH.write_text(render(synthesized_snapshot()))
    print(f"wrote {SNAPSHOT_PATH}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
