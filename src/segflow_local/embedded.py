"""The in-process embedded AWS: moto with its ASL interpreter on, Lambda invokes answered by our handlers."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
from segflow import declaration

from segflow_local import (
    bedrock_emulation,
    botocore_hook,
    fault_rates,
    moto_patches,
    sagemaker_emulation,
    sandbox,
)
from segflow_local.event_sources import start_event_sources, stop_event_sources
from segflow_local.lambda_invocation import LOCAL_ACCOUNT_ID, LOCAL_REGION
from segflow_local.lambda_runtime import LocalLambdaRuntime
from segflow_local.provisioner import ProvisionedStack, provision

if TYPE_CHECKING:
    from moto.core.config import DefaultConfig

MOTO_CONFIG: DefaultConfig = {
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": False},
}

_ENV_DEFAULTS = {
    "AWS_ACCESS_KEY_ID": "ak",
    "AWS_SECRET_ACCESS_KEY": "sk",
    "AWS_SESSION_TOKEN": "local",
    "AWS_DEFAULT_REGION": LOCAL_REGION,
    "AWS_REGION": LOCAL_REGION,
    "MOTO_ACCOUNT_ID": LOCAL_ACCOUNT_ID,
}


def quiet_moto_logs() -> None:
    logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("botocore").setLevel(logging.WARNING)


def prepare_environment(extra: dict[str, str] | None = None) -> None:
    """Credentials and region for the embedded cloud; it must never reach a real endpoint."""
    for key, value in _ENV_DEFAULTS.items():
        os.environ[key] = value
    os.environ.pop("AWS_PROFILE", None)
    for key, value in (extra or {}).items():
        os.environ[key] = value


@dataclass
class EmbeddedAws:
    stack: ProvisionedStack
    runtime: LocalLambdaRuntime
    session: Any

    def client(self, service: str) -> Any:
        return self.session.client(service, region_name=LOCAL_REGION)

    @contextmanager
    def running_as(self, logical_id: str) -> Iterator[None]:
        """Run the body as one of segflow's functions: its environment, its IAM policy (for tests that call
        engine code the way that function does)."""
        identity, environment = self.runtime.identity(declaration.function_by_id(logical_id))
        assert identity is not None, "the embedded AWS always runs functions as deployed"
        with sandbox.running_as(identity, environment):
            yield

    def drain(self, timeout_seconds: float = 30.0) -> None:
        """Stop or wait out running executions so no thread outlives the mock."""
        sfn = self.client("stepfunctions")
        deadline = time.monotonic() + timeout_seconds
        for arn in self.stack.state_machine_arns.values():
            for execution in sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]:
                sfn.stop_execution(executionArn=execution["executionArn"], error="Segflow.Shutdown")
        while time.monotonic() < deadline:
            running = [
                e
                for arn in self.stack.state_machine_arns.values()
                for e in sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]
            ]
            if not running:
                return
            time.sleep(0.05)


@contextmanager
def embedded_aws(stage: str = "local") -> Iterator[EmbeddedAws]:
    """Start moto in-process, deploy segflow into it, and route Lambda invokes to the real handlers."""
    from moto import mock_aws

    os.environ.pop("AWS_ENDPOINT_URL", None)  # under mock_aws an endpoint URL would bypass the mock
    prepare_environment()
    quiet_moto_logs()
    moto_patches.apply()
    sagemaker_emulation.apply()
    bedrock_emulation.apply()
    sandbox.install()
    fault_rates.install()  # inert until a test turns it on (fault_rates.injecting)
    runtime = LocalLambdaRuntime(stage)
    botocore_hook.activate(runtime)
    try:
        with mock_aws(config=MOTO_CONFIG):
            session = boto3.session.Session(region_name=LOCAL_REGION)
            stack = provision(session, stage)
            runtime.attach(stack)  # each function with its own environment and IAM policy
            embedded = EmbeddedAws(stack=stack, runtime=runtime, session=session)
            # No WebSocket gateway in-process: the status rules only (events are still logged).
            pollers = start_event_sources(session, stack, runtime.invoke, streams=False)
            try:
                yield embedded
            finally:
                embedded.drain()
                stop_event_sources(pollers)
    finally:
        botocore_hook.deactivate()
