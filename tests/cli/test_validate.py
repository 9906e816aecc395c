"""``segflow validate``: exit codes, the ok line, one error line per problem naming its node or edge."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from segflow.dsl.schema import workflow_json_schema
from segflow.nodes import registry

from segflow_cli.main import main
from tests.cli.conftest import run_segflow


def test_valid_workflow_prints_counts(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(data_dir / "ten_nodes.json")]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == "ok: cli-ten-nodes (10 nodes, 11 edges, 8 segments in 5 stages)"
    assert err == ""


def test_single_segment_uses_singular_nouns(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(data_dir / "failing.json")]) == 0
    assert capsys.readouterr().out.strip() == "ok: cli-failing (3 nodes, 2 edges, 1 segment in 1 stage)"


def test_invalid_workflow_lists_every_problem(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(data_dir / "invalid.json")]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.strip().splitlines()
    assert all(line.startswith("error: ") for line in lines)
    known = ", ".join(sorted({node_type.type for node_type in registry.all_node_types()}))
    assert "deploy" in known and "transform" in known
    assert f"error: node 'odd': unknown type 'teleport'; known: {known}" in lines
    assert "error: edge 'later' -> 'ghost': target 'ghost' is not a node" in lines
    assert (
        "error: node 'start': reads nodes.later, but 'later' does not run before it "
        "(no path of edges leads from 'later' to 'start')"
    ) in lines
    assert any(line.startswith("error: edge 'decide' -> 'later': edges leaving judgment") for line in lines)
    assert len(lines) == 4  # the refused edge leaving the judgment is not reported again as none at all


def test_bad_json_names_the_position(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = data_dir / "broken.json"
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {path}: not valid JSON: ")
    assert err.endswith("at line 4, column 21")


def test_unreadable_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(tmp_path / "missing.json")]) == 2
    assert "No such file or directory" in capsys.readouterr().err


def test_not_an_object(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "list.json"
    path.write_text("[1, 2]")
    assert main(["validate", str(path)]) == 2
    assert capsys.readouterr().err.strip() == "error: workflow: must be a JSON object, not a list"


def test_json_report_when_valid(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--json", str(data_dir / "branching.json")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report == {
        "ok": True,
        "file": str(data_dir / "branching.json"),
        "workflow_id": "cli-branching",
        "nodes": 8,
        "edges": 8,
        "segments": 7,
        "stages": 5,
        "warnings": [],
    }


def test_json_report_when_invalid(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--json", str(data_dir / "invalid.json")]) == 2
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False
    ghost = {"location": "edge 'later' -> 'ghost'", "message": "target 'ghost' is not a node"}
    assert ghost in report["errors"]


def test_json_report_for_bad_json(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--json", str(data_dir / "broken.json")]) == 2
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False
    assert "line 4, column 21" in report["errors"][0]["message"]


def test_rollback_nodes_validate_without_warnings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "rollback.json"
    node = {
        "node_id": "undo",
        "type": "rollback",
        "target_type": "workflow",
        "config": {"workflow_id": "orders", "version": 3},
    }
    path.write_text(json.dumps({"workflow_id": "with-rollback", "nodes": [node]}))
    assert main(["validate", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == "ok: with-rollback (1 node, 0 edges, 1 segment in 1 stage)"
    assert err.strip() == ""  # every built-in node type runs


def test_installed_command(data_dir: Path) -> None:
    ok = run_segflow("validate", str(data_dir / "branching.json"))
    assert ok.returncode == 0
    assert ok.stdout.strip() == "ok: cli-branching (8 nodes, 8 edges, 7 segments in 5 stages)"
    invalid = run_segflow("validate", str(data_dir / "invalid.json"))
    assert invalid.returncode == 2
    assert "error: edge 'later' -> 'ghost': target 'ghost' is not a node" in invalid.stderr.splitlines()


def test_schema_command_prints_the_workflow_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == workflow_json_schema()
