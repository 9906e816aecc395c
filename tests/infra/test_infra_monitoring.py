"""Alarms, dashboard and stack outputs."""

from __future__ import annotations

from typing import Any

import pytest
from segflow.declaration import (
    BUCKETS,
    FUNCTIONS,
    HTTP_APIS,
    STACK_OUTPUTS,
    STATE_MACHINES,
    STREAM_CONSUMERS,
    TABLES,
    WEBSOCKET_APIS,
)

from tests.infra.infra_helpers import ref, render, websocket_endpoint

pytestmark = pytest.mark.infra


def _is_iterator_age(alarm: dict[str, Any]) -> bool:
    return alarm["Properties"]["MetricName"] == "IteratorAge"


def _alarms(synth: Any) -> set[tuple[str, str, str]]:
    """(namespace, metric, dimension value) of every alarm on a count (at least one in the period)."""
    found = set()
    for alarm in synth.of_type("AWS::CloudWatch::Alarm").values():
        if _is_iterator_age(alarm):
            continue
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


def test_stream_consumers_alarm_when_records_wait_over_a_minute(synth: Any) -> None:
    from segflow_infra.monitoring import ITERATOR_AGE_THRESHOLD_MS

    alarms = [alarm["Properties"] for alarm in synth.of_type("AWS::CloudWatch::Alarm").values()]
    iterator_age = {
        render(props["Dimensions"][0]["Value"]): props
        for props in alarms
        if props["MetricName"] == "IteratorAge"
    }
    assert set(iterator_age) == {ref(consumer.function) for consumer in STREAM_CONSUMERS}
    assert ITERATOR_AGE_THRESHOLD_MS == 60_000
    for props in iterator_age.values():
        assert props["Namespace"] == "AWS/Lambda"
        assert [dimension["Name"] for dimension in props["Dimensions"]] == ["FunctionName"]
        assert props["Statistic"] == "Maximum"
        assert props["Period"] == 300
        assert props["EvaluationPeriods"] == 1
        assert props["Threshold"] == ITERATOR_AGE_THRESHOLD_MS
        assert props["ComparisonOperator"] == "GreaterThanThreshold"
        assert props["TreatMissingData"] == "notBreaching"


def test_one_dashboard_shows_every_state_machine_function_and_http_api(synth: Any) -> None:
    [dashboard] = synth.of_type("AWS::CloudWatch::Dashboard").values()
    assert dashboard["Properties"]["DashboardName"] == synth.stack_name
    body = render(dashboard["Properties"]["DashboardBody"])
    for spec in (*STATE_MACHINES, *FUNCTIONS, *HTTP_APIS):
        assert ref(spec.logical_id) in body, spec.logical_id


def _output_value(kind: str, logical_id: str) -> str:
    """What each output kind shows: a Ref (ARN or name), an HTTP API's default endpoint URL, or a WebSocket
    API's stage URL."""
    if kind == "http_api_url":
        return ref(f"{logical_id}.ApiEndpoint")
    if kind == "websocket_url":
        return websocket_endpoint("wss", logical_id)
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
    for websocket in WEBSOCKET_APIS:
        assert _output_value("websocket_url", websocket.logical_id) in values, websocket.logical_id


def test_the_deploy_guide_counts_and_prices_the_alarms_the_template_has(synth: Any) -> None:
    """docs/deploy.md states the alarm count and its monthly price: they must stay the template's."""
    import re

    from segflow_infra.paths import REPO_ROOT

    guide = (REPO_ROOT / "docs" / "deploy.md").read_text()
    [(count, price)] = re.findall(
        r"CloudWatch alarms: [^|]*= (\d+) today \| \$0\.10 each = \$(\d+\.\d\d)", guide
    )
    alarms = len(synth.of_type("AWS::CloudWatch::Alarm"))
    assert int(count) == alarms
    assert price == f"{alarms * 0.10:.2f}"
