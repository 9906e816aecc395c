"""Finding a segflow stack: a local endpoint (``--endpoint`` / ``SEGFLOW_ENDPOINT``) or a real AWS stack.

A local endpoint (``segflow local up``) answers ``GET /_segflow/outputs`` with the same keys as the stack's
outputs, and every AWS API on the same URL. Without an endpoint, the CLI uses the default boto3 credentials
and reads the outputs of the CloudFormation stack ``segflow-<stage>``.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
from segflow import declaration

ENDPOINT_ENV = "SEGFLOW_ENDPOINT"
STAGE_ENV = "SEGFLOW_STAGE"
DEFAULT_STAGE = "dev"
OUTPUTS_PATH = "/_segflow/outputs"
LOCAL_REGION = "us-east-1"
_LOCAL_FAKE_CREDENTIALS = {"aws_access_key_id": "ak", "aws_secret_access_key": "sk"}


@dataclass(frozen=True)
class Resources:
    """Where a stack's pieces are: the stack outputs (or their local equivalent)."""

    state_machine_arn: str
    bucket: str
    executions_table: str
    # Deployments from before workflow versions have neither.
    workflows_table: str | None = None
    management_api_url: str | None = None
    # Deployments from before live events have neither.
    events_table: str | None = None
    websocket_url: str | None = None
    deployments_table: str | None = None  # deployments from before model deployments have none

    @classmethod
    def from_outputs(cls, outputs: dict[str, str]) -> Resources:
        return cls(
            state_machine_arn=outputs[declaration.OUTPUT_STATE_MACHINE_ARN],
            bucket=outputs[declaration.OUTPUT_BUCKET_NAME],
            executions_table=outputs[declaration.OUTPUT_EXECUTIONS_TABLE_NAME],
            workflows_table=outputs.get(declaration.OUTPUT_WORKFLOWS_TABLE_NAME),
            management_api_url=outputs.get(declaration.OUTPUT_MANAGEMENT_API_URL),
            events_table=outputs.get(declaration.OUTPUT_EVENTS_TABLE_NAME),
            websocket_url=outputs.get(declaration.OUTPUT_WEBSOCKET_URL),
            deployments_table=outputs.get(declaration.OUTPUT_DEPLOYMENTS_TABLE_NAME),
        )


class LocateError(RuntimeError):
    """The stack could not be found or reached; the message says what to do."""


class EndpointSession:
    """A boto3 session whose every client talks to one endpoint URL (S3 with path-style addressing)."""

    def __init__(self, endpoint_url: str, session: boto3.session.Session) -> None:
        self.endpoint_url = endpoint_url
        self.session = session

    @property
    def region_name(self) -> str | None:
        region: str | None = self.session.region_name
        return region

    def client(self, service_name: str, **kwargs: Any) -> Any:
        kwargs.setdefault("endpoint_url", self.endpoint_url)
        if service_name == "s3":  # bucket.localhost does not resolve everywhere; path style always works
            path_style = Config(s3={"addressing_style": "path"})
            kwargs["config"] = path_style.merge(kwargs["config"]) if kwargs.get("config") else path_style
        return self.session.client(service_name, **kwargs)


@dataclass(frozen=True)
class LocatedStack:
    """A located stack: a session to reach it and where its resources are."""

    session: Any  # boto3 Session or EndpointSession: anything with .client(service)
    resources: Resources
    endpoint: str | None = None

    @property
    def description(self) -> str:
        return self.endpoint or f"AWS ({self.resources.state_machine_arn})"


def region_of(arn: str) -> str:
    return arn.split(":")[3]


def stack_name(stage: str) -> str:
    return f"{declaration.SERVICE_NAME}-{stage}"


def locate(endpoint: str | None = None, stage: str | None = None) -> LocatedStack:
    """A local endpoint (``endpoint`` or $SEGFLOW_ENDPOINT), else the stack of ``stage`` on AWS."""
    endpoint = endpoint or os.environ.get(ENDPOINT_ENV) or None
    if endpoint:
        return locate_endpoint(endpoint)
    return locate_stack(stage or os.environ.get(STAGE_ENV) or DEFAULT_STAGE)


def fetch_endpoint_outputs(endpoint: str, timeout_seconds: float = 10.0) -> dict[str, str]:
    url = endpoint.rstrip("/") + OUTPUTS_PATH
    try:
        with urllib.request.urlopen(url, timeout=timeout_seconds) as response:
            outputs: dict[str, str] = json.loads(response.read())
            return outputs
    except urllib.error.HTTPError as error:
        if error.code == 503:
            raise LocateError(f"{endpoint} is still starting; try again in a moment") from error
        raise LocateError(
            f"{endpoint} answered {error.code} for {OUTPUTS_PATH}: is it a `segflow local up` endpoint?"
        ) from error
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise LocateError(f"cannot reach {endpoint} ({reason}); start it with `segflow local up`") from error
    except ValueError as error:
        raise LocateError(f"{endpoint}{OUTPUTS_PATH} is not JSON: is it a segflow endpoint?") from error


def locate_endpoint(endpoint: str) -> LocatedStack:
    if not endpoint.startswith(("http://", "https://")):
        raise LocateError(f"--endpoint must be an http(s) URL, not {endpoint!r}")
    endpoint = endpoint.rstrip("/")
    resources = _resources(fetch_endpoint_outputs(endpoint), endpoint)
    region = region_of(resources.state_machine_arn)
    base = boto3.session.Session(region_name=region)
    if base.get_credentials() is None:
        base = boto3.session.Session(region_name=region, **_LOCAL_FAKE_CREDENTIALS)
    return LocatedStack(session=EndpointSession(endpoint, base), resources=resources, endpoint=endpoint)


def locate_stack(stage: str, session: Any = None) -> LocatedStack:
    """The stack ``segflow-<stage>`` on AWS, through ``session`` (default: boto3's default credentials)."""
    session = session or boto3.session.Session()
    name = stack_name(stage)
    try:
        stacks = session.client("cloudformation").describe_stacks(StackName=name)["Stacks"]
    except NoCredentialsError as error:
        raise LocateError(
            "no AWS credentials found; configure them, or use a local endpoint with --endpoint URL"
        ) from error
    except ClientError as error:
        message = error.response.get("Error", {}).get("Message", str(error))
        raise LocateError(
            f"cannot read stack {name} in {session.region_name or 'the default region'}: {message} "
            "(deploy it, pick another --stage, or use --endpoint)"
        ) from error
    except BotoCoreError as error:
        raise LocateError(f"cannot reach AWS: {error}") from error
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    resources = _resources(outputs, f"stack {name}")
    return LocatedStack(session=session, resources=resources)


def _resources(outputs: dict[str, str], where: str) -> Resources:
    try:
        return Resources.from_outputs(outputs)
    except (KeyError, TypeError) as error:
        raise LocateError(f"{where} has no output {error}; is it a segflow stack?") from error
