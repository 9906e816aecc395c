"""``segflow local up``: the embedded local AWS as an endpoint on this machine, until Ctrl-C."""

from __future__ import annotations

import argparse
import os
import re
from typing import Any

from segflow_cli.common import EXIT_INVALID, EXIT_OK, CliError
from segflow_cli.rendering.text import emit

STAGE_PATTERN = re.compile(r"[a-z][a-z0-9-]{0,19}")


def _contexts(pairs: list[str]) -> tuple[Any, Any]:
    """``-c data_tables=a,b`` / ``-c egress_allow=…`` (repeatable): your resources and the egress policy's
    lists, checked as the stack checks its contexts."""
    from segflow import contexts

    known = (*contexts.USER_RESOURCE_CONTEXTS, *contexts.EGRESS_CONTEXTS)
    values: dict[str, str] = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator or key not in known:
            raise CliError(
                f"-c {pair!r}: expected KEY=VALUE[,VALUE…] with KEY one of {', '.join(known)}", EXIT_INVALID
            )
        values[key] = ",".join(filter(None, (values.get(key, ""), value)))
    try:
        return contexts.user_resources(values.get), contexts.egress_lists(values.get)
    except ValueError as error:
        raise CliError(f"-c {error}", EXIT_INVALID) from None


def cmd_local_up(args: argparse.Namespace) -> int:
    if not STAGE_PATTERN.fullmatch(args.stage):
        raise CliError(f"--stage {args.stage!r} must match {STAGE_PATTERN.pattern}", EXIT_INVALID)
    try:
        from segflow_local.server import LocalServerError, serve
    except ImportError as error:
        raise CliError(f"segflow local needs moto: pip install 'segflow[local]' ({error})") from None
    if args.fault_rate:
        if not 0 < args.fault_rate <= 0.5:
            raise CliError(f"--fault-rate {args.fault_rate} must be above 0 and at most 0.5", EXIT_INVALID)
        from segflow_local import fault_rates

        plan = fault_rates.every_fault(args.fault_rate, args.fault_seed, args.fault_log)
        os.environ[fault_rates.FAULT_RATES_ENV] = plan.model_dump_json()  # worker processes inherit it
    user_resources, egress = _contexts(args.context)
    try:
        serve(
            args.host,
            args.port,
            args.stage,
            args.verbose,
            announce=emit,
            isolation=args.isolation,
            user_resources=user_resources,
            egress=egress,
        )
    except LocalServerError as error:
        raise CliError(str(error)) from None
    return EXIT_OK


def add_commands(commands: Any) -> None:
    local = commands.add_parser("local", help="the embedded local AWS")
    local_commands = local.add_subparsers(dest="local_command", metavar="COMMAND", required=True)
    up = local_commands.add_parser("up", help="run the embedded AWS as a local endpoint until Ctrl-C")
    up.add_argument("--port", type=int, default=4566)
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--stage", default="local", help="resource name prefix (default: local)")
    up.add_argument("--verbose", action="store_true", help="log every request and handler")
    up.add_argument(
        "-c",
        "--context",
        action="append",
        default=[],
        metavar="KEY=NAMES",
        help="name your resources nodes may use, as `cdk deploy -c` does: data_tables, data_buckets, "
        "notification_topics, invoke_functions (comma-separated names; repeatable). Nodes are refused "
        "anything else, as on AWS. egress_allow, egress_deny: the egress policy's lists (hosts, CIDRs); "
        "locally loopback is allowed",
    )
    up.add_argument(
        "--isolation",
        choices=("thread", "process"),
        default="thread",
        help="run handlers in the server's threads (default, fastest) or one worker process per invocation "
        "(a killed or timed-out process fails the invoke as on Lambda: Runtime.ExitError, Sandbox.Timedout)",
    )
    up.add_argument(
        "--fault-rate",
        type=float,
        default=0.0,
        metavar="RATE",
        help="fail this fraction of calls as AWS does under load: the state machine's Lambda invokes "
        "throttled, the handlers' DynamoDB calls throttled and transactions in conflict, their S3 calls "
        "answered 500/503 (default 0: none)",
    )
    up.add_argument("--fault-seed", type=int, default=0, metavar="N", help="which calls fail (default 0)")
    up.add_argument(
        "--fault-log",
        metavar="FILE",
        help="append each injected fault to FILE, one JSON line, from every process",
    )
    up.set_defaults(handler=cmd_local_up)
