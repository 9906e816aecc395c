"""How the version commands print what the API answers (no server)."""

from __future__ import annotations

from segflow_cli.rendering.text import table
from segflow_cli.rendering.versions import diff_lines, publish_line, version_lines, workflow_lines

WORKFLOW = {
    "tenant_id": "default",
    "workflow_id": "orders",
    "name": "Orders",
    "latest_version": 3,
    "active_version": 2,
    "created_at": "2026-01-01T00:00:00.000Z",
    "updated_at": "2026-01-02T00:00:00.000Z",
    "updated_by": "ada",
}


def version(number: int, message: str = "") -> dict[str, object]:
    return {
        "workflow_id": "orders",
        "version": number,
        "created_at": f"2026-01-0{number}T00:00:00.000Z",
        "created_by": "ada",
        "node_count": number,
        "message": message,
    }


def test_publish_lines() -> None:
    published = {"workflow": WORKFLOW, "version": version(3)}
    assert publish_line(published) == "published orders version 3 (not active; version 2 stays active)"
    published = {"workflow": {**WORKFLOW, "active_version": 3}, "version": version(3)}
    assert publish_line(published) == "published orders version 3 (active)"
    published = {"workflow": {**WORKFLOW, "active_version": None}, "version": version(1)}
    assert publish_line(published) == "published orders version 1 (not active; no version is active)"


def test_versions_and_history_in_ascii() -> None:
    history = [
        {
            "seq": 1,
            "kind": "publish",
            "from_version": None,
            "to_version": 1,
            "by": "ada",
            "at": "t1",
            "reason": "",
        },
        {
            "seq": 2,
            "kind": "rollback",
            "from_version": 1,
            "to_version": 2,
            "by": "bo",
            "at": "t2",
            "reason": "oops",
        },
    ]
    document = {"workflow": WORKFLOW, "versions": [version(1, "first"), version(2)], "history": history}
    lines = version_lines(document, "->")
    assert lines[0] == "workflow orders (Orders): active v2, latest v3"
    assert lines[2].split() == ["VERSION", "ACTIVE", "CREATED", "BY", "NODES", "MESSAGE"]
    assert lines[3].split() == ["1", "2026-01-01T00:00:00.000Z", "ada", "1", "first"]
    assert lines[4].split() == ["2", "active", "2026-01-02T00:00:00.000Z", "ada", "2"]
    assert lines[-2].split() == ["1", "publish", "-", "->", "v1", "ada", "t1"]
    assert lines[-1].split() == ["2", "rollback", "v1", "->", "v2", "bo", "t2", "oops"]
    no_history = version_lines({**document, "history": []})
    assert no_history[-1] == "no version has been active yet"


def test_diff_lines() -> None:
    diff = {
        "nodes_added": [],
        "nodes_removed": ["old"],
        "nodes_changed": [{"node_id": "fetch", "fields": ["config.url", "retry.max_attempts"]}],
        "edges_added": [{"source": "a", "target": "b", "condition": "big"}],
        "edges_removed": [],
        "edges_changed": [{"source": "a", "target": "c", "from_condition": None, "to_condition": "small"}],
        "metadata_changed": [],
    }
    document = {"workflow_id": "orders", "from_version": 1, "to_version": 3, "diff": diff}
    assert diff_lines(document, "->") == [
        "diff orders v1 -> v3",
        "nodes removed:",
        "  - old",
        "nodes changed:",
        "  ~ fetch: config.url, retry.max_attempts",
        "edges added:",
        "  + a -> b (if big)",
        "edges changed:",
        "  ~ a -> c: condition (none) -> 'small'",
    ]
    empty = {key: [] for key in diff}
    assert diff_lines({**document, "diff": empty})[1:] == ["no differences"]


def test_workflow_table() -> None:
    lines = workflow_lines([WORKFLOW, {**WORKFLOW, "workflow_id": "alpha", "active_version": None}])
    assert lines[0].split() == ["WORKFLOW", "NAME", "ACTIVE", "LATEST", "UPDATED", "BY"]
    assert [line.split()[0] for line in lines[1:]] == ["alpha", "orders"]
    assert lines[1].split()[2] == "-"
    assert table(("A", "B"), [("x", None)]) == ["A  B", "x  -"]
