"""How workflow files are shown: validation issues (text and JSON) and the validation summary."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from segflow.dsl.validation import ValidationIssue

from segflow_cli.rendering.text import plural


def issue_lines(issues: Sequence[ValidationIssue]) -> list[str]:
    return [str(issue) for issue in issues]


def issue_dicts(issues: Sequence[ValidationIssue]) -> list[dict[str, str]]:
    return [{"location": issue.location, "message": issue.message} for issue in issues]


def valid_line(workflow_id: str, counts: Mapping[str, int]) -> str:
    """``ok: wf (3 nodes, 2 edges, 2 segments in 2 stages)``; ``counts`` per plural noun."""
    nodes, edges, segments, stages = (
        plural(counts[key], key[:-1]) for key in ("nodes", "edges", "segments", "stages")
    )
    return f"ok: {workflow_id} ({nodes}, {edges}, {segments} in {stages})"
