"""Build the CDK app exactly as the CLI would: cdk.json's context, the stage, cdk-nag."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks
from segflow import contexts
from segflow.declaration import (
    DATA_TABLES_CONTEXT,
    LAMBDA_ASSET_DIR,
    NODE_MODULES_CONTEXT,
    SAGEMAKER_ROLE_CONTEXT,
    SERVICE_NAME,
    UserResources,
)
from segflow.domain.limits import EXECUTION_DATA_RETENTION_DAYS

from segflow_infra.api_auth import ApiAuth
from segflow_infra.live_events import ACCOUNT_ROLE_CONTEXT, account_role_mode
from segflow_infra.paths import CDK_JSON, repo_path
from segflow_infra.stack import SegflowStack

DEFAULT_STAGE = "dev"
# What `cdk synth` turns on by default; set here too so that `python infra/app.py` writes the same template.
CLI_DEFAULT_CONTEXT: dict[str, Any] = {
    "aws:cdk:enable-path-metadata": True,
    "aws:cdk:enable-asset-metadata": True,
}
# The stage becomes part of resource names (stack, state machine, log groups, alarms, dashboard).
_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}")
_STAGE = re.compile(r"[a-z][a-z0-9-]{0,19}")
_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def load_cdk_context(cdk_json: Path = CDK_JSON) -> dict[str, Any]:
    """The ``context`` block of cdk.json (feature flags); the CLI applies it, a plain App does not."""
    return dict(json.loads(cdk_json.read_text())["context"])


def stack_name(stage: str) -> str:
    return f"{SERVICE_NAME}-{stage}"


def data_tables(get_context: Any) -> tuple[str, ...]:
    """``-c data_tables=orders,stock``: the user's DynamoDB tables nodes may read and write."""
    return contexts.names(get_context, DATA_TABLES_CONTEXT, contexts.TABLE_NAME, "a DynamoDB table name")


def user_resources(get_context: Any) -> UserResources:
    """The user's resources nodes may use, named in the contexts (see segflow.contexts)."""
    return contexts.user_resources(get_context)


def node_modules(get_context: Any, asset_dir: Path | None = None) -> tuple[str, ...]:
    """``-c node_modules=acme_nodes.scoring`` -> the modules that register custom node types, checked: each
    must be a module of the Lambda asset (``lambdas/``), or the deployed functions could not import it."""
    asset = asset_dir or repo_path(LAMBDA_ASSET_DIR)
    modules = contexts.names(get_context, NODE_MODULES_CONTEXT, _MODULE, "a Python module name")
    for module in modules:
        relative = Path(*module.split("."))
        if not (
            (asset / relative).with_suffix(".py").is_file() or (asset / relative / "__init__.py").is_file()
        ):
            raise ValueError(
                f"{NODE_MODULES_CONTEXT}: {module!r} is not in the Lambda asset: put it at "
                f"{LAMBDA_ASSET_DIR}/{relative}.py (or {LAMBDA_ASSET_DIR}/{relative}/__init__.py)"
            )
    return modules


def sagemaker_execution_role_arn(get_context: Any) -> str | None:
    """``-c sagemaker_execution_role_arn=arn:aws:iam::…:role/…``: the role deploy/model nodes pass to the
    SageMaker models they create (without it, a deploy node fails and says so)."""
    value = get_context(SAGEMAKER_ROLE_CONTEXT)
    if not value:
        return None
    if not _ROLE_ARN.fullmatch(str(value)):
        raise ValueError(f"{SAGEMAKER_ROLE_CONTEXT}: {value!r} is not an IAM role ARN")
    return str(value)


def retention_days(get_context: Any) -> int:
    """``-c retention_days=7``: how long execution records, checkpoints and outputs are kept."""
    value = get_context("retention_days")
    if value is None:
        return EXECUTION_DATA_RETENTION_DAYS
    try:
        days = int(value)
    except (TypeError, ValueError):
        days = 0
    if not 1 <= days <= 3650:
        raise ValueError(f"retention_days: {value!r} is not a number of days from 1 to 3650")
    return days


def build_app(
    *, context: dict[str, Any] | None = None, outdir: str | None = None, nag: bool = True
) -> tuple[cdk.App, SegflowStack]:
    """The app with one stack, ``segflow-<stage>``; ``context`` adds to (and overrides) cdk.json's.

    Context given on the CLI (``-c stage=prod``) reaches the app through CDK_CONTEXT_JSON and takes
    precedence over what is passed here. Keys: ``stage``, and the management API's authorization
    (``auth``, ``jwt_issuer``, ``jwt_audience``, ``tenant_claim``; see ``segflow_infra.api_auth``), and
    ``data_tables``: the user's DynamoDB tables data nodes may write and read (comma-separated names), and
    ``data_buckets``: the user's S3 buckets data_query may read objects of, and ``notification_topics``: the
    SNS topics (names) notification nodes may publish to, and
    ``retention_days``: how long execution data is kept (TTL and S3 lifecycle), and
    ``sagemaker_execution_role_arn``: the role deploy/model nodes pass to SageMaker, and
    ``invoke_functions``: your Lambda functions lambda_invoke nodes may call (comma-separated names), and
    ``node_modules``: the modules (in ``lambdas/``) that register custom node types, and
    ``egress_allow``, ``egress_deny``: the egress policy's lists for nodes' outbound HTTP calls (host names,
    ``*.domain``, addresses, CIDRs; see segflow.domain.egress), and
    ``api_gateway_account_role``: ``create`` (default), ``existing`` or ``none``: where the API Gateway
    account's CloudWatch Logs role the WebSocket stage's access logs need comes from (``none``: no such logs).
    """
    app = cdk.App(
        context={**CLI_DEFAULT_CONTEXT, **load_cdk_context(), **(context or {})},
        outdir=outdir,
        analytics_reporting=False,
    )
    stage = str(app.node.try_get_context("stage") or DEFAULT_STAGE)
    if not _STAGE.fullmatch(stage):
        raise ValueError(f"stage {stage!r} must match {_STAGE.pattern}")
    auth = ApiAuth.from_context(app.node.try_get_context)
    stack = SegflowStack(
        app,
        stack_name(stage),
        stage=stage,
        auth=auth,
        user_resources=user_resources(app.node.try_get_context),
        retention_days=retention_days(app.node.try_get_context),
        sagemaker_role_arn=sagemaker_execution_role_arn(app.node.try_get_context),
        node_modules=node_modules(app.node.try_get_context),
        egress=contexts.egress_lists(app.node.try_get_context),
        api_gateway_account_role=account_role_mode(app.node.try_get_context(ACCOUNT_ROLE_CONTEXT)),
    )
    if nag:
        # An unacknowledged AwsSolutions finding makes synth fail.
        cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app, stack
