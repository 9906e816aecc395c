"""Every grant the engine's functions use is needed, and the local runtime enforces each one as AWS would.

One pass of a scenario records which (function, IAM action) pairs segflow actually exercises: a workflow
with a fan-out of side effects (InitializeStateBag, ExecuteSegment, AdvanceStage, FinalizeExecution), the
management API publishing and starting a workflow, a WebSocket subscription and a push of stored events
(WebSocketApi, PushEvents) and a continuation (ContinueExecution). Then each pair is taken away from its
function's policy, one at a time, and the scenario must fail visibly, with AccessDenied naming that function
and that action.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from segflow import declaration
from segflow.declaration import LIVE_WEBSOCKET_API, MANAGEMENT_HTTP_API
from segflow.domain.ids import execution_id_of
from segflow.engine.batching import BATCH_SECONDS

from segflow_cli.client import SegflowClient
from segflow_local import sandbox
from segflow_local.embedded import EmbeddedAws
from segflow_local.http_api import HttpRequest, LocalHttpApi
from segflow_local.lambda_invocation import local_function_name
from segflow_local.provisioner import connections_endpoint
from tests.conftest import run_to_end
from tests.support.http_server import LocalHttpServer
from tests.support.stores import stores_of
from tests.support.workflows import aggregator, api_call, edge, transform, wait, workflow

pytestmark = pytest.mark.e2e

# The engine's functions the issue names; each must show up in the recorded needs.
ENGINE_FUNCTIONS = (
    "InitializeStateBag",
    "ExecuteSegment",
    "AdvanceStage",
    "FinalizeExecution",
    "PushEvents",
    "ContinueExecution",
    "ManagementApi",
)
CONNECTION_ID = "grantsprobe01"


class Scenario:
    """The scenario's parts; each returns None when it worked, else what the user saw go wrong."""

    def __init__(self, embedded: EmbeddedAws, client: SegflowClient, server: LocalHttpServer) -> None:
        self.embedded = embedded
        self.client = client
        self.server = server
        self.api = LocalHttpApi(MANAGEMENT_HTTP_API, embedded.runtime.stage, embedded.runtime.invoke)

    def _invoke(self, logical_id: str, event: dict[str, Any]) -> tuple[bool, Any]:
        spec = declaration.function_by_id(logical_id)
        result = self.embedded.runtime.invoke(
            local_function_name(self.embedded.runtime.stage, spec), json.dumps(event).encode()
        )
        return result.function_error is None, json.loads(result.payload)

    def fan_out(self) -> str | None:
        path = f"/grants-{uuid.uuid4().hex[:8]}"
        self.server.route("POST", path, body={"ok": True})
        url = f"{self.server.url}{path}"
        wf = workflow(
            "grants-fan-out",
            [
                transform("start", {"n": 1}),
                # calls that may each take all an invocation has: a batch each, their stage a Map
                api_call("call_a", url, body={"branch": "a"}, timeout_seconds=BATCH_SECONDS),
                api_call("call_b", url, body={"branch": "b"}, timeout_seconds=BATCH_SECONDS),
                aggregator("join"),
            ],
            [
                edge("start", "call_a"),
                edge("start", "call_b"),
                edge("call_a", "join"),
                edge("call_b", "join"),
            ],
        )
        _, description = run_to_end(self.client, wf, {}, timeout=120)
        if description["status"] == "SUCCEEDED":
            return None
        return f"{description['status']}: {description.get('error')}: {description.get('cause')}"

    def management_api(self) -> str | None:
        workflow_id = f"grants-api-{uuid.uuid4().hex[:6]}"
        definition = workflow(workflow_id, [transform("only", 1)])
        publish = self._request("POST", "/workflows", {"definition": definition})
        if publish.status != 201:
            return f"publish answered {publish.status}: {publish.body.decode()}"
        start = self._request("POST", "/executions", {"workflow_id": workflow_id, "input": {}})
        if start.status != 201:
            return f"start answered {start.status}: {start.body.decode()}"
        execution_id = json.loads(start.body)["execution_id"]
        ended = self.client.wait(json.loads(start.body)["execution_arn"], timeout_seconds=120)
        if ended["status"] != "SUCCEEDED":
            return f"{ended['status']}: {ended.get('error')}: {ended.get('cause')}"
        described = self._request("GET", f"/executions/{execution_id}", None)
        if described.status != 200:
            return f"describe answered {described.status}: {described.body.decode()}"
        logged = self._request("GET", f"/executions/{execution_id}/events", None)
        if logged.status != 200 or not json.loads(logged.body)["events"]:
            return f"events answered {logged.status}: {logged.body.decode()}"
        return None

    def _request(self, method: str, path: str, body: Any) -> Any:
        return self.api.handle(
            HttpRequest(
                method=method,
                raw_path=path,
                raw_query="",
                headers={"content-type": "application/json"},
                body=json.dumps(body).encode() if body is not None else b"",
            )
        )

    def live_events(self) -> str | None:
        """Subscribe through the WebSocket function, then push a stored event the way the stream does."""
        arn, _ = run_to_end(self.client, workflow("grants-live", [transform("only", 1)]), {})
        execution_id = execution_id_of(arn)
        context = {
            "routeKey": "$connect",
            "eventType": "CONNECT",
            "stage": LIVE_WEBSOCKET_API.stage,
            "connectionId": CONNECTION_ID,
            "requestId": uuid.uuid4().hex,
            "connectedAt": int(time.time() * 1000),
            "requestTimeEpoch": int(time.time() * 1000),
            "domainName": "localhost",
            "apiId": "livewebsocketapi",
            "identity": {"sourceIp": "127.0.0.1"},
            "authorizer": {"tenant_id": self.client.tenant_id, "principal": "grants-test"},
        }
        ok, answer = self._invoke("WebSocketApi", {"requestContext": context, "headers": {}})
        if not ok:
            return f"$connect failed: {answer}"
        frame = {"action": "subscribe", "execution_id": execution_id, "since_seq": 0}
        context = {**context, "routeKey": "subscribe", "eventType": "MESSAGE", "messageId": "m1"}
        ok, answer = self._invoke("WebSocketApi", {"requestContext": context, "body": json.dumps(frame)})
        if not ok:
            return f"subscribe failed: {answer}"
        tenant = self.client.tenant_id
        record = {
            "eventID": "1",
            "eventName": "INSERT",
            "eventSource": "aws:dynamodb",
            "dynamodb": {
                "Keys": {"pk": {"S": f"EXEC#{tenant}#{execution_id}"}, "sk": {"S": "SEQ#000000000001"}},
                "SequenceNumber": "1",
                "StreamViewType": "NEW_IMAGE",
            },
        }
        ok, answer = self._invoke("PushEvents", {"Records": [record]})
        if not ok:
            return f"push failed: {answer}"
        return None

    def continuation(self) -> str | None:
        """A waiting execution continued in a new part, as the state machine asks near the history limit."""
        wf = workflow("grants-continue", [transform("first", 1), wait("pause", 30), transform("last", 2)])
        wf["edges"] = [edge("first", "pause"), edge("pause", "last")]
        arn = self.client.start(wf, {})
        statebag = None
        deadline = time.monotonic() + 60
        while statebag is None and time.monotonic() < deadline:
            for event in stores_of(self.client).sfn.get_execution_history(executionArn=arn)["events"]:
                exited = event.get("stateExitedEventDetails") or {}
                if exited.get("name") == "InitializeStateBag":
                    statebag = json.loads(exited["output"])["statebag"]
            time.sleep(0.1)
        if statebag is None:
            return "the execution never initialized"
        ok, answer = self._invoke("ContinueExecution", {"statebag": statebag, "stage": 1, "wait_seconds": 0})
        stores_of(self.client).sfn.stop_execution(executionArn=arn)
        return None if ok else f"continue failed: {answer}"

    def parts(self) -> dict[str, tuple[Callable[[], str | None], tuple[str, ...]]]:
        """Each part, with the functions whose grants it proves (others it runs are proven elsewhere)."""
        return {
            "fan_out": (
                self.fan_out,
                ("InitializeStateBag", "ExecuteSegment", "AdvanceStage", "FinalizeExecution"),
            ),
            "management_api": (self.management_api, ("ManagementApi",)),
            "live_events": (self.live_events, ("WebSocketApi", "PushEvents")),
            "continuation": (self.continuation, ("ContinueExecution",)),
        }


