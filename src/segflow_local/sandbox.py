"""Each local invocation runs as its function would in Lambda: its own environment and its own IAM policy.

One process hosts every function locally (threads), so what Lambda separates by sandbox is separated here by
a context variable holding the running function's identity:

- ``os.environ`` becomes a view that, inside an invocation, shows exactly the function's environment (what the
  stack sets, plus what the Lambda runtime itself sets) and nothing of the process's or other functions';
- every AWS call made inside an invocation is checked against the function's policy as it deploys (actions,
  resource ARNs, conditions) and refused the way the service refuses it: AccessDenied, naming the role's
  session (the function) and the action, as AWS's message does. An S3 read of a missing key without
  ``s3:ListBucket`` answers 403, not 404, as S3 does.

A function may assume a role the stack declares for it (the node role, per tenant, with session tags): the
AssumeRole call is checked against the function's policy and the role's trust, and every call signed with the
session's credentials is then checked against the role's policy, its policy variables taking the session's
tags (``${aws:PrincipalTag/tenant}``), whoever runs.

Threads a handler starts through ``concurrent.futures`` inherit the invocation's identity.
"""

from __future__ import annotations

import contextvars
import os
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

import botocore.handlers
from botocore.awsrequest import AWSResponse

from segflow_local.iam_policy import AuthorizationRequest, Policy
from segflow_local.iam_requests import CallSite, UnmappedOperation, authorizations

# What the process passes to every function: the embedded cloud's endpoint and credentials stand for the
# network and the role credentials Lambda injects; MOTO_ and SEGFLOW_LOCAL_ configure the emulator itself.
# Where Lambda's runtime API listens in every function (a node's call there is refused: the egress policy).
LAMBDA_RUNTIME_API = "127.0.0.1:9001"
_PASSED_THROUGH = ("PATH", "HOME", "LANG", "TMPDIR", "TZ", "PYTHONPATH", "PYTHONHASHSEED", "TEST_SERVER_MODE")
_PASSED_THROUGH_PREFIXES = ("AWS_ENDPOINT_URL", "MOTO_", "SEGFLOW_LOCAL_")
_CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")

# How each service words a refusal: (error code, HTTP status).
_DENIAL_SHAPES: dict[str, tuple[str, int]] = {
    "s3": ("AccessDenied", 403),
    "sns": ("AuthorizationError", 403),
    "sts": ("AccessDenied", 403),
    "lambda": ("AccessDeniedException", 403),
    "bedrock-runtime": ("AccessDeniedException", 403),
    "apigatewaymanagementapi": ("ForbiddenException", 403),
}
_DEFAULT_DENIAL = ("AccessDeniedException", 400)


@dataclass(frozen=True)
class AssumableRole:
    """A role of the stack that functions assume (locally: its ARN, policy and trust)."""

    logical_id: str
    role_arn: str
    policy: Policy
    trusted_functions: frozenset[str]  # logical ids of the functions whose roles it trusts
    trust: Policy  # the trust statements, less their principals, for the AssumeRole request's conditions

    @property
    def role_name(self) -> str:
        return self.role_arn.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class FunctionIdentity:
    """Who runs: the function's name, its role and policy, and the environment the stack gives it."""

    logical_id: str
    function_name: str
    role_name: str
    account: str
    region: str
    policy: Policy
    environment: dict[str, str]
    # The roles of the stack this function may assume (the node role), as they are now: registered for the
    # invocation, in whichever process runs it.
    assumable_roles: tuple[AssumableRole, ...] = ()
    # The partition key attribute of each table it may reach, and of their indexes (table -> index or "" ->
    # attribute): what IAM knows as dynamodb:LeadingKeys, carried along for worker processes, which have no
    # DynamoDB of their own to ask.
    partition_keys: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def principal(self) -> str:
        """The caller AWS names in a refusal: the role's session, which Lambda names after the function."""
        return f"arn:aws:sts::{self.account}:assumed-role/{self.role_name}/{self.function_name}"


@dataclass(frozen=True)
class AssumedSession:
    """Credentials STS handed out for a role: who they act as, and the session's tags."""

    role_arn: str
    session_name: str
    tags: tuple[tuple[str, str], ...]
    account: str

    @property
    def role(self) -> AssumableRole:
        """The role as the stack declares it now (a session's permissions are its role's, as they change)."""
        return _roles[self.role_arn]

    @property
    def principal(self) -> str:
        return f"arn:aws:sts::{self.account}:assumed-role/{self.role.role_name}/{self.session_name}"

    @property
    def context(self) -> dict[str, str | tuple[str, ...]]:
        return {f"aws:PrincipalTag/{key}": value for key, value in self.tags}


