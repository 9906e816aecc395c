"""Alarms, dashboard and stack outputs."""

from __future__ import annotations

from typing import Any

import pytest
from segflow.declaration import BUCKETS, FUNCTIONS, STACK_OUTPUTS, STATE_MACHINES, TABLES

from tests.infra.infra_helpers import ref, render

pytestmark = pytest.mark.infra


def _alarms(synth: Any) -> set[tuple[str, str, str]]:
    """(namespace, metric, dimension value) of every alarm."""
    found = set()
    for alarm in synth.of_type("AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        [dimension] = props["Dimensions"]
        assert props["Statistic"] == "Sum"
        assert props["Threshold"] == 1
        assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert props["TreatMissingData"] == "notBreaching"
        found.add((props["Namespace"], props["MetricName"], render(dimension["Value"])))
    return found


def test_alarms_on_failed_executions_and_function_errors_and_throttles(synth: Any) -> None:
    expected = set()
    for spec in STATE_MACHINES:
        dimension = ref(spec.logical_id)
        expected |= {
            ("AWS/States", "ExecutionsFailed", dimension),
            ("AWS/States", "ExecutionsTimedOut", dimension),
        }
    for spec in FUNCTIONS:
        dimension = ref(spec.logical_id)
        expected |= {("AWS/Lambda", "Errors", dimension), ("AWS/Lambda", "Throttles", dimension)}
    assert _alarms(synth) == expected


def test_one_dashboard_shows_every_state_machine_and_function(synth: Any) -> None:
    [dashboard] = synth.of_type("AWS::CloudWatch::Dashboard").values()
    assert dashboard["Properties"]["DashboardName"] == synth.stack_name
    body = render(dashboard["Properties"]["DashboardBody"])
    for spec in (*STATE_MACHINES, *FUNCTIONS):
        assert ref(spec.logical_id) in body, spec.logical_id


def test_declared_outputs(synth: Any) -> None:
    outputs = synth.template["Outputs"]
    for name, spec in STACK_OUTPUTS.items():
        assert render(outputs[name]["Value"]) == ref(spec.ref), name


def test_every_declared_resource_is_reachable_through_an_output(synth: Any) -> None:
    values = {render(output["Value"]) for output in synth.template["Outputs"].values()}
    for spec in (*STATE_MACHINES, *BUCKETS, *TABLES, *FUNCTIONS):
        assert ref(spec.logical_id) in values, spec.logical_id
