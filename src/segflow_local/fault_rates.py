"""Fault injection at a chosen rate: a fraction of AWS calls answered with the errors AWS answers under load.

Lambda throttling (429 ``TooManyRequestsException``), DynamoDB throttling (400
``ProvisionedThroughputExceededException`` / ``ThrottlingException``) and transaction conflicts (400
``TransactionCanceledException`` with one item's reason ``TransactionConflict``), S3 5xx (500
``InternalError``, 503 ``SlowDown``): status, headers and body as the service sends them, so botocore parses
them into the error a handler sees and its retry mode retries them, or not, as it would in AWS.

Which calls: those a segflow handler makes (:mod:`segflow_local.sandbox`), and the Step Functions
interpreter's Lambda invokes of Tasks (that is how Lambda throttling reaches a state machine; the interpreter
makes a client per Task, without retries, and the state machine's Retry decides). Never a test's or the CLI's
own calls, nor the interpreter's other calls.

A plan (:class:`FaultRates`) lists rules: a kind of fault, a rate, optionally the operations, callers and
errors it is limited to. Each rule fails that fraction of the calls it matches, spread evenly (one in every
``1 / rate`` calls, at places the seed picks: :class:`_Schedule`), so a test meets the same number of faults
on every run however its threads interleave, and seldom two in a row.

Turned on in-process by :func:`injecting`; in ``segflow local up`` by ``$SEGFLOW_LOCAL_FAULT_RATES`` (a
plan's JSON or a path to one; ``--fault-rate``, ``--fault-seed``, ``--fault-log`` set it), which worker
processes inherit. The botocore handlers are registered on import, before clients exist, and do nothing while
no plan is active.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import botocore.handlers
from botocore.awsrequest import AWSResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from segflow_local import sandbox

FAULT_RATES_ENV = "SEGFLOW_LOCAL_FAULT_RATES"

Kind = Literal["lambda_throttling", "dynamodb_throttling", "transaction_conflict", "s3_5xx"]
ErrorCode = Literal[
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "TransactionConflict",
    "InternalError",
    "SlowDown",
]
Caller = Literal["handler", "state_machine"]

# Each kind's service and the errors it answers with (one per fault, in an order the seed picks).
KINDS: dict[Kind, tuple[str, tuple[ErrorCode, ...]]] = {
    "lambda_throttling": ("lambda", ("TooManyRequestsException",)),
    "dynamodb_throttling": ("dynamodb", ("ProvisionedThroughputExceededException", "ThrottlingException")),
    "transaction_conflict": ("dynamodb", ("TransactionConflict",)),
    "s3_5xx": ("s3", ("InternalError", "SlowDown")),
}
STATUS = {
    "TooManyRequestsException": 429,
    "ProvisionedThroughputExceededException": 400,
    "ThrottlingException": 400,
    "TransactionConflict": 400,  # a TransactionCanceledException
    "InternalError": 500,
    "SlowDown": 503,
}


class FaultRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Kind
    rate: float = Field(ge=0, le=1)
    operations: list[str] = Field(
        default_factory=list,
        description="empty: Invoke for Lambda, TransactWriteItems for conflicts, every operation otherwise",
    )
    callers: list[Caller] = Field(
        default_factory=list, description="empty: the state machine for Lambda, the handlers otherwise"
    )
    errors: list[ErrorCode] = Field(default_factory=list, description="empty: every error of the kind")

    @property
    def service(self) -> str:
        return KINDS[self.kind][0]

    @model_validator(mode="after")
    def _fits_the_kind(self) -> FaultRule:
        lambda_kind = self.kind == "lambda_throttling"
        if self.kind == "transaction_conflict" and self.operations not in ([], ["TransactWriteItems"]):
            raise ValueError("a TransactionConflict cancels TransactWriteItems only")
        if lambda_kind and self.operations not in ([], ["Invoke"]):
            raise ValueError("Lambda throttling answers Invoke only")
        if not self.operations and self.kind in ("transaction_conflict", "lambda_throttling"):
            self.operations = ["Invoke"] if lambda_kind else ["TransactWriteItems"]
        if not self.callers:
            self.callers = ["state_machine"] if lambda_kind else ["handler"]
        if "state_machine" in self.callers and not lambda_kind:
            raise ValueError("the state machine's only calls faults reach are its Lambda invokes")
        allowed = KINDS[self.kind][1]
        if any(error not in allowed for error in self.errors):
            raise ValueError(f"{self.kind} answers {', '.join(allowed)}")
        if not self.errors:
            self.errors = list(allowed)
        return self

    def matches(self, service: str, operation: str, caller: str) -> bool:
        wanted = not self.operations or operation in self.operations
        return self.service == service and wanted and caller in self.callers


class FaultRates(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seed: int = 0
    rules: list[FaultRule]
    log: str | None = Field(None, description="a file each injected fault is appended to (other processes)")


def every_fault(rate: float, seed: int = 0, log: str | None = None) -> FaultRates:
    """Every kind at ``rate``: that fraction of the state machine's Lambda invokes throttled, of the
    handlers' DynamoDB calls throttled, of their transactions cancelled by a conflict, of their S3 calls
    answered 500 or 503."""
    kinds: list[Kind] = ["lambda_throttling", "dynamodb_throttling", "transaction_conflict", "s3_5xx"]
    return FaultRates(seed=seed, rules=[FaultRule(kind=kind, rate=rate) for kind in kinds], log=log)


def describe(plan: FaultRates) -> str:
    """One line for people: which faults, how often."""
    rules = ", ".join(f"{rule.kind} {rule.rate:.0%}" for rule in plan.rules)
    return f"injecting faults: {rules} (seed {plan.seed})"


def _unit(*parts: object) -> float:
    """A number in [0, 1) fixed by ``parts``."""
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


class _Schedule:
    """One rule's faults, spread evenly: the k-th falls on call ``floor((k + u_k) / rate)`` of the rule's
    matching calls, ``u_k`` in [0, 1) drawn from the seed. So any ``1 / rate`` consecutive calls hold one
    fault, and a rule rarely fails more than two calls in a row (rate up to 1/2): nothing a retry policy
    meant for the rate cannot absorb. A fault due on a call another rule failed moves to the next call."""

    def __init__(self, rate: float, salt: str) -> None:
        self.rate = rate
        self.salt = salt
        self.calls = 0
        self.served = 0

    def _position(self, k: int) -> float:
        return math.floor((k + _unit(self.salt, k)) / self.rate) if self.rate > 0 else math.inf

    def count_call(self) -> bool:
        """Count one matching call; True when a fault is due on it."""
        self.calls += 1
        return self._position(self.served) < self.calls

    def serve(self) -> float:
        """The fault due is injected; returns a number in [0, 1) that picks its variant."""
        self.served += 1
        return _unit(self.salt, self.served, "variant")


class _Body:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data

    def read(self, *_: Any) -> bytes:
        return self._data


class RateInjector:
    """One active plan: decides which calls fail and counts what it injected."""

    def __init__(self, plan: FaultRates, stream: str = "") -> None:
        self.plan = plan
        self._lock = threading.Lock()
        self._schedules = [
            _Schedule(rule.rate, f"{plan.seed}/{stream}/{position}")
            for position, rule in enumerate(plan.rules)
        ]
        self.counts: Counter[tuple[str, str, str]] = Counter()  # (service, operation, error) -> injected
        self.eligible: Counter[str] = Counter()  # service -> calls the plan could have failed

    def by_error(self) -> dict[str, int]:
        totals: Counter[str] = Counter()
        for (_, _, error), count in self.counts.items():
            totals[error] += count
        return dict(totals)

    def by_kind(self) -> dict[str, int]:
        totals: Counter[str] = Counter()
        for error, count in self.by_error().items():
            totals[next(kind for kind, (_, errors) in KINDS.items() if error in errors)] += count
        return dict(totals)

    def decide(self, service: str, operation: str, caller: str) -> tuple[str, float] | None:
        """The error this call gets and a number in [0, 1) for its details; None: the call goes through."""
        chosen: tuple[str, float] | None = None
        with self._lock:
            self.eligible[service] += 1
            for rule, schedule in zip(self.plan.rules, self._schedules, strict=True):
                if not rule.matches(service, operation, caller):
                    continue
                if schedule.count_call() and chosen is None:
                    variant = schedule.serve()
                    error = rule.errors[min(len(rule.errors) - 1, int(variant * len(rule.errors)))]
                    chosen = (error, _unit(variant, "detail"))
            if chosen is not None:
                self.counts[(service, operation, chosen[0])] += 1
        if chosen is not None and self.plan.log:
            line = json.dumps({"service": service, "operation": operation, "error": chosen[0]})
            with self._lock, open(self.plan.log, "a") as log:
                log.write(line + "\n")
        return chosen

    def answer(self, request: Any, service: str, operation: str, caller: str) -> AWSResponse | None:
        decision = self.decide(service, operation, caller)
        if decision is None:
            return None
        error, detail = decision
        if service == "lambda":
            headers, body = _lambda_error(error, detail)
        elif service == "dynamodb":
            headers, body = _dynamodb_error(error, detail, request)
        else:
            headers, body = _s3_error(error, request)
        setattr(request, _ANSWERED, True)
        return AWSResponse(request.url, STATUS[error], headers, _Body(body))


# botocore calls every ``before-send`` handler and sends the first answer: the ones after the injector (the
# in-process Lambda hook, moto's in-process mock) must leave a request it failed alone, or the call it
# refused would still run (a throttled invoke run the function, a cancelled transaction write).
_ANSWERED = "segflow_fault_injected"


def injected(request: Any) -> bool:
    """The injector answered this request: nothing else may act on it."""
    return bool(getattr(request, _ANSWERED, False))


def _lambda_error(error: str, variant: float) -> tuple[dict[str, str], bytes]:
    # A function's reserved concurrency, or the account's, is used up.
    reason = "ReservedFunctionConcurrentInvocationLimitExceeded"
    if variant >= 0.5:
        reason = "ConcurrentInvocationLimitExceeded"
    headers = {
        "Content-Type": "application/json",
        "x-amzn-ErrorType": error,
        "x-amzn-RequestId": str(uuid.uuid4()),
    }
    return headers, json.dumps({"Reason": reason, "Type": "User", "message": "Rate Exceeded."}).encode()


_DYNAMODB_MESSAGES = {
    "ProvisionedThroughputExceededException": (
        "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
        "The level of configured provisioned throughput for the table was exceeded. Consider increasing your "
        "provisioning level with the UpdateTable API.",
    ),
    "ThrottlingException": (
        "com.amazon.coral.availability#ThrottlingException",
        "Rate of requests exceeds the allowed throughput.",
    ),
}


def _dynamodb_error(error: str, variant: float, request: Any) -> tuple[dict[str, str], bytes]:
    headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": str(uuid.uuid4())}
    if error != "TransactionConflict":
        error_type, message = _DYNAMODB_MESSAGES[error]
        return headers, json.dumps({"__type": error_type, "message": message}).encode()
    body = request.body or b"{}"
    items = len(json.loads(body).get("TransactItems") or [None])
    conflicting = min(items - 1, int(variant * items))
    reasons: list[dict[str, str]] = [{"Code": "None"} for _ in range(items)]
    reasons[conflicting] = {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item."}
    codes = ", ".join(r["Code"] for r in reasons)
    answer = {
        "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
        "CancellationReasons": reasons,
        "Message": f"Transaction cancelled, please refer cancellation reasons for specific reasons [{codes}]",
    }
    return headers, json.dumps(answer).encode()


_S3_MESSAGES = {
    "InternalError": "We encountered an internal error. Please try again.",
    "SlowDown": "Please reduce your request rate.",
}


def _s3_error(error: str, request: Any) -> tuple[dict[str, str], bytes]:
    request_id = uuid.uuid4().hex[:16].upper()
    headers = {"Content-Type": "application/xml", "x-amz-request-id": request_id, "x-amz-id-2": request_id}
    if request.method == "HEAD":  # S3 answers HEAD errors without a body
        return headers, b""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{error}</Code><Message>{_S3_MESSAGES[error]}</Message>"
        f"<RequestId>{request_id}</RequestId><HostId>{request_id}</HostId></Error>"
    )
    return headers, body.encode()


# --- wiring into botocore ----------------------------------------------------------------------------------

_lock = threading.Lock()
_active: RateInjector | None = None
_installed = False
_state_machine_patched = False
# botocore calls more specific events' handlers first, and these are registered first: the injector answers
# before moto's in-process mock (generic ``before-send``) and the in-process Lambda hook (same event).
_HANDLER_EVENTS = ("before-send.dynamodb", "before-send.s3", "before-send.lambda.Invoke")


def _on_handler_call(request: Any, event_name: str, **_: Any) -> AWSResponse | None:
    injector = _active
    if injector is None or sandbox.current() is None:
        return None
    _event, service, operation = event_name.split(".", 2)
    return injector.answer(request, service, operation, "handler")


def _on_state_machine_invoke(request: Any, **_: Any) -> AWSResponse | None:
    injector = _active
    if injector is None:
        return None
    return injector.answer(request, "lambda", "Invoke", "state_machine")


def _register_with_botocore() -> None:
    global _installed
    with _lock:
        if not _installed:
            for event in _HANDLER_EVENTS:
                spec = (event, _on_handler_call, botocore.handlers.REGISTER_FIRST)
                botocore.handlers.BUILTIN_HANDLERS.append(spec)
            _installed = True


def install(state_machine: bool = True) -> None:
    """Make sure botocore carries the injector (done on import: before any client is made) and, unless
    ``state_machine`` is False (a worker process runs handlers only, and no moto), every Lambda client moto's
    interpreter makes for a Task, and that moto's in-process mock ignores the requests it fails."""
    global _state_machine_patched
    _register_with_botocore()
    with _lock:
        if state_machine and not _state_machine_patched:
            _mock_leaves_injected_requests_alone()
            _patch_state_machine_lambda_clients()
            _state_machine_patched = True