@dataclass(frozen=True)
class Denial:
    function: str  # logical id
    action: str
    resource: str
    message: str


@dataclass
class AccessLog:
    """What was refused (always) and, while ``recording``, every (function, action) that was allowed."""

    denials: list[Denial] = field(default_factory=list)
    allowed: set[tuple[str, str]] = field(default_factory=set)
    recording: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def deny(self, denial: Denial) -> None:
        with self._lock:
            self.denials.append(denial)
            del self.denials[:-1000]

    def allow(self, function: str, action: str) -> None:
        if self.recording:
            with self._lock:
                self.allowed.add((function, action))


ACCESS_LOG = AccessLog()
_roles: dict[str, AssumableRole] = {}  # by role ARN
_sessions: dict[str, AssumedSession] = {}  # by access key id
_sessions_lock = threading.Lock()


def register_role(role: AssumableRole) -> None:
    """Make a role of the stack assumable (by the functions it trusts)."""
    _roles[role.role_arn] = role


def session_of(access_key_id: str) -> AssumedSession | None:
    return _sessions.get(access_key_id)


def partition_keys_of(tables: Iterable[str], account: str, region: str) -> dict[str, dict[str, str]]:
    """The partition key attribute of each of ``tables`` of the embedded DynamoDB ("" for the table, an
    index's name for its own); tables that do not exist are left out."""
    from moto.dynamodb.models import dynamodb_backends

    backend = dynamodb_backends[account][region]
    keys: dict[str, dict[str, str]] = {}
    for name in tables:
        table = backend.tables.get(name)
        if table is None:
            continue
        keys[name] = {"": str(table.hash_key_attr)}
        for index in table.indexes + table.global_indexes:
            hashed = [k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"]
            if hashed:
                keys[name][index.name] = str(hashed[0])
    return keys


def _partition_key(table: str, index: str | None) -> str | None:
    """The partition key attribute of a table (or one of its indexes): as the running function's identity
    carries it, else as the embedded DynamoDB of this process says."""
    name = table.rsplit("/", 1)[-1]
    identity = _current.get()
    known = identity.partition_keys if identity is not None else {}
    if name not in known:
        account = identity.account if identity is not None else "123456789012"
        region = identity.region if identity is not None else "us-east-1"
        known = partition_keys_of([name], account, region)  # a worker process has none: unknown
    return known.get(name, {}).get(index or "")


_current: contextvars.ContextVar[FunctionIdentity | None] = contextvars.ContextVar(
    "segflow_local_function", default=None
)
_P = ParamSpec("_P")
_T = TypeVar("_T")
# The real one, kept when os.environ becomes the scoped view.
_process_environ: MutableMapping[str, str] = os.environ


def current() -> FunctionIdentity | None:
    return _current.get()


def process_environ() -> MutableMapping[str, str]:
    """The process's own environment, whoever is running (for the emulator's own settings)."""
    return _process_environ


def lambda_environment(identity: FunctionIdentity, memory_mb: int, handler: str) -> dict[str, str]:
    """What a function sees in ``os.environ``: the runtime's variables, then the stack's."""
    passed = {
        key: value
        for key, value in _process_environ.items()
        if key in _PASSED_THROUGH or key in _CREDENTIALS or key.startswith(_PASSED_THROUGH_PREFIXES)
    }
    runtime = {
        "AWS_REGION": identity.region,
        "AWS_DEFAULT_REGION": identity.region,
        "AWS_LAMBDA_FUNCTION_NAME": identity.function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{identity.function_name}",
        "AWS_LAMBDA_RUNTIME_API": LAMBDA_RUNTIME_API,
        "_HANDLER": handler,
    }
    return {**passed, **runtime, **identity.environment}


class ScopedEnviron(MutableMapping[str, str]):
    """``os.environ`` as the running function sees it (the process's own outside any invocation)."""

    def __init__(self, process: MutableMapping[str, str]) -> None:
        self._process = process
        self._scoped: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
            "segflow_local_environ", default=None
        )

    def _target(self) -> MutableMapping[str, str]:
        scoped = self._scoped.get()
        return self._process if scoped is None else scoped

    def __getitem__(self, key: str) -> str:
        return self._target()[key]

    def __setitem__(self, key: str, value: str) -> None:
        self._target()[key] = value

    def __delitem__(self, key: str) -> None:
        del self._target()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._target()))

    def __len__(self) -> int:
        return len(self._target())

    def copy(self) -> dict[str, str]:
        return dict(self._target())

    def __repr__(self) -> str:
        return f"ScopedEnviron({dict(self._target())!r})"


