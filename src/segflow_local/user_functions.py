"""Runs your own Lambda functions locally: the ones created with CreateFunction in the embedded moto.

moto without Docker only stores a function (its zip, handler, runtime, timeout); this module runs it. The zip
is extracted once per code hash, the handler module imported from there under a name unique to that code (two
functions may both ship ``lambda_function.py``), and called in this process with a Lambda-like context. The
answer has Lambda's exact shape: 200 and the JSON result, or 200 with ``X-Amz-Function-Error: Unhandled`` and
``{"errorType", "errorMessage", "stackTrace"}``, including the runtime's own errors
(``Runtime.ImportModuleError``, ``Runtime.HandlerNotFound``, ``Runtime.MarshalError``,
``Function.ResponseSizeTooLarge``, ``Sandbox.Timedout``).

What differs from Lambda: Python zip functions only; every function shares this process (its ``os.environ``,
``sys.path``: the extracted directory is appended so the handler's own modules import); the function's
Environment variables are not applied; a timeout is reported once the handler returns, it cannot cut it off.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import shutil
import sys
import tempfile
import threading
import time
import traceback
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

from segflow.domain.limits import LAMBDA_INVOKE_MAX_PAYLOAD_BYTES

from segflow_local.lambda_invocation import LOCAL_ACCOUNT_ID, LOCAL_REGION, InvokeResult

if TYPE_CHECKING:
    from moto.awslambda.models import LambdaFunction

Handler = Callable[[Any, Any], Any]


class _FunctionError(Exception):
    """An error the Lambda runtime itself reports (not the handler's own)."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


class UserLambdaContext:
    """The Lambda context object of the Python runtime."""

    def __init__(self, function: LambdaFunction, client_context: str | None) -> None:
        self.function_name = function.function_name
        self.function_version = str(function.version)
        self.invoked_function_arn = function.function_arn
        self.memory_limit_in_mb = int(function.memory_size)
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function.function_name}"
        self.log_stream_name = "local"
        self.identity = None
        self.client_context = _decode_client_context(client_context)
        self.timeout_seconds = float(function.timeout)
        self._deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _decode_client_context(encoded: str | None) -> Any:
    if not encoded:
        return None
    data = json.loads(base64.b64decode(encoded))
    return SimpleNamespace(custom=data.get("custom"), env=data.get("env"), client=data.get("client"))


def _split_reference(function_ref: str, qualifier: str | None) -> tuple[str, str, str, str | None]:
    """(account, region, name, qualifier) of a name, partial ARN or ARN, each with an optional qualifier."""
    account, region = LOCAL_ACCOUNT_ID, LOCAL_REGION
    if function_ref.startswith("arn:"):
        parts = function_ref.split(":")
        region, account = parts[3] or region, parts[4] or account
    elif ":function:" in function_ref:
        account = function_ref.split(":", 1)[0]
    name, _, in_name = function_ref.rsplit(":function:", 1)[-1].partition(":")
    return account, region, name, in_name or qualifier


def _error_result(status: int, code: str, message: str) -> InvokeResult:
    return InvokeResult(status, json.dumps({"Type": "User", "message": message}).encode(), error_code=code)


def _unhandled(error_type: str, message: str, stack: list[str] | None = None) -> InvokeResult:
    body = {"errorType": error_type, "errorMessage": message, "stackTrace": stack or []}
    return InvokeResult(200, json.dumps(body).encode(), "Unhandled")


