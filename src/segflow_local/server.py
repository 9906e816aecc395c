"""``segflow local up``: the embedded AWS as one long-running HTTP endpoint other processes use.

One threaded WSGI server on one port:

- ``POST /2015-03-31/functions/{name}/invocations`` is answered here, by segflow's real handlers
  (:class:`LocalLambdaRuntime`), in Lambda's response shape;
- ``GET /_segflow/health`` and ``GET /_segflow/outputs`` (the local counterpart of the stack's outputs) tell
  clients whether the endpoint is ready and where segflow's resources are;
- ``/_segflow/api/...`` is the management HTTP API behind a local API Gateway (:mod:`segflow_local.http_api`):
  the declared routes, payload format 2.0 events, the ManagementApi function invoked through the runtime;
- ``/_segflow/ws/@connections/{id}`` is the @connections API of the live WebSocket API, whose connections
  a local API Gateway WebSocket gateway (:mod:`segflow_local.websocket_gateway`) serves on a second port;
- ``/_segflow/echo/...`` is a stand-in HTTP API for examples: any method, answered with what it received;
- everything else goes to moto's WSGI app (S3, DynamoDB, Step Functions with its ASL interpreter on).

moto's interpreter calls ``http://localhost:$MOTO_PORT`` for every Lambda, S3 and DynamoDB task, and the
handlers (running in this process) reach S3 and DynamoDB through ``AWS_ENDPOINT_URL``: both point back here.
"""

from __future__ import annotations

import io
import ipaddress
import json
import logging
import os
import re
import signal
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Iterator
from http import HTTPStatus
from typing import Any, cast
from urllib.parse import parse_qs, unquote, urlsplit

import boto3
import botocore.handlers
from botocore.awsrequest import AWSResponse
from segflow import declaration
from werkzeug.test import EnvironBuilder

from segflow_local import bedrock_emulation, fault_rates, moto_patches, sagemaker_emulation, sandbox
from segflow_local.embedded import MOTO_CONFIG, EmbeddedAws, prepare_environment, quiet_moto_logs
from segflow_local.event_sources import start_event_sources, stop_event_sources
from segflow_local.http_api import API_PREFIX, LocalHttpApi, gateway_error
from segflow_local.lambda_invocation import LOCAL_REGION, InvokeResult
from segflow_local.lambda_runtime import Isolation, LocalLambdaRuntime
from segflow_local.provisioner import ProvisionedStack, connections_endpoint, provision
from segflow_local.websocket_gateway import (
    CALLBACK_PREFIX,
    LocalWebSocketGateway,
    connection_id_of,
    owns_callback_path,
    post_answer,
    serve_connections_api,
)

INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<function>[^/]+)/invocations/?$")
HEALTH_PATH = "/_segflow/health"
OUTPUTS_PATH = "/_segflow/outputs"
BEDROCK_ANSWERS_PATH = "/_segflow/bedrock/answers"
# The outputs' local-only keys: the custom node modules this endpoint loaded and where they are, so the CLI
# can check a workflow using them as the endpoint will.
OUTPUT_NODE_MODULES = "NodeModules"
OUTPUT_NODE_MODULE_PATHS = "NodeModulePaths"
ECHO_PATH = "/_segflow/echo"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4566
DRAIN_TIMEOUT_SECONDS = 10.0

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

logger = logging.getLogger(__name__)


class LocalServerError(RuntimeError):
    """The local endpoint could not start (bad host, port in use, stack failed)."""


def _json_response(
    start_response: StartResponse, status: str, body: Any, headers: dict[str, str] | None = None
) -> list[bytes]:
    data = json.dumps(body).encode()
    all_headers = {"Content-Type": "application/json", "Content-Length": str(len(data)), **(headers or {})}
    start_response(status, list(all_headers.items()))
    return [data]


def _read_body(environ: dict[str, Any]) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    return environ["wsgi.input"].read(length) if length > 0 else b""