@pytest.fixture(scope="module")
def scenario(
    embedded: EmbeddedAws, client: SegflowClient, http_server: LocalHttpServer
) -> Iterator[Scenario]:
    urls = embedded.stack.websocket_callback_urls
    previous = dict(urls)
    urls[LIVE_WEBSOCKET_API.logical_id] = connections_endpoint(http_server.url, LIVE_WEBSOCKET_API)
    for method in ("POST", "GET", "DELETE"):
        http_server.route(method, f"/livewebsocketapi/live/@connections/{CONNECTION_ID}")
    yield Scenario(embedded, client, http_server)
    urls.clear()
    urls.update(previous)


@pytest.fixture(scope="module")
def needs(scenario: Scenario) -> dict[str, set[tuple[str, str]]]:
    """part -> the (function, action) pairs it used, recorded on a run with every grant in place."""
    recorded: dict[str, set[tuple[str, str]]] = {}
    log = sandbox.ACCESS_LOG
    for name, (run, functions) in scenario.parts().items():
        log.allowed.clear()
        log.recording = True
        try:
            assert run() is None, f"{name} fails with every grant in place"
        finally:
            log.recording = False
        recorded[name] = {(f, a) for f, a in log.allowed if f in functions}
    return recorded


def test_every_engine_function_uses_grants(needs: dict[str, set[tuple[str, str]]]) -> None:
    used = {function for pairs in needs.values() for function, _ in pairs}
    assert used >= set(ENGINE_FUNCTIONS)


def test_each_grant_taken_away_fails_the_scenario_naming_function_and_action(
    scenario: Scenario, needs: dict[str, set[tuple[str, str]]]
) -> None:
    deployment = scenario.embedded.stack
    parts = scenario.parts()
    unseen = []
    checked = 0
    for part, pairs in needs.items():
        for function, action in sorted(pairs):
            original = deployment.policies[function]
            deployment.without_grant(function, action)
            before = len(sandbox.ACCESS_LOG.denials)
            try:
                failure = parts[part][0]()
            finally:
                deployment.policies[function] = original
            denials = sandbox.ACCESS_LOG.denials[before:]
            name = local_function_name(scenario.embedded.runtime.stage, declaration.function_by_id(function))
            assert failure is not None, f"{part} still works without {action} for {function}"
            assert any(d.function == function and d.action == action for d in denials), (function, action)
            # The management API answers a refused call with a bare 500 (its callers learn nothing of its
            # permissions); everywhere else the failure's text names the function and the action.
            hidden = part == "management_api" and " answered 500" in failure
            if not hidden and not (name in failure and action in failure):
                unseen.append((part, function, action, failure[:300]))
            checked += 1
    assert checked >= 20
    # What the user sees names the function and the action wherever the failure reaches them as text.
    assert not unseen, unseen
