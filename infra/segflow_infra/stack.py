"""The segflow stack: everything ``segflow.declaration`` declares, for one stage."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from constructs import Construct
from segflow.declaration import (
    BUCKETS,
    HTTP_APIS,
    SERVICE_NAME,
    STACK_OUTPUTS,
    STATE_MACHINES,
    TABLES,
    WEBSOCKET_APIS,
    EgressLists,
    OutputSpec,
    UserResources,
)
from segflow.domain.limits import EXECUTION_DATA_RETENTION_DAYS

from segflow_infra.api_auth import ApiAuth
from segflow_infra.functions import EngineFunctions
from segflow_infra.http_api import HttpApis
from segflow_infra.live_events import DEFAULT_ACCOUNT_ROLE, AccountRoleMode, LiveEvents
from segflow_infra.monitoring import Monitoring
from segflow_infra.orchestration import Orchestration
from segflow_infra.storage import Storage


class SegflowStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: str,
        auth: ApiAuth | None = None,
        user_resources: UserResources | None = None,
        retention_days: int = EXECUTION_DATA_RETENTION_DAYS,
        sagemaker_role_arn: str | None = None,
        node_modules: tuple[str, ...] = (),
        egress: EgressLists | None = None,
        api_gateway_account_role: AccountRoleMode = DEFAULT_ACCOUNT_ROLE,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            scope, construct_id, description=f"{SERVICE_NAME} workflow orchestrator ({stage})", **kwargs
        )
        self.stage = stage
        self.auth = auth or ApiAuth()
        cdk.Tags.of(self).add("project", SERVICE_NAME)
        cdk.Tags.of(self).add("stage", stage)

        self.storage = Storage(self, "Storage", retention_days=retention_days)
        self.engine = EngineFunctions(
            self,
            "Functions",
            storage=self.storage,
            user_resources=user_resources,
            sagemaker_role_arn=sagemaker_role_arn,
            node_modules=node_modules,
            egress=egress,
        )
        self.orchestration = Orchestration(
            self, "Orchestration", storage=self.storage, functions=self.engine.functions
        )
        self.http_apis = HttpApis(self, "HttpApis", functions=self.engine.functions, auth=self.auth)
        self.live_events = LiveEvents(
            self,
            "LiveEvents",
            storage=self.storage,
            functions=self.engine.functions,
            state_machines=self.orchestration.state_machines,
            auth=self.auth,
            account_role=api_gateway_account_role,
        )
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            state_machines=self.orchestration.state_machines,
            functions=self.engine.functions,
            http_apis={logical_id: api.api for logical_id, api in self.http_apis.apis.items()},
        )
        self._outputs()

    def _outputs(self) -> None:
        """The declared outputs, then a name or ARN for every other declared resource."""
        declared = set(STACK_OUTPUTS.values())
        for name, spec in STACK_OUTPUTS.items():
            self._output(name, spec)
        generic = [
            *(OutputSpec("state_machine_arn", spec.logical_id) for spec in STATE_MACHINES),
            *(OutputSpec("bucket_name", spec.logical_id) for spec in BUCKETS),
            *(OutputSpec("table_name", spec.logical_id) for spec in TABLES),
            *(OutputSpec("http_api_url", spec.logical_id) for spec in HTTP_APIS),
            *(OutputSpec("websocket_url", spec.logical_id) for spec in WEBSOCKET_APIS),
        ]
        suffixes = {
            "state_machine_arn": "Arn",
            "bucket_name": "Name",
            "table_name": "Name",
            "http_api_url": "Url",
            "websocket_url": "Url",
        }
        for spec in generic:
            if spec not in declared:
                self._output(f"{spec.ref}{suffixes[spec.kind]}", spec)
        for logical_id, function in self.engine.functions.items():
            cdk.CfnOutput(self, f"{logical_id}FunctionName", value=function.function_name)
        for logical_id, workflow in self.orchestration.workflows.items():
            cdk.CfnOutput(
                self,
                f"{logical_id}FailedExecutionsLogGroup",
                value=workflow.execution_events.log_group_name,
                description="EventBridge copies of failed, timed-out and aborted executions",
            )
        cdk.CfnOutput(self, "DashboardName", value=self.monitoring.dashboard.dashboard_name)

    def _output(self, name: str, spec: OutputSpec) -> None:
        values = {
            "state_machine_arn": lambda ref: self.orchestration.state_machines[ref].state_machine_arn,
            "bucket_name": lambda ref: self.storage.buckets[ref].bucket_name,
            "table_name": lambda ref: self.storage.tables[ref].table_name,
            "http_api_url": lambda ref: self.http_apis.apis[ref].url,
            "websocket_url": lambda ref: self.live_events.websocket_apis[ref].url,
        }
        cdk.CfnOutput(self, name, value=values[spec.kind](spec.ref), description=f"{spec.kind} of {spec.ref}")
