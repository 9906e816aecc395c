"""Alarms, dashboard and stack outputs."""

from __future__ import annotations

from typing import Any

import pytest
from segflow.declaration import BUCKETS, FUNCTIONS, HTTP_APIS, STACK_OUTPUTS, STATE_MACHINES, TABLES

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


def test_alarms_on_failed_executions_function_errors_and_throttles_and_api_server_errors(synth: Any) -> None:
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
    for spec in HTTP_APIS:
        expected.add(("AWS/ApiGateway", "5xx", ref(spec.logical_id)))
    assert _alarms(synth) == expected


def test_one_dashboard_shows_every_state_machine_function_and_http_api(synth: Any) -> None:
    [dashboard] = synth.of_type("AWS::CloudWatch::Dashboard").values()
    assert dashboard["Properties"]["DashboardName"] == synth.stack_name
    body = render(dashboard["Properties"]["DashboardBody"])
    for spec in (*STATE_MACHINES, *FUNCTIONS, *HTTP_APIS):
        assert ref(spec.logical_id) in body, spec.logical_id


def _output_value(kind: str, logical_id: str) -> str:
    """What each output kind shows: a Ref (ARN or name), or an HTTP API's default endpoint URL."""
    if kind == "http_api_url":
        return ref(f"{logical_id}.ApiEndpoint")
    return ref(logical_id)


def test_declared_outputs(synth: Any) -> None:
    outputs = synth.template["Outputs"]
    assert set(STACK_OUTPUTS) <= set(outputs)
    for name, spec in STACK_OUTPUTS.items():
        assert render(outputs[name]["Value"]) == _output_value(spec.kind, spec.ref), name


def test_every_declared_resource_is_reachable_through_an_output(synth: Any) -> None:
    values = {render(output["Value"]) for output in synth.template["Outputs"].values()}
    for spec in (*STATE_MACHINES, *BUCKETS, *TABLES, *FUNCTIONS):
        assert ref(spec.logical_id) in values, spec.logical_id
    for api in HTTP_APIS:
        assert _output_value("http_api_url", api.logical_id) in values, api.logical_id