_install_lock = threading.Lock()
_installed = False


def install() -> None:
    """Make ``os.environ`` scoped, check every AWS call made inside an invocation, and let executor threads
    inherit the invocation. Idempotent; call before any boto3 client is created."""
    global _installed
    with _install_lock:
        if _installed:
            return
        # Replaced, not cleared: outside an invocation the view shows the process's own environment.
        os.environ = ScopedEnviron(_process_environ)  # type: ignore[assignment]  # a view, no os._Environ  # noqa: B003
        botocore.handlers.BUILTIN_HANDLERS.extend(
            [
                ("before-parameter-build", _keep_params),
                ("before-call", _authorize),
                ("after-call.s3", _hide_missing_keys),
                ("after-call.sts.AssumeRole", _remember_session),
            ]
        )
        _propagate_into_thread_pools()
        _installed = True


_pools_lock = threading.Lock()
_pools_patched = False


def _propagate_into_thread_pools() -> None:
    """``ThreadPoolExecutor.submit`` carries the submitter's identity into the task (idempotent)."""
    global _pools_patched
    if _pools_patched:
        return
    with _pools_lock:
        if _pools_patched:
            return
        original_submit = ThreadPoolExecutor.submit

        def submit(
            self: Executor, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs
        ) -> Future[_T]:
            if _current.get() is None:
                return original_submit(self, fn, *args, **kwargs)
            run_in_copy: Callable[..., _T] = contextvars.copy_context().run
            return original_submit(self, run_in_copy, fn, *args, **kwargs)

        ThreadPoolExecutor.submit = submit  # type: ignore[method-assign]  # patched on purpose
        _pools_patched = True


@contextmanager
def running_as(
    identity: FunctionIdentity | None, environment: dict[str, str] | None = None
) -> Iterator[None]:
    """Run the body as ``identity`` (None: as no function, e.g. a user's own function or the test itself)."""
    _propagate_into_thread_pools()
    for role in identity.assumable_roles if identity is not None else ():
        register_role(role)
    environ = os.environ
    token = _current.set(identity)
    env_token = (
        environ._scoped.set(environment if identity is not None else None)
        if isinstance(environ, ScopedEnviron)
        else None
    )
    try:
        yield
    finally:
        if env_token is not None and isinstance(environ, ScopedEnviron):
            environ._scoped.reset(env_token)
        _current.reset(token)


# --- the botocore hooks -----------------------------------------------------------------------------------

_PARAMS_KEY = "segflow_local_params"
_CALLER_KEY = "segflow_local_caller"


def _keep_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    if _current.get() is not None or _sessions:
        context[_PARAMS_KEY] = dict(params)


@dataclass(frozen=True)
class _Caller:
    """Whom one call is checked as: a function, or a session of a role (its tags in every request)."""

    logical_id: str  # the function's, or the role's
    principal: str
    policy: Policy
    context: dict[str, str | tuple[str, ...]]
    function: FunctionIdentity | None = None  # the function itself (not a session it assumed)


def _access_key(request_signer: Any) -> str | None:
    credentials = getattr(request_signer, "_credentials", None)
    key = getattr(credentials, "access_key", None)
    return key if isinstance(key, str) else None


def _caller(request_signer: Any) -> _Caller | None:
    key = _access_key(request_signer)
    session = _sessions.get(key) if key is not None else None
    if session is not None:
        return _Caller(session.role.logical_id, session.principal, session.role.policy, session.context)
    identity = _current.get()
    if identity is None:
        return None
    return _Caller(identity.logical_id, identity.principal, identity.policy, {}, identity)


def _message(principal: str, request: AuthorizationRequest, reason: str) -> str:
    """AWS's wording: ``… on resource: <arn> because no identity-based policy allows …`` or ``… with an
    explicit deny in an identity-based policy``."""
    return (
        f"User: {principal} is not authorized to perform: {request.action} on resource: "
        f"{request.resource} {reason}"
    )