def _mock_leaves_injected_requests_alone() -> None:
    from moto.core.botocore_stubber import BotocoreStubber

    original = BotocoreStubber.__call__

    def __call__(self: Any, event_name: str, request: Any, **kwargs: Any) -> Any:
        return None if injected(request) else original(self, event_name, request, **kwargs)

    BotocoreStubber.__call__ = __call__  # type: ignore[method-assign]  # patching moto


def _patch_state_machine_lambda_clients() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    original = lambda_eval_utils.boto_client_for  # type: ignore[attr-defined]  # imported, not exported, there

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        client = original(region=region, service=service, state_credentials=state_credentials)
        if service == "lambda":
            # Once per client: moto_patches hands every Task the same client.
            client.meta.events.register_first(
                "before-send.lambda.Invoke", _on_state_machine_invoke, unique_id="segflow-fault-rates"
            )
        return client

    lambda_eval_utils.boto_client_for = boto_client_for  # type: ignore[attr-defined]  # imported, not exported, there


def activate(plan: FaultRates, stream: str = "", state_machine: bool = True) -> RateInjector:
    """Start failing calls by ``plan`` (``stream`` varies the draws between processes sharing a seed)."""
    global _active
    install(state_machine)
    injector = RateInjector(plan, stream)
    with _lock:
        _active = injector
    return injector


def deactivate() -> None:
    global _active
    with _lock:
        _active = None


@contextmanager
def injecting(plan: FaultRates) -> Iterator[RateInjector]:
    """Faults by ``plan`` inside the block (in-process embedded AWS)."""
    injector = activate(plan)
    try:
        yield injector
    finally:
        deactivate()


def plan_from_environment() -> FaultRates | None:
    value = os.environ.get(FAULT_RATES_ENV, "").strip()
    if not value:
        return None
    text = value if value.startswith("{") else Path(value).read_text()
    return FaultRates.model_validate_json(text)


def activate_from_environment(stream: str = "", state_machine: bool = True) -> RateInjector | None:
    """``segflow local up`` and its worker processes: the plan in ``$SEGFLOW_LOCAL_FAULT_RATES``, if any."""
    plan = plan_from_environment()
    return activate(plan, stream, state_machine) if plan is not None else None


def logged(log_path: Path) -> dict[str, int]:
    """What a plan's log recorded, across processes: injected faults per error."""
    totals: Counter[str] = Counter()
    if log_path.exists():
        for line in log_path.read_text().splitlines():
            if line.strip():
                totals[json.loads(line)["error"]] += 1
    return dict(totals)


_register_with_botocore()
