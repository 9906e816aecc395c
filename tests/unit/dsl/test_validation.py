"""validate_workflow: a valid workflow becomes a graph; every rejection names its node, edge or field."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from segflow.dsl.validation import (
    ValidationIssue,
    WorkflowValidationError,
    executable_issues,
    validate_workflow,
)

from tests.support.workflows import (
    aggregator,
    api_call,
    chain_edges,
    edge,
    judgment,
    transform,
    wait,
    workflow,
)

# The two nodes of seeds.md, verbatim: they must keep validating unchanged.
SEED_ROLLBACK_NODE = {
    "node_id": "rollback_on_error",
    "type": "rollback",
    "target_type": "workflow",
    "config": {"workflow_id": "{{current_workflow_id}}", "version": 2, "reason": "Error detected in v3"},
}
SEED_DEPLOY_NODE = {
    "node_id": "deploy_model",
    "type": "action",
    "action_type": "api_call",
    "config": {
        "url": "https://ml-platform.internal/deploy",
        "method": "POST",
        "body": {"model_id": "{{model_id}}", "version": "{{version}}", "environment": "production"},
    },
}


def issues_of(raw: Any) -> list[ValidationIssue]:
    with pytest.raises(WorkflowValidationError) as caught:
        validate_workflow(raw)
    assert caught.value.issues, "a rejection must list at least one issue"
    return caught.value.issues


def assert_issue(issues: list[ValidationIssue], location: str, *fragments: str) -> ValidationIssue:
    """Exactly the expected location, and a message containing every fragment."""
    for issue in issues:
        if issue.location == location and all(f in issue.message for f in fragments):
            return issue
    pytest.fail(f"no issue at {location!r} mentioning {fragments}; got: {[str(i) for i in issues]}")


def two_nodes(second: dict[str, Any], first: dict[str, Any] | None = None) -> dict[str, Any]:
    first = first or transform("a", {"v": 1})
    return workflow("wf", [first, second], [edge(first["node_id"], second["node_id"])])


# --- valid workflows ----------------------------------------------------------------------------------------


def test_a_valid_workflow_becomes_a_graph_in_topological_order() -> None:
    wf = workflow(
        "wf",
        [transform("c", "{{ nodes.b }}"), transform("a", 1), transform("b", "{{ nodes.a }}")],
        [edge("a", "b"), edge("b", "c")],
    )
    graph = validate_workflow(wf)
    assert graph.order == ["a", "b", "c"]
    assert graph.references == {"a": set(), "b": {"a"}, "c": {"b"}}
    assert graph.sinks() == ["c"]
    assert graph.workflow_id == "wf"


@pytest.mark.parametrize(
    "seed_node", [SEED_ROLLBACK_NODE, SEED_DEPLOY_NODE], ids=["rollback", "deploy_model"]
)
def test_the_seed_nodes_validate_unchanged(seed_node: dict[str, Any]) -> None:
    original = copy.deepcopy(seed_node)
    wf = workflow(
        "seed",
        [transform("start", {"model_id": "{{ model_id }}"}), seed_node],
        [edge("start", seed_node["node_id"])],
    )
    graph = validate_workflow(wf)
    assert seed_node == original, "validation must not rewrite the node"
    assert graph.nodes[seed_node["node_id"]].config == original["config"]
    assert graph.nodes[seed_node["node_id"]].model_dump(exclude_none=True) == original


def test_the_seed_nodes_validate_alone() -> None:
    for node in (SEED_ROLLBACK_NODE, SEED_DEPLOY_NODE):
        assert list(validate_workflow(workflow("seed", [node])).nodes) == [node["node_id"]]


def test_both_seed_nodes_can_run() -> None:
    for node in (SEED_ROLLBACK_NODE, SEED_DEPLOY_NODE):
        assert executable_issues(validate_workflow(workflow("seed", [node]))) == []


def test_a_rollback_version_must_be_a_number_previous_or_a_template() -> None:
    node = {**SEED_ROLLBACK_NODE, "config": {"workflow_id": "orders", "version": "latest-ish"}}
    assert_issue(issues_of(workflow("wf", [node])), "node 'rollback_on_error'", "config.version")
    for version in (3, "3", "previous", "{{ input.good_version }}"):
        node = {**SEED_ROLLBACK_NODE, "config": {"workflow_id": "orders", "version": version}}
        assert list(validate_workflow(workflow("wf", [node])).nodes) == ["rollback_on_error"]


def test_a_judgment_with_labelled_and_default_edges_is_valid() -> None:
    wf = workflow(
        "wf",
        [judgment("j", "{{ input.kind }}"), transform("x", 1), transform("y", 2), transform("z", 3)],
        [edge("j", "x", "gold"), edge("j", "y", "silver"), edge("j", "z", "default")],
    )
    graph = validate_workflow(wf)
    assert sorted(e.condition for e in graph.outgoing["j"]) == ["default", "gold", "silver"]


def test_reading_any_ancestor_is_allowed_not_only_the_parent() -> None:
    wf = workflow(
        "wf",
        [
            transform("a", 1),
            transform("b", 2),
            transform("c", 3),
            transform("d", "{{ nodes.a }} {{ nodes.b }}"),
        ],
        [edge("a", "b"), edge("a", "c"), edge("b", "d"), edge("c", "d")],
    )
    assert validate_workflow(wf).references["d"] == {"a", "b"}


# --- rejections ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [None, [], "workflow", 3])
def test_a_document_that_is_not_an_object_is_refused(raw: Any) -> None:
    assert_issue(issues_of(raw), "workflow", "JSON object")


def test_an_empty_workflow_is_refused() -> None:
    assert_issue(issues_of(workflow("wf", [])), "workflow", "no nodes")


def test_missing_workflow_fields_are_named() -> None:
    issues = issues_of({"nodes": [transform("a", 1)]})
    assert_issue(issues, "workflow", "workflow_id", "required")


def test_duplicate_node_ids_are_named() -> None:
    issues = issues_of(workflow("wf", [transform("a", 1), transform("a", 2)]))
    assert_issue(issues, "node 'a'", "duplicate node_id")


@pytest.mark.parametrize(
    ("edges", "location", "fragment"),
    [
        ([edge("a", "ghost")], "edge 'a' -> 'ghost'", "target 'ghost' is not a node"),
        ([edge("ghost", "a")], "edge 'ghost' -> 'a'", "source 'ghost' is not a node"),
        ([edge("a", "a")], "edge 'a' -> 'a'", "itself"),
        ([edge("a", "b"), edge("a", "b")], "edge 'a' -> 'b'", "duplicate edge"),
    ],
)
def test_bad_edges_are_named(edges: list[dict[str, Any]], location: str, fragment: str) -> None:
    issues = issues_of(workflow("wf", [transform("a", 1), transform("b", 2)], edges))
    assert_issue(issues, location, fragment)


def test_an_unknown_type_is_named_with_the_known_ones() -> None:
    issues = issues_of(two_nodes({"node_id": "q", "type": "email_digest", "config": {}}))
    issue = assert_issue(issues, "node 'q'", "unknown type 'email_digest'")
    assert "transform" in issue.message and "judgment" in issue.message and "data_query" in issue.message


def test_an_unknown_action_type_is_named_with_the_known_ones() -> None:
    issues = issues_of(
        two_nodes({"node_id": "up", "type": "action", "action_type": "ftp_upload", "config": {}})
    )
    assert_issue(issues, "node 'up'", "action_type 'ftp_upload'", "api_call")


def test_an_action_without_action_type_is_refused() -> None:
    issues = issues_of(two_nodes({"node_id": "act", "type": "action", "config": {"url": "https://x"}}))
    assert_issue(issues, "node 'act'", "action_type", "api_call")


def test_an_unknown_rollback_target_type_is_refused() -> None:
    node = {**SEED_ROLLBACK_NODE, "target_type": "model"}
    assert_issue(
        issues_of(workflow("wf", [node])), "node 'rollback_on_error'", "target_type 'model'", "workflow"
    )


def test_the_subtype_must_be_given_in_the_field_its_type_declares() -> None:
    node = {"node_id": "call", "type": "action", "target_type": "api_call", "config": {"url": "https://x"}}
    assert_issue(issues_of(workflow("wf", [node])), "node 'call'", "action_type")


def test_a_cycle_is_refused_naming_its_nodes() -> None:
    wf = workflow(
        "wf",
        [transform("start", 0), transform("a", 1), transform("b", 2), transform("c", 3)],
        [edge("start", "a"), edge("a", "b"), edge("b", "c"), edge("c", "a")],
    )
    issue = assert_issue(issues_of(wf), "workflow", "cycle")
    for node_id in ("'a'", "'b'", "'c'"):
        assert node_id in issue.message
    assert "'start'" not in issue.message


def test_a_cycle_and_other_problems_are_all_reported() -> None:
    wf = workflow(
        "wf",
        [transform("a", 1), transform("b", 2), transform("a", 3)],
        [edge("a", "b"), edge("b", "a"), edge("b", "ghost")],
    )
    issues = issues_of(wf)
    assert_issue(issues, "node 'a'", "duplicate")
    assert_issue(issues, "edge 'b' -> 'ghost'", "not a node")
    assert_issue(issues, "workflow", "cycle")


@pytest.mark.parametrize(
    ("output", "fragment"),
    [
        ("{{ a || }}", "invalid expression"),
        ("{{ input.x", "unbalanced"),
        ("{{ }}", "empty"),
        ({"deep": ["ok", "{{ nodes }}"]}, "nodes.<node_id>"),
    ],
)
def test_bad_templates_are_named_with_their_field(output: Any, fragment: str) -> None:
    issues = issues_of(two_nodes(transform("t", output)))
    issue = assert_issue(issues, "node 't'", fragment)
    assert issue.message.startswith("config.output")


def test_a_bad_template_deep_in_a_config_names_its_path() -> None:
    node = api_call("call", "https://x", body={"items": [{"id": "{{ a b }}"}]})
    issue = assert_issue(issues_of(two_nodes(node)), "node 'call'", "invalid expression")
    assert issue.message.startswith("config.body.items[0].id")


def test_reading_a_node_that_does_not_exist_is_refused() -> None:
    assert_issue(
        issues_of(two_nodes(transform("t", "{{ nodes.ghost }}"))), "node 't'", "nodes.ghost", "not a node"
    )


def test_reading_its_own_output_is_refused() -> None:
    assert_issue(issues_of(two_nodes(transform("t", "{{ nodes.t }}"))), "node 't'", "its own output")


def test_reading_a_sibling_branch_is_refused() -> None:
    wf = workflow(
        "wf",
        [transform("a", 1), transform("left", 2), transform("right", "{{ nodes.left }}")],
        [edge("a", "left"), edge("a", "right")],
    )
    assert_issue(issues_of(wf), "node 'right'", "nodes.left", "does not run before it")


def test_reading_a_downstream_node_is_refused() -> None:
    wf = workflow(
        "wf",
        [transform("a", "{{ nodes.c.v }}"), transform("b", 2), transform("c", 3)],
        chain_edges(["a", "b", "c"]),
    )
    assert_issue(issues_of(wf), "node 'a'", "nodes.c", "does not run before it")


def test_reading_an_unconnected_node_is_refused() -> None:
    wf = workflow("wf", [transform("a", 1), transform("b", "{{ nodes.a }}")])
    assert_issue(issues_of(wf), "node 'b'", "nodes.a", "does not run before it")


@pytest.mark.parametrize(
    ("node", "fragments"),
    [
        ({"node_id": "n", "type": "transform", "config": {}}, ("config.output", "required")),
        ({"node_id": "n", "type": "transform", "config": {"output": 1, "extra": 2}}, ("config.extra",)),
        (api_call("n", "ftp://files.example.com/x"), ("config.url", "http or https", "ftp")),
        (api_call("n", "files.example.com/x"), ("config.url", "http or https")),
        (api_call("n", "https://x", method="FETCH"), ("config.method",)),
        (api_call("n", "https://x", timeout_seconds=0), ("config.timeout_seconds",)),
        (wait("n", -1), ("config.seconds", "must be at least 0")),
        ({"node_id": "n", "type": "wait", "config": {}}, ("config.seconds", "required")),
        ({"node_id": "n", "type": "aggregator", "config": {"mode": "set"}}, ("config.mode",)),
        (
            {**SEED_ROLLBACK_NODE, "node_id": "n", "config": {"version": 2}},
            ("config.workflow_id", "required"),
        ),
    ],
    ids=[
        "transform-without-output",
        "transform-extra-config",
        "api_call-ftp-url",
        "api_call-no-scheme",
        "api_call-bad-method",
        "api_call-zero-timeout",
        "wait-negative-seconds",
        "wait-without-seconds",
        "aggregator-bad-mode",
        "rollback-without-workflow_id",
    ],
)
def test_a_config_that_does_not_fit_its_type_is_named(
    node: dict[str, Any], fragments: tuple[str, ...]
) -> None:
    assert_issue(issues_of(two_nodes(node)), "node 'n'", *fragments)


def test_a_templated_url_is_left_for_run_time() -> None:
    graph = validate_workflow(two_nodes(api_call("n", "{{ nodes.a.url }}")))
    assert graph.references["n"] == {"a"}


def test_a_judgment_condition_must_be_a_template() -> None:
    wf = workflow("wf", [judgment("j", "yes"), transform("x", 1)], [edge("j", "x", "true")])
    assert_issue(issues_of(wf), "node 'j'", "config.condition", "template")


def test_a_judgment_without_outgoing_edges_is_refused() -> None:
    assert_issue(issues_of(workflow("wf", [judgment("j", "{{ input.ok }}")])), "node 'j'", "outgoing edges")


def test_a_condition_on_an_edge_not_leaving_a_judgment_is_refused() -> None:
    wf = workflow("wf", [transform("a", 1), transform("b", 2)], [edge("a", "b", "true")])
    assert_issue(
        issues_of(wf), "edge 'a' -> 'b' [true]", "only allowed on edges leaving a judgment", "transform"
    )


def test_an_edge_leaving_a_judgment_needs_a_condition() -> None:
    wf = workflow(
        "wf",
        [judgment("j", "{{ input.ok }}"), transform("x", 1), transform("y", 2)],
        [edge("j", "x", "true"), edge("j", "y")],
    )
    assert_issue(issues_of(wf), "edge 'j' -> 'y'", "need a condition")


def test_two_default_edges_are_refused() -> None:
    wf = workflow(
        "wf",
        [judgment("j", "{{ input.ok }}"), transform("x", 1), transform("y", 2)],
        [edge("j", "x", "default"), edge("j", "y", "default")],
    )
    assert_issue(issues_of(wf), "node 'j'", "more than one 'default'")


def test_an_aggregator_without_incoming_edges_is_refused() -> None:
    assert_issue(issues_of(workflow("wf", [aggregator("agg")])), "node 'agg'", "incoming edge")


@pytest.mark.parametrize(
    ("raw", "location", "fragment"),
    [
        (workflow("wf", [{**transform("a", 1), "colour": "red"}]), "node 'a'", "colour"),
        (
            workflow("wf", [transform("a", 1), transform("b", 2)], [{**edge("a", "b"), "weight": 3}]),
            "edge 'a' -> 'b'",
            "weight",
        ),
        ({**workflow("wf", [transform("a", 1)]), "version": 3}, "workflow", "version"),
        (
            workflow("wf", [{**transform("a", 1), "retry": {"max_attempts": 2, "jitter": True}}]),
            "node 'a'",
            "retry.jitter",
        ),
    ],
    ids=["node", "edge", "workflow", "retry"],
)
def test_unknown_fields_are_refused_where_they_are(raw: dict[str, Any], location: str, fragment: str) -> None:
    issue = assert_issue(issues_of(raw), location, fragment)
    assert issue.message.endswith("is not a field here")


@pytest.mark.parametrize("node_id", ["has space", "slash/id", "", "ünïcode", "-leading-dash"])
def test_node_ids_must_be_identifiers(node_id: str) -> None:
    issues = issues_of(workflow("wf", [transform(node_id, 1)]))
    assert any("node_id" in issue.message for issue in issues)


def test_every_problem_is_reported_at_once() -> None:
    wf = workflow(
        "wf",
        [
            transform("a", 1),
            {"node_id": "b", "type": "transform", "config": {}},
            api_call("c", "ftp://x"),
            transform("d", "{{ nodes.ghost }}"),
        ],
        [edge("a", "b"), edge("a", "zzz"), edge("a", "c", "true")],
    )
    issues = issues_of(wf)
    locations = {issue.location for issue in issues}
    assert {"node 'b'", "node 'c'", "node 'd'", "edge 'a' -> 'zzz'", "edge 'a' -> 'c' [true]"} <= locations


def test_the_error_message_lists_the_issues() -> None:
    with pytest.raises(WorkflowValidationError) as caught:
        validate_workflow(workflow("wf", [transform("a", "{{ nodes.ghost }}")]))
    assert "node 'a'" in str(caught.value)
    assert "1 problem" in str(caught.value)


def test_a_wait_node_with_a_timeout_is_refused_naming_the_node_and_the_field() -> None:
    # a wait's timeout would be silently ignored: the state machine waits config.seconds
    issues = issues_of(two_nodes({**wait("pause", 5), "timeout_seconds": 1}))
    assert_issue(issues, "node 'pause'", "timeout_seconds", "wait")