class UserFunctions:
    """Finds a function in moto's Lambda and runs its Python handler."""

    def __init__(self) -> None:
        self._root = Path(tempfile.mkdtemp(prefix="segflow-user-functions-"))
        self._handlers: dict[tuple[str, str], Handler] = {}
        self._lock = threading.Lock()

    def find(self, function_ref: str, qualifier: str | None = None) -> LambdaFunction:
        """moto's function (the version or alias asked for); raises moto's ResourceNotFoundException."""
        # With use_docker=False (MOTO_CONFIG) moto keeps functions in its "simple" Lambda backend.
        from moto.awslambda_simple.models import lambda_simple_backends

        account, region, name, qualifier = _split_reference(function_ref, qualifier)
        return lambda_simple_backends[account][region].get_function(name, qualifier)

    def exists(self, function_ref: str) -> bool:
        from moto.awslambda.exceptions import LambdaClientError

        try:
            self.find(function_ref)
        except LambdaClientError:
            return False
        return True

    def invoke(
        self,
        function_ref: str,
        payload: bytes,
        qualifier: str | None = None,
        client_context: str | None = None,
    ) -> InvokeResult:
        from moto.awslambda.exceptions import LambdaClientError

        try:
            function = self.find(function_ref, qualifier)
        except LambdaClientError as error:
            return _error_result(error.code, error.error_type, error.message)
        if function.package_type != "Zip" or not str(function.run_time or "").startswith("python"):
            return _error_result(
                502,
                "InvalidRuntimeException",
                f"segflow's local runtime runs Python zip functions only; {function.function_name} is "
                f"{function.package_type} {function.run_time or ''}".strip(),
            )
        if len(payload) > LAMBDA_INVOKE_MAX_PAYLOAD_BYTES:
            return _error_result(
                413,
                "RequestTooLargeException",
                f"Request must be smaller than {LAMBDA_INVOKE_MAX_PAYLOAD_BYTES} bytes for the "
                "InvokeFunction operation",
            )
        try:
            event = json.loads(payload) if payload else {}
        except ValueError:
            return _error_result(
                400, "InvalidRequestContentException", "Could not parse request body into json"
            )
        try:
            handler = self._handler(function)
        except _FunctionError as error:
            return _unhandled(error.error_type, str(error))
        context = UserLambdaContext(function, client_context)
        started = time.monotonic()
        try:
            result = handler(event, context)
        except Exception as error:  # what the Python runtime reports for an exception the handler lets out
            stack = traceback.format_tb(error.__traceback__.tb_next if error.__traceback__ else None)
            return _unhandled(type(error).__name__, str(error), stack)
        elapsed = time.monotonic() - started
        if elapsed > context.timeout_seconds:
            return _unhandled(
                "Sandbox.Timedout",
                f"RequestId: {context.aws_request_id} Error: Task timed out after "
                f"{context.timeout_seconds:.2f} seconds",
            )
        try:
            body = json.dumps(result).encode()
        except (TypeError, ValueError) as error:
            return _unhandled("Runtime.MarshalError", f"Unable to marshal response: {error}")
        if len(body) > LAMBDA_INVOKE_MAX_PAYLOAD_BYTES:
            return _unhandled(
                "Function.ResponseSizeTooLarge",
                f"Response payload size ({len(body)} bytes) exceeded maximum allowed payload size "
                f"({LAMBDA_INVOKE_MAX_PAYLOAD_BYTES} bytes).",
            )
        return InvokeResult(200, body)

    def _handler(self, function: LambdaFunction) -> Handler:
        """The handler of this code and handler setting, imported once."""
        key = (function.code_digest, function.handler or "")
        with self._lock:
            handler = self._handlers.get(key)
            if handler is None:
                handler = self._import(function)
                self._handlers[key] = handler
            return handler

    def _extract(self, function: LambdaFunction) -> Path:
        directory = self._root / function.code_digest
        if not directory.exists():
            staging = Path(tempfile.mkdtemp(dir=self._root))
            try:
                with zipfile.ZipFile(io.BytesIO(function.code_bytes)) as archive:
                    archive.extractall(staging)
            except zipfile.BadZipFile as error:
                shutil.rmtree(staging, ignore_errors=True)
                raise _FunctionError(
                    "Runtime.ImportModuleError", f"the code of {function.function_name} is not a zip: {error}"
                ) from error
            staging.rename(directory)
        return directory

    def _import(self, function: LambdaFunction) -> Handler:
        module_name, _, attribute = (function.handler or "").rpartition(".")
        if not module_name or not attribute:
            raise _FunctionError(
                "Runtime.MalformedHandlerName",
                f"Bad handler '{function.handler}': not enough values to unpack",
            )
        module_name = module_name.replace("/", ".")
        directory = self._extract(function)
        relative = Path(*module_name.split("."))
        candidates = [directory / relative.with_suffix(".py"), directory / relative / "__init__.py"]
        path = next((candidate for candidate in candidates if candidate.is_file()), None)
        if path is None:
            raise _FunctionError(
                "Runtime.ImportModuleError",
                f"Unable to import module '{module_name}': No module named '{module_name}'",
            )
        if str(directory) not in sys.path:
            sys.path.append(str(directory))  # the handler's own helper modules, as /var/task is on Lambda
        unique = f"_segflow_user_{function.code_digest[:16]}_{module_name.replace('.', '_')}"
        spec = importlib.util.spec_from_file_location(unique, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except SyntaxError as error:
            raise _FunctionError(
                "Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {error}"
            ) from error
        except Exception as error:
            raise _FunctionError(
                "Runtime.ImportModuleError",
                f"Unable to import module '{module_name}': {type(error).__name__}: {error}",
            ) from error
        handler = getattr(module, attribute, None)
        if not callable(handler):
            raise _FunctionError(
                "Runtime.HandlerNotFound", f"Handler '{attribute}' missing on module '{module_name}'"
            )
        return cast(Handler, handler)  # a callable; Lambda's contract gives its signature

    def close(self) -> None:
        shutil.rmtree(self._root, ignore_errors=True)
