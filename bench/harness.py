"""Runs one workflow under one design on the embedded AWS, and measures it.

One embedded AWS serves the whole benchmark: segflow is deployed as ``make demo`` deploys it, the baselines'
state machines beside it (invoking segflow's real functions where they can). Executions run one at a time, so
every Lambda invocation and AWS request between a case's start and its end belongs to that case.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from segflow import declaration
from segflow.adapters.execution_launcher import execution_name
from segflow.contracts import DEFAULT_TENANT
from segflow.domain import s3_layout
from segflow.domain.ids import qualified_execution_name
from segflow.domain.limits import EXECUTION_INPUT_INLINE_MAX_BYTES
from segflow.domain.plan import PartitionPlan
from segflow.dsl.validation import validate_workflow
from segflow.engine.partitioner import partition

from bench import costs, emulator, history, workflows
from bench.baselines import BASELINE_FUNCTIONS, asl
from bench.echo_server import EchoServer
from bench.invocations import InvocationRecorder, bench_function_arn
from bench.requests import RequestCounter
from segflow_local.embedded import EmbeddedAws
from segflow_local.lambda_invocation import local_function_arn
from segflow_local.provisioner import STATE_MACHINE_ROLE_ARN

DESIGNS = ("segflow", "choice_loop", "fat_statebag", "per_node")
DESIGN_LABELS = {
    "segflow": "segflow",
    "choice_loop": "choice loop",
    "fat_statebag": "fat statebag",
    "per_node": "one state per node",
}
TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
WARM_UP_NODES = 11


@dataclass(frozen=True)
class Case:
    design: str
    shape: str
    nodes: int
    output_bytes: int

    @property
    def label(self) -> str:
        return f"{self.design} {self.shape} {self.nodes:,} nodes, {self.output_bytes // 1024} KB outputs"


@dataclass
class CaseResult:
    case: Case
    status: str  # SUCCEEDED, FAILED, ABORTED (stopped by the bench), NOT_DEPLOYABLE
    verdict: str  # "ok", or why the design fails this workflow (a quota it breaks, an error)
    segments: int  # of segflow's partition of this workflow (the same workflow for every design)
    stages: int
    seconds: float | None = None
    events: int = 0
    transitions: int = 0
    largest_payload: int = 0
    largest_payload_where: str = ""
    bytes_between_states: int = 0
    lambda_invocations: int = 0
    lambda_seconds: float = 0.0
    lambda_gb_seconds: float = 0.0
    dynamodb_requests: int = 0
    dynamodb_write_units: float = 0.0
    dynamodb_read_units: float = 0.0
    s3_put_class: int = 0
    s3_get_class: int = 0
    definition_bytes: int | None = None
    calls: dict[str, int] = field(default_factory=dict)
    # segflow: planning this definition, done once before its measured run (which reads the plan, as every
    # later run of a published version does): (S3 objects written, seconds); None when it was planned already.
    planning: tuple[int, float] | None = None

    @property
    def ok(self) -> bool:
        return self.status == "SUCCEEDED" and self.verdict == "ok"

    @property
    def s3_requests(self) -> int:
        return self.s3_put_class + self.s3_get_class

    @property
    def cost(self) -> costs.Cost:
        return costs.per_thousand_executions(
            costs.ExecutionCounts(
                transitions=self.transitions,
                lambda_requests=self.lambda_invocations,
                lambda_gb_seconds=self.lambda_gb_seconds,
                dynamodb_write_units=self.dynamodb_write_units,
                dynamodb_read_units=self.dynamodb_read_units,
                s3_put_class=self.s3_put_class,
                s3_get_class=self.s3_get_class,
            )
        )


def segment_order_respects_dependencies(plan: PartitionPlan) -> bool:
    """The choice loop runs segments in manifest order: each must come after every segment it depends on."""
    position = {segment.segment_id: index for index, segment in enumerate(plan.segments)}
    return all(
        position[dependency] < position[segment.segment_id]
        for segment in plan.segments
        for dependency in segment.dependencies
    )


class Bench:
    def __init__(self, aws: EmbeddedAws) -> None:
        self.aws = aws
        self.sfn = aws.client("stepfunctions")
        self.s3 = aws.client("s3")
        self.bucket = aws.stack.bucket_names[declaration.DATA_BUCKET.logical_id]
        self.recorder = InvocationRecorder(aws.runtime, BASELINE_FUNCTIONS)
        self.recorder.install()
        self.requests = RequestCounter()
        self.requests.attach_handler_clients()
        stage = aws.runtime.stage
        self.arns = {logical_id: bench_function_arn(logical_id) for logical_id in BASELINE_FUNCTIONS}
        for spec in declaration.FUNCTIONS:
            self.arns[spec.logical_id] = local_function_arn(stage, spec)
        self.segflow_arn = aws.stack.state_machine_arns[declaration.WORKFLOW_STATE_MACHINE.logical_id]
        self._machines: dict[tuple[str, str, int], tuple[str | None, int]] = {}
        self._plans: dict[tuple[str, int], PartitionPlan] = {}
        self._workflows: dict[tuple[str, int], dict[str, Any]] = {}
        self._token = uuid.uuid4().hex[:6]  # several benches may share one embedded AWS (the test session)
        self._planned: set[tuple[str, int]] = set()
        self.echo = EchoServer().start()
        self.choice_loop_arn, _ = self._create(f"bench-choice-loop-{self._token}", asl.choice_loop(self.arns))

    def warm_up(self) -> None:
        """One small run per design first, so no measured run pays the handlers' first import (a workflow no
        case runs: every case's definition is planned by its own first run)."""
        for design in DESIGNS:
            self._run(Case(design, "linear", WARM_UP_NODES, 1024))

    def close(self) -> None:
        self.recorder.uninstall()
        self.echo.stop()

    def __enter__(self) -> Bench:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- workflows and state machines ---------------------------------------------------------------------

    def workflow(self, shape: str, nodes: int) -> dict[str, Any]:
        key = (shape, nodes)
        if key not in self._workflows:
            self._workflows[key] = workflows.build(shape, nodes)
        return self._workflows[key]

    def plan(self, shape: str, nodes: int) -> PartitionPlan:
        key = (shape, nodes)
        if key not in self._plans:
            graph = validate_workflow(self.workflow(shape, nodes))
            self._plans[key] = partition(graph, body_key_for=lambda segment_id: f"bodies/{segment_id}.json")
        return self._plans[key]

    def _create(self, name: str, definition: dict[str, Any]) -> tuple[str, int]:
        text = json.dumps(definition, separators=(",", ":"))
        arn = self.sfn.create_state_machine(name=name, definition=text, roleArn=STATE_MACHINE_ROLE_ARN)[
            "stateMachineArn"
        ]
        return arn, len(text.encode())

    def machine(self, case: Case) -> tuple[str | None, int | None]:
        """The state machine ARN for a case (None when its definition breaks the 1 MB quota), and its size."""
        if case.design == "segflow":
            return self.segflow_arn, None
        if case.design == "choice_loop":
            return self.choice_loop_arn, None
        key = (case.design, case.shape, case.nodes)
        if key not in self._machines:
            workflow = self.workflow(case.shape, case.nodes)
            if case.design == "fat_statebag":
                definition = asl.fat_statebag(self.plan(case.shape, case.nodes), self.arns)
            else:
                graph = validate_workflow(workflow)
                one_per_node = partition(
                    graph, body_key_for=lambda s: f"bodies/{s}.json", segment_budget_bytes=0
                )
                definition, _ = asl.per_node(one_per_node, workflow, self.arns)
            size = asl.definition_bytes(definition)
            if size > history.DEFINITION_LIMIT_BYTES:
                self._machines[key] = (None, size)
            else:
                name = f"bench-{case.design.replace('_', '-')}-{case.shape}-{case.nodes}-{self._token}"
                self._machines[key] = self._create(name, definition)
        return self._machines[key]

    # --- running ------------------------------------------------------------------------------------------

    def _upload(self, kind: str, document: Any) -> str:
        body = json.dumps(document, separators=(",", ":"), sort_keys=True).encode()
        key = s3_layout.submission_key(DEFAULT_TENANT, hashlib.sha256(body).hexdigest(), kind)
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json")
        return key

    def _start(self, arn: str, workflow: dict[str, Any], execution_input: dict[str, Any]) -> str:
        """The same StartExecution input for every design: the workflow by S3 key, the input inline or not."""
        request: dict[str, Any] = {
            "tenant_id": DEFAULT_TENANT,
            "workflow": {"s3_key": self._upload("workflows", workflow)},
        }
        if len(json.dumps(execution_input).encode()) <= EXECUTION_INPUT_INLINE_MAX_BYTES:
            request["input"] = execution_input
        else:
            request["input_ref"] = {"s3_key": self._upload("inputs", execution_input)}
        # <tenant>.<id>, as segflow's InitializeStateBag requires (the other designs take any name).
        name = qualified_execution_name(
            DEFAULT_TENANT, execution_name(DEFAULT_TENANT, workflow["workflow_id"])
        )
        return self.sfn.start_execution(stateMachineArn=arn, name=name, input=json.dumps(request))[
            "executionArn"
        ]

    def _wait(self, execution_arn: str, timeout_seconds: float) -> tuple[str, str | None, float]:
        """Wait for the end; stop the execution (as Step Functions would fail it) once its history passes
        25,000 events, or when the benchmark's time cap for the case is reached."""
        began = time.monotonic()
        next_count = began
        while True:
            status = self.sfn.describe_execution(executionArn=execution_arn)["status"]
            now = time.monotonic()
            if status in TERMINAL:
                return status, None, now - began
            if now >= next_count:
                next_count = now + 0.5
                events = emulator.history_length(execution_arn)
                if events > history.HISTORY_EVENT_LIMIT:
                    self._stop(execution_arn, "Bench.HistoryLimit")
                    return "ABORTED", "history", now - began
            if now - began > timeout_seconds:
                self._stop(execution_arn, "Bench.TimeCap")
                return "ABORTED", "time", now - began
            time.sleep(0.1)

    def _stop(self, execution_arn: str, error: str) -> None:
        self.sfn.stop_execution(executionArn=execution_arn, error=error)
        deadline = time.monotonic() + 60
        while self.recorder.in_flight and time.monotonic() < deadline:  # let running tasks finish
            time.sleep(0.05)

    def run(self, case: Case, timeout_seconds: float = 600) -> CaseResult:
        """The case's measured run. segflow plans a definition once (content-addressed plans): its first run
        is kept beside the measured one, which reads the plan like every later run of a published version."""
        planning = None
        if case.design == "segflow" and (case.shape, case.nodes) not in self._planned:
            planning = self._plan_definition(case)
            self._planned.add((case.shape, case.nodes))
        result = self._run(case, timeout_seconds)
        result.planning = planning
        return result

    def _plan_definition(self, case: Case) -> tuple[int, float]:
        """InitializeStateBag invoked alone with the case's definition, as its first execution invokes it: it
        validates, partitions and stores the plan. Returns (S3 objects it wrote, seconds)."""
        workflow = self.workflow(case.shape, case.nodes)
        request = {"tenant_id": DEFAULT_TENANT, "workflow": {"s3_key": self._upload("workflows", workflow)}}
        name = qualified_execution_name(
            DEFAULT_TENANT, execution_name(DEFAULT_TENANT, workflow["workflow_id"])
        )
        event = {
            "request": request,
            "execution_name": name,
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        }
        self.requests.reset()
        began = time.monotonic()
        answer = self.recorder.invoke(
            self.arns[declaration.INITIALIZE_STATE_BAG.logical_id], json.dumps(event).encode()
        )
        seconds = time.monotonic() - began
        if answer.function_error:
            raise RuntimeError(f"planning {case.label} failed: {answer.payload[:500]!r}")
        return self.requests.snapshot().s3_put_class, seconds

    def _run(self, case: Case, timeout_seconds: float = 600) -> CaseResult:
        plan = self.plan(case.shape, case.nodes)
        result = CaseResult(case, "NOT_RUN", "", segments=len(plan.segments), stages=len(plan.stages))
        if case.design == "choice_loop" and not segment_order_respects_dependencies(plan):
            result.verdict = "manifest order breaks a dependency: the loop cannot run it"
            return result
        arn, definition_size = self.machine(case)
        result.definition_bytes = definition_size
        if arn is None:
            result.status = "NOT_DEPLOYABLE"
            result.verdict = (
                f"definition {definition_size / 1_048_576:.1f} MB > 1 MB quota"
                if definition_size
                else "not deployable"
            )
            return result

        self.recorder.reset()
        self.requests.reset()
        execution_arn = self._start(
            arn, self.workflow(case.shape, case.nodes), workflows.blob_input(case.output_bytes, self.echo.url)
        )
        status, stopped_for, seconds = self._wait(execution_arn, timeout_seconds)
        while self.recorder.in_flight:
            time.sleep(0.05)
        log = self.recorder.snapshot()
        counts = self.requests.snapshot()
        metrics = history.measure(emulator.history_events(execution_arn))

        visible_tasks = sum(metrics.visible_lambda_tasks.values())
        hidden_children = max(0, log.invocations - visible_tasks)  # Distributed Map children: own histories
        lambda_bytes = sum(log.event_bytes.values()) + sum(log.result_bytes.values())
        result.status = status
        result.seconds = metrics.seconds if metrics.seconds is not None else seconds
        result.events = metrics.events
        result.transitions = metrics.transitions + hidden_children
        result.largest_payload = max(metrics.largest_payload, log.max_event_bytes, log.max_result_bytes)
        result.largest_payload_where = (
            metrics.largest_payload_where
            if metrics.largest_payload >= max(log.max_event_bytes, log.max_result_bytes)
            else "a Lambda event or result"
        )
        result.bytes_between_states = metrics.bytes_between_states + max(
            0, lambda_bytes - metrics.lambda_payload_bytes
        )
        result.lambda_invocations = log.invocations
        result.lambda_seconds = sum(log.seconds.values())
        result.lambda_gb_seconds = log.gb_seconds
        result.dynamodb_requests = counts.dynamodb_requests
        result.dynamodb_write_units = counts.dynamodb_write_units
        result.dynamodb_read_units = counts.dynamodb_read_units
        result.s3_put_class = counts.s3_put_class
        result.s3_get_class = counts.s3_get_class + metrics.map_runs  # each ItemReader reads its items once
        result.calls = dict(counts.calls)

        over = max(log.max_event_bytes, log.max_result_bytes)
        if metrics.first_breach or over > history.PAYLOAD_LIMIT_BYTES:
            where = metrics.first_breach or f"a Lambda event or result of {over:,} B"
            result.verdict = f"payload over 256 KB: {where}"
        elif stopped_for == "history" or metrics.over_event_limit:
            result.verdict = f"history over 25,000 events (stopped at {metrics.events:,})"
        elif stopped_for == "time":
            result.verdict = f"not finished within the bench's {timeout_seconds:.0f} s cap"
        elif (metrics.failure or "").startswith("States.DataLimitExceeded"):
            result.verdict = f"payload over 256 KB: {metrics.failure}"
        elif status != "SUCCEEDED":
            result.verdict = f"{status}: {metrics.failure or ''}"[:200]
        else:
            result.verdict = "ok"
        return result
