"""The version store against the embedded DynamoDB and S3: numbering, activation, rollback, isolation."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from segflow.adapters import factory
from segflow.adapters.workflow_versions import WorkflowVersionStore
from segflow.versioning.errors import (
    ActiveVersionConflict,
    NoActiveVersion,
    NoPreviousVersion,
    VersionAlreadyActive,
    VersionNotFound,
    WorkflowNotFound,
)

from segflow_local.embedded import EmbeddedAws


@pytest.fixture()
def store(embedded: EmbeddedAws) -> WorkflowVersionStore:
    with embedded.running_as("ManagementApi"):
        return factory.workflow_versions()


def definition(workflow_id: str, label: str = "one", padding: int = 0) -> dict[str, Any]:
    config: dict[str, Any] = {"output": {"label": label}}
    if padding:
        config["output"]["padding"] = "x" * padding
    return {
        "workflow_id": workflow_id,
        "name": f"wf {label}",
        "nodes": [{"node_id": "only", "type": "transform", "config": config}],
        "edges": [],
    }


def new_id() -> str:
    return f"wf-{uuid.uuid4().hex[:8]}"


def test_publishing_numbers_versions_and_activates_the_newest(store: WorkflowVersionStore) -> None:
    wf = new_id()
    first, _ = store.publish("acme", definition(wf, "one"), "ada", "first")
    second, summary = store.publish("acme", definition(wf, "two"), "bob", "second")
    assert (first.version, second.version) == (1, 2)
    assert summary.active_version == 2 and summary.latest_version == 2
    assert summary.previous_active_version == 1
    assert store.resolve("acme", wf).definition["name"] == "wf two"
    assert store.get_version("acme", wf, 1).definition == definition(wf, "one")
    assert [v.message for v in store.list_versions("acme", wf)] == ["first", "second"]
    assert [(h.kind, h.from_version, h.to_version) for h in store.history("acme", wf)] == [
        ("publish", None, 1),
        ("publish", 1, 2),
    ]


def test_large_definitions_live_in_s3_with_their_hash(store: WorkflowVersionStore) -> None:
    wf = new_id()
    info, _ = store.publish("acme", definition(wf, padding=60_000), "ada")
    assert info.definition_key and info.sha256 in info.definition_key
    assert info.definition_key.startswith(f"workflows/acme/{wf}/")
    assert store.get_version("acme", wf, 1).definition == definition(wf, padding=60_000)


def test_rollback_restores_the_previous_version_and_records_why(store: WorkflowVersionStore) -> None:
    wf = new_id()
    for label in ("one", "two", "three"):
        store.publish("acme", definition(wf, label), "ada")
    result = store.rollback("acme", wf, by="oncall", reason="errors in v3")
    assert (result.rolled_back_to_version, result.previous_version) == (2, 3)
    to_one = store.rollback("acme", wf, by="oncall", to_version=1, reason="v2 too")
    assert (to_one.rolled_back_to_version, to_one.previous_version) == (1, 2)
    assert store.get_workflow("acme", wf).active_version == 1
    last = store.history("acme", wf)[-1]
    assert (last.kind, last.from_version, last.to_version, last.reason, last.by) == (
        "rollback",
        2,
        1,
        "v2 too",
        "oncall",
    )


def test_rollback_errors_are_named_and_change_nothing(store: WorkflowVersionStore) -> None:
    wf = new_id()
    store.publish("acme", definition(wf), "ada")
    with pytest.raises(NoPreviousVersion):
        store.rollback("acme", wf, by="ada")
    store.publish("acme", definition(wf, "two"), "ada")
    with pytest.raises(VersionNotFound, match="version 7"):
        store.rollback("acme", wf, by="ada", to_version=7)
    with pytest.raises(VersionAlreadyActive):
        store.rollback("acme", wf, by="ada", to_version=2)
    with pytest.raises(ActiveVersionConflict, match="expected active version 1"):
        store.rollback("acme", wf, by="ada", to_version=1, expected_active_version=1)
    with pytest.raises(WorkflowNotFound):
        store.rollback("acme", new_id(), by="ada", to_version=1)
    assert store.get_workflow("acme", wf).active_version == 2
    assert len(store.history("acme", wf)) == 2


def test_a_repeated_request_id_takes_effect_once(store: WorkflowVersionStore) -> None:
    wf = new_id()
    for label in ("one", "two", "three"):
        store.publish("acme", definition(wf, label), "ada")
    first = store.rollback("acme", wf, by="node", request_id="exec-1:node")
    again = store.rollback("acme", wf, by="node", request_id="exec-1:node")
    assert first == again
    assert store.get_workflow("acme", wf).active_version == 2
    assert len(store.history("acme", wf)) == 4


def test_concurrent_publishes_get_contiguous_versions(store: WorkflowVersionStore) -> None:
    wf = new_id()
    with ThreadPoolExecutor(max_workers=25) as pool:
        infos = list(pool.map(lambda i: store.publish("acme", definition(wf, str(i)), "ada")[0], range(50)))
    assert sorted(info.version for info in infos) == list(range(1, 51))
    assert [v.version for v in store.list_versions("acme", wf)] == list(range(1, 51))
    assert [h.seq for h in store.history("acme", wf)] == list(range(1, 51))


def test_concurrent_rollbacks_with_one_expectation_have_one_winner(store: WorkflowVersionStore) -> None:
    wf = new_id()
    for label in ("one", "two", "three"):
        store.publish("acme", definition(wf, label), "ada")

    def attempt(target: int) -> str:
        try:
            store.rollback("acme", wf, by=f"user-{target}", to_version=target, expected_active_version=3)
        except ActiveVersionConflict:
            return "conflict"
        return "won"

    with ThreadPoolExecutor(max_workers=10) as pool:
        outcomes = list(pool.map(attempt, [1, 2] * 10))
    assert outcomes.count("won") == 1 and outcomes.count("conflict") == 19
    history = store.history("acme", wf)
    assert [h.seq for h in history] == [1, 2, 3, 4]
    assert history[-1].from_version == 3


def test_other_tenants_see_nothing(store: WorkflowVersionStore) -> None:
    wf = new_id()
    store.publish("acme", definition(wf), "ada")
    assert wf in [w.workflow_id for w in store.list_workflows("acme")]
    assert wf not in [w.workflow_id for w in store.list_workflows("globex")]
    with pytest.raises(WorkflowNotFound):
        store.get_version("globex", wf, 1)
    with pytest.raises(WorkflowNotFound):
        store.rollback("globex", wf, by="mallory", to_version=1)


def test_a_version_published_without_activating_is_not_run_by_default(store: WorkflowVersionStore) -> None:
    wf = new_id()
    info, summary = store.publish("acme", definition(wf), "ada", activate=False)
    assert info.version == 1 and summary.active_version is None
    with pytest.raises(NoActiveVersion, match="no active version"):
        store.resolve("acme", wf)
    assert store.resolve("acme", wf, 1).version == 1
    store.activate("acme", wf, 1, by="ada", reason="ship it")
    assert store.resolve("acme", wf).version == 1
    assert [(h.kind, h.to_version, h.reason) for h in store.history("acme", wf)] == [
        ("activate", 1, "ship it")
    ]
