"""Speed-ups of the embedded AWS (moto 5.2.5) for the benchmark only; no figure the benchmark reports changes.

Both patches remove emulator work that real AWS never does, and apply to every design alike:

- moto's Step Functions interpreter builds a new boto3 Lambda client for every Task (tens of milliseconds of
  CPU each); the patch reuses one client per region (boto3 clients are thread-safe).
- moto parses a state machine definition with its ANTLR grammar when it is created and again at every
  execution start (seconds for a definition of hundreds of KB); the patch keeps each definition's parse tree
  and only re-runs the step that builds fresh evaluation components from it.
- moto lists a response class's methods (``inspect.getmembers``) on every request, and re-parses every
  JSONPath (building a PLY parser) each time a state evaluates one; both results are pure and are cached.
- moto serializes each DynamoDB response by walking the botocore output shape attribute by attribute; its
  results are already the wire dicts, so the patch writes them with ``json.dumps`` (checked equal to the
  serializer's output on every call of a run of the three shapes before adopting it).

Also: the handlers' INFO logs are silenced (they would only fill the terminal).
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

_applied = False
_lock = threading.Lock()


def apply() -> None:
    global _applied
    with _lock:
        if _applied:
            return
        _reuse_interpreter_lambda_clients()
        _reuse_definition_parse_trees()
        _cache_pure_lookups()
        _plain_dynamodb_responses()
        _applied = True


def quiet_handler_logs() -> None:
    """powertools loggers are named after the service; the engine's service is ``segflow``."""
    for name in ("segflow", "bench"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _reuse_interpreter_lambda_clients() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    original = lambda_eval_utils.boto_client_for
    cache: dict[tuple[str, str], Any] = {}
    cache_lock = threading.Lock()

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        with cache_lock:
            client = cache.get((region, service))
            if client is None:
                client = original(region=region, service=service, state_credentials=state_credentials)
                cache[(region, service)] = client
            return client

    lambda_eval_utils.boto_client_for = boto_client_for


def _reuse_definition_parse_trees() -> None:
    from antlr4 import CommonTokenStream, InputStream
    from moto.stepfunctions.parser.asl.antlr.runtime.ASLLexer import ASLLexer
    from moto.stepfunctions.parser.asl.antlr.runtime.ASLParser import ASLParser
    from moto.stepfunctions.parser.asl.parse import asl_parser
    from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor

    trees: dict[str, Any] = {}
    trees_lock = threading.Lock()

    def parse(definition: str) -> tuple[Any, Any]:
        with trees_lock:
            tree = trees.get(definition)
        if tree is None:
            listener = asl_parser.SyntaxErrorListener()
            parser = ASLParser(CommonTokenStream(ASLLexer(InputStream(definition))))
            parser.removeErrorListeners()
            parser.addErrorListener(listener)
            tree = parser.state_machine()
            if listener.errors:
                raise asl_parser.ASLParserException(errors=listener.errors)
            with trees_lock:
                trees[definition] = tree
        return Preprocessor().visit(tree), tree

    asl_parser.AmazonStateLanguageParser.parse = staticmethod(parse)  # type: ignore[method-assign]


def _cache_pure_lookups() -> None:
    import functools

    from moto.core import responses
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    names_by_class = functools.lru_cache(maxsize=None)(responses.method_names_from_class)
    responses.method_names_from_class = names_by_class  # type: ignore[assignment]
    json_path.parse = functools.lru_cache(maxsize=4096)(json_path.parse)  # type: ignore[assignment]
    result_path.parse = functools.lru_cache(maxsize=4096)(result_path.parse)  # type: ignore[assignment]


def _plain_dynamodb_responses() -> None:
    from moto.core.responses import ActionResult, BaseResponse
    from moto.dynamodb.responses import DynamoHandler, DynamoResult

    original = BaseResponse.serialized
    plain_results = (ActionResult, DynamoResult)

    def serialized(self: Any, action_result: Any) -> Any:
        result = action_result.result
        if type(action_result) in plain_results and isinstance(result, dict):
            try:
                body = json.dumps(result)
            except TypeError:  # datetimes (CreateTable, DescribeTable): moto's serializer formats them
                return original(self, action_result)
            headers = {"Content-Type": "application/x-amz-json-1.0"}
            headers.update(self.response_headers)
            return 200, headers, body
        return original(self, action_result)

    DynamoHandler.serialized = serialized


def _execution(execution_arn: str) -> Any:
    from moto.stepfunctions.responses import get_backend

    parts = execution_arn.split(":")
    return get_backend(parts[4], parts[3]).describe_execution(execution_arn=execution_arn)


def history_length(execution_arn: str) -> int:
    """How many events the execution's history holds now, without building it.

    Reading a history through moto's API serializes every event (25 s for 39,000 events); the benchmark
    needs the count while the execution runs, to stop it where Step Functions' 25,000-event quota would.
    """
    env = _execution(execution_arn).exec_worker.env
    if env is None:
        return 0
    events = getattr(env.event_manager, "_history_event_list", None)
    return len(events) if events is not None else len(env.event_manager.get_event_history())


def history_events(execution_arn: str) -> list[dict[str, Any]]:
    """The execution's events as GetExecutionHistory returns them, read from the emulator without the
    response serialization (same dicts; timestamps stay datetimes)."""
    events = list(_execution(execution_arn).to_history_output()["events"])
    for event in events:
        event["type"] = str(getattr(event["type"], "value", event["type"]))  # an enum inside moto
    return events
