"""``segflow local up``: the embedded local AWS as an endpoint on this machine, until Ctrl-C."""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from segflow_cli.common import EXIT_INVALID, EXIT_OK, CliError
from segflow_cli.rendering.text import emit
from segflow_cli.target import check_tenant

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


def examples_directory(given: str) -> Path:
    directory = Path(given)
    if not (directory / "canary_rollback.json").is_file():
        raise CliError(
            f"{directory} is not segflow's examples directory (run from the repository?)", EXIT_INVALID
        )
    return directory.resolve()


def load_example_node_types(directory: Path) -> None:
    """examples/custom_nodes' node type for this endpoint's handlers (and worker processes), as
    ``PYTHONPATH=examples/custom_nodes SEGFLOW_NODE_MODULES=credit_nodes`` would."""
    from segflow.declaration import NODE_MODULES_ENV

    from segflow_local.example_data import EXAMPLE_NODE_MODULE, EXAMPLE_NODE_MODULE_DIR

    modules_dir = str(directory / EXAMPLE_NODE_MODULE_DIR)
    sys.path.insert(0, modules_dir)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, (modules_dir, os.environ.get("PYTHONPATH"))))
    named = [m for m in os.environ.get(NODE_MODULES_ENV, "").split(",") if m.strip()]
    os.environ[NODE_MODULES_ENV] = ",".join(dict.fromkeys([*named, EXAMPLE_NODE_MODULE]))


def cmd_local_prepare_examples(args: argparse.Namespace) -> int:
    """Prepare (again) what the examples need on a running ``segflow local up --examples``."""
    from segflow_cli.locate import ENDPOINT_ENV

    directory = examples_directory(args.examples)
    endpoint = args.endpoint or os.environ.get(ENDPOINT_ENV)
    if not endpoint:
        raise CliError("which endpoint? give --endpoint or set SEGFLOW_ENDPOINT", EXIT_INVALID)
    from segflow_local.example_data import EXAMPLE_NODE_MODULE, prepare_examples

    outputs = _endpoint_outputs(endpoint)
    if EXAMPLE_NODE_MODULE not in outputs.get("NodeModules", "").split(","):
        emit(
            "note: this endpoint was not started with --examples: custom_node and the examples' own "
            "tables, function and topic are refused there"
        )
    prepare_examples(endpoint.rstrip("/"), directory, check_tenant(args.tenant), emit)
    return EXIT_OK


def _endpoint_outputs(endpoint: str) -> dict[str, str]:
    from segflow_cli.locate import fetch_endpoint_outputs

    return fetch_endpoint_outputs(endpoint)


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
    on_ready: Callable[[str], None] | None = None
    if args.examples is not None:
        from segflow_local.example_data import EXAMPLE_USER_RESOURCES, prepare_examples

        directory = examples_directory(args.examples)
        user_resources = user_resources.add(EXAMPLE_USER_RESOURCES)
        load_example_node_types(directory)

        def on_ready(url: str) -> None:
            prepare_examples(url, directory, check_tenant(None), emit)

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
            on_ready=on_ready,
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
    up.add_argument(
        "--examples",
        nargs="?",
        const="examples",
        metavar="DIR",
        help="ready for every example in DIR (default: ./examples): their resources named, their custom node "
        "type loaded, then their data, function, model versions and answers, published versions prepared",
    )
    up.set_defaults(handler=cmd_local_up)

    prepare = local_commands.add_parser(
        "prepare-examples",
        help="prepare again what the examples need on a running `segflow local up --examples` (their data, "
        "function, model versions, the model and LLM answers, published versions)",
    )
    prepare.add_argument("examples", nargs="?", default="examples", metavar="DIR", help="default: ./examples")
    prepare.add_argument("--endpoint", help="the local endpoint (default $SEGFLOW_ENDPOINT)")
    prepare.add_argument("--tenant", help="the tenant that publishes (default: the local default)")
    prepare.set_defaults(handler=cmd_local_prepare_examples)