def _trust_refusal(caller: _Caller, request: AuthorizationRequest) -> str | None:
    """Why the role's trust policy refuses this AssumeRole/TagSession request (None: it allows it)."""
    role = _roles.get(request.resource)
    if role is None:
        return "because the role does not exist or its trust policy does not allow it"
    if caller.function is None or caller.function.logical_id not in role.trusted_functions:
        return "because the role's trust policy does not allow this principal"
    if not role.trust.allows(request):
        return "because the role's trust policy does not allow the request (its session tags)"
    return None


def _refusal(
    service: str, url: str, code_status: tuple[str, int], message: str
) -> tuple[AWSResponse, dict[str, Any]]:
    code, status = code_status
    request_id = str(uuid.uuid4())
    parsed = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": request_id, "HTTPHeaders": {}},
    }
    return AWSResponse(url, status, {"x-amzn-RequestId": request_id}, None), parsed


def _authorize(
    model: Any, params: dict[str, Any], context: dict[str, Any], request_signer: Any = None, **kwargs: Any
) -> Any:
    caller = _caller(request_signer)
    if caller is None:
        return None
    context[_CALLER_KEY] = caller
    identity = caller.function or _current.get()
    region = identity.region if identity is not None else "us-east-1"
    account = identity.account if identity is not None else "123456789012"
    service = model.service_model.service_name
    api_params = context.get(_PARAMS_KEY, {})
    site = CallSite(
        region=region, account=account, url=str(params.get("url", "")), partition_key=_partition_key
    )
    shape = _DENIAL_SHAPES.get(service, _DEFAULT_DENIAL)
    try:
        requests = authorizations(service, model.name, api_params, site)
    except UnmappedOperation as unmapped:
        message = (
            f"User: {caller.principal} called {unmapped}, which segflow's local IAM cannot authorize: "
            "add the operation to segflow_local/iam_requests.py"
        )
        ACCESS_LOG.deny(Denial(caller.logical_id, str(unmapped), "*", message))
        return _refusal(service, site.url, shape, message)
    for request in requests:
        if caller.context:
            request = AuthorizationRequest(
                request.action, request.resource, {**request.context, **caller.context}
            )
        reason = None
        decision = caller.policy.decide(request)
        if decision == "explicit_deny":
            reason = "with an explicit deny in an identity-based policy"
        elif decision == "implicit_deny":
            reason = f"because no identity-based policy allows the {request.action} action"
        elif service == "sts" and request.action in {"sts:AssumeRole", "sts:TagSession"}:
            reason = _trust_refusal(caller, request)
        if reason is not None:
            message = _message(caller.principal, request, reason)
            ACCESS_LOG.deny(Denial(caller.logical_id, request.action, request.resource, message))
            return _refusal(service, site.url, shape, message)
        ACCESS_LOG.allow(caller.logical_id, request.action)
    return None


def _remember_session(parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    """The credentials of a role a function assumed act as that role's session from now on."""
    credentials = parsed.get("Credentials") or {}
    params = context.get(_PARAMS_KEY) or {}
    role = _roles.get(str(params.get("RoleArn", "")))
    if role is None or "AccessKeyId" not in credentials:
        return
    identity = _current.get()
    tags = tuple((str(t["Key"]), str(t["Value"])) for t in params.get("Tags") or [])
    session = AssumedSession(
        role_arn=role.role_arn,
        session_name=str(params.get("RoleSessionName", "")),
        tags=tags,
        account=identity.account if identity is not None else "123456789012",
    )
    with _sessions_lock:
        _sessions[str(credentials["AccessKeyId"])] = session


def _hide_missing_keys(
    http_response: Any,
    parsed: dict[str, Any],
    model: Any,
    context: dict[str, Any],
    **_: Any,
) -> None:
    """S3 answers 403 instead of 404 for a missing key when the caller may not list the bucket."""
    caller = context.get(_CALLER_KEY)
    if not isinstance(caller, _Caller) or getattr(http_response, "status_code", 200) != 404:
        return
    if model.name not in {"GetObject", "HeadObject"}:
        return
    bucket = context.get(_PARAMS_KEY, {}).get("Bucket", "")
    key = context.get(_PARAMS_KEY, {}).get("Key", "")
    listing = AuthorizationRequest(
        "s3:ListBucket", f"arn:aws:s3:::{bucket}", {"s3:prefix": key, **caller.context}
    )
    if caller.policy.allows(listing):
        return
    http_response.status_code = 403
    parsed["Error"] = {
        "Code": "AccessDenied" if model.name == "GetObject" else "403",
        "Message": "Access Denied" if model.name == "GetObject" else "Forbidden",
    }
    parsed.setdefault("ResponseMetadata", {})["HTTPStatusCode"] = 403
