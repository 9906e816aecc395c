"""Which stack and tenant a command talks to: the shared options (--endpoint, --stage, --tenant, --json),
their checks, and the management API connection."""

from __future__ import annotations

import argparse

from segflow.contracts import DEFAULT_TENANT
from segflow.domain.ids import TENANT_ID_RULE, is_tenant_id

from segflow_cli.api_client import ManagementApi, api_for
from segflow_cli.common import EXIT_INVALID, CliError
from segflow_cli.locate import DEFAULT_STAGE, LocatedStack, locate
from segflow_cli.rendering.text import warn


def add_target_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--endpoint",
        help="a local endpoint URL (segflow local up); default $SEGFLOW_ENDPOINT, else AWS",
    )
    parser.add_argument(
        "--stage",
        help=f"the deployed stage on AWS (stack segflow-<stage>); default $SEGFLOW_STAGE or {DEFAULT_STAGE}",
    )
    parser.add_argument(
        "--tenant",
        help=f"tenant id on a local endpoint (default: {DEFAULT_TENANT}); on AWS your identity decides",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def check_tenant(tenant: str | None) -> str:
    tenant = tenant or DEFAULT_TENANT
    if not is_tenant_id(tenant):
        raise CliError(f"--tenant {tenant!r}: {TENANT_ID_RULE}", EXIT_INVALID)
    return tenant


def check_version(value: int | None, option: str) -> None:
    if value is not None and value < 1:
        raise CliError(f"{option} {value}: versions start at 1", EXIT_INVALID)


def connect(args: argparse.Namespace) -> tuple[LocatedStack, ManagementApi]:
    """The stack and its management API, for the tenant the arguments name."""
    tenant = check_tenant(getattr(args, "tenant", None))
    stack = locate(args.endpoint, args.stage)
    if stack.endpoint is None and getattr(args, "tenant", None) not in (None, DEFAULT_TENANT):
        warn("warning: --tenant applies to local endpoints; on AWS the tenant comes from your identity")
    return stack, api_for(stack, tenant)
