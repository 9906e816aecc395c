"""Locations inside the repository, independent of the current directory."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CDK_JSON = REPO_ROOT / "cdk.json"


def repo_path(relative: str) -> Path:
    return REPO_ROOT / relative
