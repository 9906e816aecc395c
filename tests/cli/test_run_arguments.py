"""``run`` and ``status`` refusing bad arguments before contacting anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from segflow_cli.main import main
from tests.cli.conftest import free_port

UNREACHABLE = "http://127.0.0.1:{port}"


@pytest.fixture()
def nowhere() -> str:
    """An endpoint URL nothing listens on: a test that reaches the network fails loudly."""
    return UNREACHABLE.format(port=free_port())


def test_a_workflow_id_goes_to_the_api(nowhere: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "order-review", "--endpoint", nowhere]) == 1
    assert capsys.readouterr().err.startswith(f"error: cannot reach {nowhere}")


def test_version_is_for_published_workflows(
    data_dir: Path, nowhere: str, capsys: pytest.CaptureFixture[str]
) -> None:
    workflow = str(data_dir / "branching.json")
    assert main(["run", workflow, "--version", "2", "--endpoint", nowhere]) == 2
    assert "--version applies to a published workflow id" in capsys.readouterr().err
    assert main(["run", "order-review", "--version", "0", "--endpoint", nowhere]) == 2
    assert "--version 0: versions start at 1" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["publish", "{data}/branching.json", "--tenant", "Bad_Tenant"],
        ["publish", "{data}/branching.json", "--expect-active", "0"],
        ["publish", "{data}/broken.json"],
        ["publish", "{data}/missing.json"],
        ["rollback", "wf", "--to", "0"],
        ["rollback", "wf", "--expect-active", "-1"],
        ["activate", "wf", "0"],
        ["diff", "wf", "0", "1"],
        ["versions", "wf", "--tenant", "UPPER"],
        ["workflows", "--tenant=-leading-hyphen"],
    ],
)
def test_version_commands_refuse_bad_arguments_offline(
    argv: list[str], data_dir: Path, nowhere: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [arg.format(data=data_dir) for arg in argv]
    assert main([*args, "--endpoint", nowhere]) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_invalid_workflow_is_refused_locally(
    data_dir: Path, nowhere: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(data_dir / "invalid.json"), "--endpoint", nowhere]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert "error: edge 'later' -> 'ghost': target 'ghost' is not a node" in lines


def test_input_must_be_an_object(data_dir: Path, nowhere: str, capsys: pytest.CaptureFixture[str]) -> None:
    workflow = str(data_dir / "branching.json")
    assert main(["run", workflow, "--input", "[1]", "--endpoint", nowhere]) == 2
    assert (
        "error: --input: execution input must be a JSON object ({...}), not a list" in capsys.readouterr().err
    )
    assert main(["run", workflow, "--input", "null", "--endpoint", nowhere]) == 2
    assert (
        "error: --input: execution input must be a JSON object ({...}), not null" in capsys.readouterr().err
    )
    assert main(["run", workflow, "--input", '{"deep": ' + "[" * 100_000, "--endpoint", nowhere]) == 2
    assert "error: --input: nests objects and lists too deep to read" in capsys.readouterr().err
    assert main(["run", workflow, "--input", '{"x": NaN}', "--endpoint", nowhere]) == 2
    assert "error: --input: execution input: input.x is nan: NaN and Infinity" in capsys.readouterr().err
    assert main(["run", workflow, "--input", "{oops", "--endpoint", nowhere]) == 2
    assert "error: --input: not valid JSON: " in capsys.readouterr().err


def test_bad_tenant(data_dir: Path, nowhere: str, capsys: pytest.CaptureFixture[str]) -> None:
    workflow = str(data_dir / "branching.json")
    assert main(["run", workflow, "--tenant", "Not_Valid", "--endpoint", nowhere]) == 2
    assert "--tenant 'Not_Valid'" in capsys.readouterr().err


def test_unreachable_endpoint(data_dir: Path, nowhere: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(data_dir / "branching.json"), "--endpoint", nowhere]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot reach {nowhere}")
    assert "segflow local up" in err


def test_endpoint_from_the_environment(
    data_dir: Path, nowhere: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SEGFLOW_ENDPOINT", nowhere)
    assert main(["status", "arn:aws:states:us-east-1:123456789012:execution:m:e"]) == 1
    assert f"cannot reach {nowhere}" in capsys.readouterr().err


def test_status_takes_an_execution_id_or_arn_only(nowhere: str, capsys: pytest.CaptureFixture[str]) -> None:
    machine = "arn:aws:states:us-east-1:123456789012:stateMachine:m"
    assert main(["status", machine, "--endpoint", nowhere]) == 2
    assert "neither an execution id nor an execution ARN" in capsys.readouterr().err
    assert main(["status", "an-execution-id", "--endpoint", nowhere]) == 1  # an id: looked for
    assert f"cannot reach {nowhere}" in capsys.readouterr().err


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: segflow" in capsys.readouterr().err


def test_local_up_checks_its_stage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["local", "up", "--stage", "Has_Caps"]) == 2
    assert "--stage 'Has_Caps' must match" in capsys.readouterr().err