class SegflowLocalApp:
    """The WSGI app: Lambda invokes and ``/_segflow/*`` here, everything else to moto."""

    def __init__(self, runtime: LocalLambdaRuntime, moto_app: WsgiApp) -> None:
        self.runtime = runtime
        self.moto_app = moto_app
        self.stack: ProvisionedStack | None = None  # set once deployed: the endpoint is ready
        self.management_api = LocalHttpApi(declaration.MANAGEMENT_HTTP_API, runtime.stage, runtime.invoke)
        self.websocket_gateway: LocalWebSocketGateway | None = None  # set once listening

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == ECHO_PATH or path.startswith(ECHO_PATH + "/"):
            return self._echo(environ, start_response)
        if self.management_api.owns(path):
            if self.stack is None:
                unavailable = gateway_error(503)
                start_response("503 Service Unavailable", unavailable.headers)
                return [unavailable.body]
            return self.management_api(environ, start_response)
        if owns_callback_path(path):
            return serve_connections_api(self.websocket_gateway, environ, start_response)
        if path.startswith("/_segflow/"):
            return self._segflow(path, method, environ, start_response)
        match = INVOKE_PATH.match(path)
        if match and method == "POST":
            return self._invoke(unquote(match.group("function")), environ, start_response)
        return self.moto_app(environ, start_response)

    # --- /_segflow -------------------------------------------------------------------------------------

    def _segflow(
        self, path: str, method: str, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        if path == BEDROCK_ANSWERS_PATH and method == "POST":
            return self._queue_llm_answers(environ, start_response)
        if method != "GET":
            return _json_response(start_response, "405 Method Not Allowed", {"message": "GET only"})
        stack = self.stack
        if path == HEALTH_PATH:
            if stack is None:
                return _json_response(start_response, "503 Service Unavailable", {"status": "starting"})
            return _json_response(start_response, "200 OK", {"status": "ok", "stage": stack.stage})
        if path == OUTPUTS_PATH:
            if stack is None:
                return _json_response(start_response, "503 Service Unavailable", {"status": "starting"})
            gateway = self.websocket_gateway
            outputs = stack.outputs(
                management_api_url(environ),
                websocket_url(environ, gateway.port) if gateway is not None else None,
            )
            return _json_response(start_response, "200 OK", {**outputs, **node_module_outputs()})
        return _json_response(start_response, "404 Not Found", {"message": f"no such path {path}"})

    @staticmethod
    def _queue_llm_answers(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """What the embedded Bedrock answers next, in order: ``{"answers": ["...", ...]}``."""
        try:
            answers = json.loads(_read_body(environ) or b"{}").get("answers")
        except (ValueError, AttributeError):
            answers = None
        if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
            return _json_response(
                start_response, "400 Bad Request", {"message": 'expected {"answers": ["text", ...]}'}
            )
        bedrock_emulation.queue_answers(*answers)
        return _json_response(start_response, "200 OK", {"queued": len(answers)})

    @staticmethod
    def _echo(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """A stand-in API for examples and demos: answers any request with what it received."""
        raw = _read_body(environ)
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        query = environ.get("QUERY_STRING", "")
        path = environ.get("PATH_INFO", "") + (f"?{query}" if query else "")
        answer = {"echo": body, "path": path, "method": environ.get("REQUEST_METHOD", "GET")}
        return _json_response(start_response, "200 OK", answer)

    # --- Lambda Invoke ---------------------------------------------------------------------------------

    def _invoke(
        self, function_ref: str, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        payload = _read_body(environ)
        invocation_type = environ.get("HTTP_X_AMZ_INVOCATION_TYPE", "RequestResponse")
        request_id = str(uuid.uuid4())
        if invocation_type in ("Event", "DryRun") and self.runtime.knows(function_ref):
            if invocation_type == "Event":  # asynchronous: accepted now, run on a thread
                worker = threading.Thread(target=self.runtime.invoke, args=(function_ref, payload))
                worker.daemon = True
                worker.start()
                status = "202 Accepted"
            else:
                status = "204 No Content"
            start_response(status, [("x-amzn-RequestId", request_id), ("Content-Length", "0")])
            return [b""]
        qualifier = parse_qs(environ.get("QUERY_STRING", "")).get("Qualifier", [None])[0]
        client_context = environ.get("HTTP_X_AMZ_CLIENT_CONTEXT")
        result = self.runtime.invoke(function_ref, payload, qualifier, client_context)
        return self._respond(start_response, result, request_id)

    @staticmethod
    def _respond(start_response: StartResponse, result: InvokeResult, request_id: str) -> Iterable[bytes]:
        headers = {
            "Content-Type": "application/json",
            "Content-Length": str(len(result.payload)),
            "X-Amz-Executed-Version": "$LATEST",
            "x-amzn-RequestId": request_id,
        }
        if result.error_code:
            headers["x-amzn-ErrorType"] = result.error_code
            status = f"{result.status} {HTTPStatus(result.status).phrase}"
        else:
            status = "200 OK"
            if result.function_error:
                headers["X-Amz-Function-Error"] = result.function_error
        start_response(status, list(headers.items()))
        return [result.payload]


def node_module_outputs() -> dict[str, str]:
    """The custom node modules named in this process's ``SEGFLOW_NODE_MODULES`` and their directories."""
    import importlib.util

    named = sandbox.process_environ().get(declaration.NODE_MODULES_ENV, "")
    modules = [module.strip() for module in named.split(",") if module.strip()]
    if not modules:
        return {}
    paths: list[str] = []
    for module in modules:
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            spec = None
        if spec is not None and spec.origin:
            root = os.path.dirname(spec.origin)
            for _ in range(module.count(".") + (1 if spec.submodule_search_locations else 0)):
                root = os.path.dirname(root)
            if root not in paths:
                paths.append(root)
    return {OUTPUT_NODE_MODULES: ",".join(modules), OUTPUT_NODE_MODULE_PATHS: os.pathsep.join(paths)}


def _request_host(environ: dict[str, Any]) -> str:
    return (
        environ.get("HTTP_HOST") or f"{environ.get('SERVER_NAME', DEFAULT_HOST)}:{environ.get('SERVER_PORT')}"
    )


def management_api_url(environ: dict[str, Any]) -> str:
    """Where the management API is, seen from the client that asks: the host it reached us by."""
    return f"{environ.get('wsgi.url_scheme', 'http')}://{_request_host(environ)}{API_PREFIX}"


def websocket_url(environ: dict[str, Any], port: int) -> str:
    """Where the live WebSocket API is, seen from the client that asks: the host it reached us by, the
    gateway's port."""
    hostname = urlsplit(f"//{_request_host(environ)}").hostname or DEFAULT_HOST
    return f"ws://{f'[{hostname}]' if ':' in hostname else hostname}:{port}"


# --- this process's own calls ---------------------------------------------------------------------------


class _Body:
    """A response body botocore reads like urllib3's: whole, in pieces, or streamed."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def read(self, amt: int | None = None, **_: Any) -> bytes:
        return self._data.read(amt)

    def stream(self, amt: int | None = None, **_: Any) -> Iterator[bytes]:
        while chunk := self._data.read(amt):  # the rest at once unless asked for pieces
            yield chunk

    def close(self) -> None:
        self._data.close()


_own_lock = threading.Lock()
_own_app: tuple[WsgiApp, int] | None = None  # the app and port this process serves
_OWN_HOSTS = ("127.0.0.1", "localhost")
_HOP_HEADERS = ("transfer-encoding", "expect", "connection")
_EVENT = "before-send"


def _request_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    if isinstance(body, str):
        return body.encode()
    if hasattr(body, "read"):
        data = body.read()
        return data.encode() if isinstance(data, str) else bytes(data)
    return b"".join(chunk.encode() if isinstance(chunk, str) else chunk for chunk in body)


def _answer_own_request(request: Any, **_: Any) -> AWSResponse | None:
    """``before-send``: a call from this process to this endpoint (the handlers' clients through
    ``AWS_ENDPOINT_URL``, moto's interpreter through ``MOTO_PORT``, the event sources) is answered by the
    endpoint's WSGI app on the calling thread, with the environ the HTTP server would build: the same routes,
    the same answers, without a TCP connection and a server thread per call (werkzeug closes every
    connection after its answer). Calls from other processes (the CLI, worker processes) still come over
    HTTP."""
    own = _own_app
    url = urlsplit(request.url)
    if own is None or url.hostname not in _OWN_HOSTS or url.port != own[1] or fault_rates.injected(request):
        return None
    app = own[0]
    posted = _post_to_connection(app, request.method, url.path, request.body)
    if posted is not None:
        status_code, answer_headers, answer = posted
        return AWSResponse(request.url, status_code, dict(answer_headers), _Body(answer))
    headers = [
        (name, value.decode() if isinstance(value, bytes) else str(value))
        for name, value in request.headers.items()
        if name.lower() not in _HOP_HEADERS
    ]
    data = _request_bytes(request.body)
    environ = EnvironBuilder(
        path=url.path or "/",
        base_url=f"{url.scheme}://{url.netloc}",
        query_string=url.query,
        method=request.method,
        headers=headers,
        data=data,
    ).get_environ()
    environ["REMOTE_ADDR"] = "127.0.0.1"
    started: list[Any] = []
    written: list[bytes] = []

    def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started[:] = [status, response_headers]
        return written.append

    try:
        result = app(environ, start_response)
        try:
            body = b"".join([*written, *result])
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
    except Exception:  # what werkzeug's server answers when the app raises
        logger.exception("%s %s failed", request.method, url.path)
        started[:] = ["500 INTERNAL SERVER ERROR", [("Content-Type", "text/plain")]]
        body = b"Internal Server Error"
    status, response_headers = started
    return AWSResponse(request.url, int(status.split()[0]), dict(response_headers), _Body(body))


def _post_to_connection(
    app: WsgiApp, method: str, raw_path: str, body: Any
) -> tuple[int, list[tuple[str, str]], bytes] | None:
    """A PostToConnection to this process's WebSocket gateway, answered as its @connections route answers it
    but without building the WSGI request: a delivery to a hundred watchers is a hundred of them."""
    gateway = app.websocket_gateway if isinstance(app, SegflowLocalApp) else None
    if gateway is None or method != "POST" or not owns_callback_path(raw_path):
        return None
    connection_id = connection_id_of(raw_path)
    return post_answer(gateway, connection_id, _request_bytes(body)) if connection_id is not None else None


def answer_own_requests(app: WsgiApp | None, port: int = 0) -> None:
    """From now on (``app``) or no longer (None), this process's calls to its own endpoint on ``port`` are
    answered in-process. botocore's handler list is read when a client is made, so call it before."""
    global _own_app
    with _own_lock:
        if (_EVENT, _answer_own_request) not in botocore.handlers.BUILTIN_HANDLERS:
            botocore.handlers.BUILTIN_HANDLERS.append((_EVENT, _answer_own_request))
            if boto3.DEFAULT_SESSION is not None:  # moto's interpreter makes its clients from it
                boto3.setup_default_session(region_name=boto3.DEFAULT_SESSION.region_name)
        _own_app = (app, port) if app is not None else None


# --- the server ----------------------------------------------------------------------------------------


def _check_host(host: str) -> None:
    """moto's interpreter always calls http://localhost:PORT, so the server must listen on loopback."""
    if host == "localhost":
        return
    try:
        address = ipaddress.ip_address(host)
    except ValueError as error:
        raise LocalServerError(f"--host must be an IP address or localhost, not {host!r}") from error
    if not (address.is_loopback or address.is_unspecified) or address.version != 4:
        raise LocalServerError(
            f"--host {host}: moto's interpreter calls back on http://localhost:PORT, so listen on "
            "127.0.0.1 (default) or 0.0.0.0"
        )


class LocalAwsServer:
    """moto + segflow's handlers behind one port. ``start()`` returns once segflow is deployed."""

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        stage: str = "local",
        verbose: bool = False,
        isolation: Isolation = "thread",
        user_resources: declaration.UserResources | None = None,
        egress: declaration.EgressLists | None = None,
    ) -> None:
        _check_host(host)
        # Your resources nodes may use: what ``cdk deploy -c data_tables=…`` names (``segflow local up -c``).
        self.user_resources = user_resources or declaration.UserResources()
        # The egress policy's lists (``-c egress_allow=…``), added to the local runtime's (loopback allowed).
        self.egress = egress or declaration.EgressLists()
        self.host = host
        self.requested_port = port
        self.stage = stage
        self.verbose = verbose
        self.runtime = LocalLambdaRuntime(stage, isolation=isolation)
        self.app: SegflowLocalApp | None = None
        self.aws: EmbeddedAws | None = None
        self.websocket_gateway: LocalWebSocketGateway | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._event_sources: list[Any] = []
        self.faults: fault_rates.RateInjector | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_port) if self._server is not None else self.requested_port

    @property
    def url(self) -> str:
        """Where clients in other processes reach it."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ProvisionedStack:
        """Listen, configure moto, deploy segflow into it; the endpoint is ready when this returns."""
        try:
            self._prepare_process()
            self._listen()
            self._configure_moto()
            session = boto3.session.Session(region_name=LOCAL_REGION)
            stack = provision(session, self.stage)
            self._start_websocket_gateway(stack)
        except LocalServerError:
            self.stop()
            raise
        except Exception as error:
            self.stop()
            raise LocalServerError(f"the local endpoint could not start: {error}") from error
        if not self.verbose:
            stack.environment_overrides["POWERTOOLS_LOG_LEVEL"] = "WARNING"
        stack.grant_user_resources(self.user_resources)
        stack.egress = stack.egress.add(self.egress)
        self.runtime.attach(stack)  # each function with its own environment and IAM policy
        self.aws = EmbeddedAws(stack=stack, runtime=self.runtime, session=session)
        # What EventBridge and the event source mappings do in the cloud: status rules, the log's stream.
        self._event_sources = start_event_sources(session, stack, self.runtime.invoke, streams=True)
        assert self.app is not None
        self.app.stack = stack
        return stack

    def _start_websocket_gateway(self, stack: ProvisionedStack) -> None:
        """The live WebSocket API on a free port of the same host; its @connections API under this server's
        ``CALLBACK_PREFIX``, which the handlers learn from the environment, as they do from the stack's."""
        api = declaration.LIVE_WEBSOCKET_API
        gateway = LocalWebSocketGateway(api, self.stage, self.runtime.invoke, host=self.host)
        gateway.start()
        self.websocket_gateway = gateway
        assert self.app is not None
        self.app.websocket_gateway = gateway
        stack.websocket_callback_urls[api.logical_id] = connections_endpoint(
            f"{self.url}{CALLBACK_PREFIX}", api
        )

    def _prepare_process(self) -> None:
        """Fake credentials, region and account for everything in this process; quiet logs."""
        os.environ.pop("AWS_ENDPOINT_URL", None)
        prepare_environment({"POWERTOOLS_LOG_LEVEL": "INFO" if self.verbose else "WARNING"})
        quiet_moto_logs()
        moto_patches.apply()
        sagemaker_emulation.apply()
        bedrock_emulation.apply()
        sandbox.install()
        # $SEGFLOW_LOCAL_FAULT_RATES: the state machine's Lambda invokes and (thread isolation) the handlers'
        # calls here; worker processes read it themselves.
        self.faults = fault_rates.activate_from_environment()
        if self.verbose:
            logging.getLogger("werkzeug").setLevel(logging.INFO)

    def _listen(self) -> None:
        # Imported here: moto reads MOTO_ACCOUNT_ID and friends when it is first imported.
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        self.app = SegflowLocalApp(self.runtime, DomainDispatcherApplication(create_backend_app))
        try:
            self._server = make_server(
                self.host, self.requested_port, self.app, threaded=True, request_handler=MotoRequestHandler
            )
        except OSError as error:
            raise LocalServerError(f"cannot listen on {self.host}:{self.requested_port}: {error}") from error
        except SystemExit as error:  # werkzeug exits (after explaining) when the port is taken
            raise LocalServerError(f"cannot listen on {self.host}:{self.requested_port}") from error
        # Before anything runs: the interpreter calls localhost:$MOTO_PORT, the handlers' boto3 clients
        # (built lazily by segflow.adapters.clients) use AWS_ENDPOINT_URL.
        os.environ["MOTO_PORT"] = str(self.port)
        os.environ["AWS_ENDPOINT_URL"] = self.url
        answer_own_requests(self.app, self.port)
        serve_options = {"poll_interval": 0.1}  # shutdown() waits up to one poll interval
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs=serve_options, name="segflow-local", daemon=True
        )
        self._thread.start()

    def _configure_moto(self) -> None:
        """Through moto's config API: the ASL interpreter on, Lambda without Docker.

        ``GET /moto-api/config`` does not report the stepfunctions section, so the check reads moto's
        settings directly (same process).
        """
        from moto.core.config import default_user_config

        request = urllib.request.Request(
            f"{self.url}/moto-api/config",
            data=json.dumps(MOTO_CONFIG).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
        # Both are TypedDicts of TypedDicts: compared setting by setting as the dicts they are.
        taken = cast(dict[str, dict[str, object]], default_user_config)
        for service, settings in cast(dict[str, dict[str, object]], MOTO_CONFIG).items():
            for key, value in settings.items():
                if taken.get(service, {}).get(key) != value:
                    raise LocalServerError(f"moto did not take the config {service}.{key}={value!r}")

    def stop(self, drain_timeout_seconds: float = DRAIN_TIMEOUT_SECONDS) -> None:
        """Stop running executions (so no handler is cut off mid-write), then the server."""
        if self.aws is not None:
            try:
                self.aws.drain(drain_timeout_seconds)
            except Exception as error:  # shutting down regardless
                logger.warning("could not stop running executions: %s", error)
            self.aws = None
        stop_event_sources(self._event_sources)
        self._event_sources = []
        if self.websocket_gateway is not None:  # while the server runs: $disconnect handlers reach DynamoDB
            self.websocket_gateway.stop()
            self.websocket_gateway = None
            if self.app is not None:
                self.app.websocket_gateway = None
        answer_own_requests(None)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.runtime.close()


def serve(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    stage: str = "local",
    verbose: bool = False,
    announce: Callable[[str], None] = print,
    isolation: Isolation = "thread",
    user_resources: declaration.UserResources | None = None,
    egress: declaration.EgressLists | None = None,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Run until SIGINT or SIGTERM, then stop cleanly. Raises :class:`LocalServerError` if it cannot start.
    ``on_ready(url)`` runs once the endpoint serves, after the line saying it listens.

    Call it from the main thread: it installs the signal handlers.
    """
    stopping = threading.Event()

    def request_stop(signum: int, _frame: Any) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    started = time.monotonic()
    server = LocalAwsServer(host, port, stage, verbose, isolation, user_resources, egress)
    try:
        server.start()
        mode = ", handlers in worker processes" if isolation == "process" else ""
        if server.faults is not None:
            mode += f", {fault_rates.describe(server.faults.plan)}"
        announce(f"segflow local AWS listening on {server.url} (stage {stage}{mode})")
        if on_ready is not None:
            on_ready(server.url)
        announce(f"  management API  {server.url}{API_PREFIX}")
        if server.websocket_gateway is not None:
            announce(f"  live events     {server.websocket_gateway.url}")
        announce(f"  console         {server.url}{API_PREFIX}/console")
        if verbose:
            announce(f"  ready in {time.monotonic() - started:.2f} s; outputs at {server.url}{OUTPUTS_PATH}")
            announce(f"  @connections at {server.url}{CALLBACK_PREFIX}")
        announce("in another terminal:")
        announce(f"  export SEGFLOW_ENDPOINT={server.url}")
        # In slices: a signal the kernel hands to another thread only reaches Python's handler when the main
        # thread wakes, and a wait without a timeout may never wake.
        while not stopping.wait(1.0):
            pass
        announce("segflow local AWS: stopping")
    finally:
        server.stop()
        fault_rates.deactivate()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
