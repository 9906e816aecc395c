"""Alarms on failed executions, function errors and throttles, HTTP API 5xx responses and stream consumers
falling behind; one dashboard."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct
from segflow.declaration import STREAM_CONSUMERS

PERIOD = cdk.Duration.minutes(5)
# A stream consumer whose oldest record waited longer than this (Maximum over PERIOD) is falling behind:
# live events reach their subscribers late.
ITERATOR_AGE_THRESHOLD_MS = 60_000


class Monitoring(Construct):
    """Alarms have no actions yet: the notification channel (e.g. an SNS topic) is a later decision,
    to be wired through ``self.alarms``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        state_machines: dict[str, sfn.StateMachine],
        functions: dict[str, lambda_.Function],
        http_apis: dict[str, apigwv2.HttpApi],
    ) -> None:
        super().__init__(scope, construct_id)
        self._prefix = cdk.Stack.of(self).stack_name
        self.alarms: list[cloudwatch.Alarm] = []
        for logical_id, state_machine in state_machines.items():
            self._alarm(f"{logical_id}ExecutionsFailed", state_machine.metric_failed(period=PERIOD))
            self._alarm(f"{logical_id}ExecutionsTimedOut", state_machine.metric_timed_out(period=PERIOD))
        for logical_id, function in functions.items():
            self._alarm(f"{logical_id}Errors", function.metric_errors(period=PERIOD))
            self._alarm(f"{logical_id}Throttles", function.metric_throttles(period=PERIOD))
        for logical_id, api in http_apis.items():
            # 5xx only: 4xx (bad requests, denied callers) are the callers' business.
            self._alarm(f"{logical_id}ServerErrors", api.metric_server_error(period=PERIOD))
        consumers = sorted({consumer.function for consumer in STREAM_CONSUMERS})
        for logical_id in consumers:
            self._iterator_age_alarm(logical_id, functions[logical_id])
        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=self._prefix,
            default_interval=cdk.Duration.hours(3),
            widgets=[
                [cloudwatch.AlarmStatusWidget(title="Alarms", alarms=self.alarms, width=24)],
                *(_state_machine_widgets(logical_id, sm) for logical_id, sm in state_machines.items()),
                *(_function_widgets(logical_id, fn) for logical_id, fn in functions.items()),
                *(_http_api_widgets(logical_id, api) for logical_id, api in http_apis.items()),
                *([_iterator_age_widget(logical_id, functions[logical_id])] for logical_id in consumers),
            ],
        )

    def _alarm(self, construct_id: str, metric: cloudwatch.Metric) -> None:
        self.alarms.append(
            cloudwatch.Alarm(
                self,
                construct_id,
                alarm_name=f"{self._prefix}-{construct_id}",
                alarm_description=f"{construct_id}: at least one in {PERIOD.to_minutes()} minutes",
                metric=metric.with_(statistic=cloudwatch.Stats.SUM),
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
        )

    def _iterator_age_alarm(self, logical_id: str, function: lambda_.Function) -> None:
        construct_id = f"{logical_id}IteratorAge"
        self.alarms.append(
            cloudwatch.Alarm(
                self,
                construct_id,
                alarm_name=f"{self._prefix}-{construct_id}",
                alarm_description=(
                    f"{construct_id}: a stream record waited over {ITERATOR_AGE_THRESHOLD_MS} ms for "
                    f"{logical_id} within {PERIOD.to_minutes()} minutes"
                ),
                metric=_iterator_age(function),
                threshold=ITERATOR_AGE_THRESHOLD_MS,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
        )


def _iterator_age(function: lambda_.Function) -> cloudwatch.Metric:
    """Age of the last record of each batch the event source mapping delivers to the function."""
    return function.metric("IteratorAge", period=PERIOD, statistic=cloudwatch.Stats.MAXIMUM)


def _iterator_age_widget(logical_id: str, function: lambda_.Function) -> cloudwatch.IWidget:
    return cloudwatch.GraphWidget(
        title=f"{logical_id} stream iterator age",
        width=24,
        left=[_iterator_age(function).with_(label="max (ms)")],
    )


def _state_machine_widgets(logical_id: str, state_machine: sfn.StateMachine) -> list[cloudwatch.IWidget]:
    return [
        cloudwatch.GraphWidget(
            title=f"{logical_id} executions",
            width=12,
            left=[
                state_machine.metric_started(period=PERIOD, label="started"),
                state_machine.metric_succeeded(period=PERIOD, label="succeeded"),
                state_machine.metric_failed(period=PERIOD, label="failed"),
                state_machine.metric_timed_out(period=PERIOD, label="timed out"),
                state_machine.metric_aborted(period=PERIOD, label="aborted"),
            ],
        ),
        cloudwatch.GraphWidget(
            title=f"{logical_id} execution time",
            width=12,
            left=[
                state_machine.metric_time(period=PERIOD, statistic=cloudwatch.Stats.p(50), label="p50"),
                state_machine.metric_time(period=PERIOD, statistic=cloudwatch.Stats.p(99), label="p99"),
            ],
        ),
    ]


def _function_widgets(logical_id: str, function: lambda_.Function) -> list[cloudwatch.IWidget]:
    return [
        cloudwatch.GraphWidget(
            title=f"{logical_id} invocations",
            width=12,
            left=[
                function.metric_invocations(period=PERIOD, label="invocations"),
                function.metric_errors(period=PERIOD, label="errors"),
                function.metric_throttles(period=PERIOD, label="throttles"),
            ],
        ),
        cloudwatch.GraphWidget(
            title=f"{logical_id} duration",
            width=12,
            left=[
                function.metric_duration(period=PERIOD, statistic=cloudwatch.Stats.p(50), label="p50"),
                function.metric_duration(period=PERIOD, statistic=cloudwatch.Stats.p(99), label="p99"),
            ],
        ),
    ]


def _http_api_widgets(logical_id: str, api: apigwv2.HttpApi) -> list[cloudwatch.IWidget]:
    return [
        cloudwatch.GraphWidget(
            title=f"{logical_id} requests",
            width=12,
            left=[
                api.metric_count(period=PERIOD, statistic=cloudwatch.Stats.SUM, label="requests"),
                api.metric_client_error(period=PERIOD, statistic=cloudwatch.Stats.SUM, label="4xx"),
                api.metric_server_error(period=PERIOD, statistic=cloudwatch.Stats.SUM, label="5xx"),
            ],
        ),
        cloudwatch.GraphWidget(
            title=f"{logical_id} latency",
            width=12,
            left=[
                api.metric_latency(period=PERIOD, statistic=cloudwatch.Stats.p(50), label="p50"),
                api.metric_latency(period=PERIOD, statistic=cloudwatch.Stats.p(99), label="p99"),
            ],
        ),
    ]
