"""An llm_chat node whose handler is killed after the model answered (before the node's checkpoint) is retried
by the state machine and reuses the kept answer: the model is called once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from segflow_cli.client import SegflowClient
from segflow_cli.locate import locate
from segflow_local.faults import FAULTS_ENV, KillPoint, fired, write_plan
from tests.cli.conftest import LocalEndpoint, start_local_endpoint
from tests.support.history import failed_lambda_causes
from tests.support.http_server import LocalHttpServer, start_http_server
from tests.support.stores import stores_of
from tests.support.workflows import chain_edges, llm_chat, transform, workflow

pytestmark = pytest.mark.e2e

KILL = "llm-after-answer-kept"


@pytest.fixture(scope="module")
def plan_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("llm-faults") / "plan.json"
    write_plan(
        path, [KillPoint(id=KILL, operation="PutItem", when="after", contains=["MODELCALL#summarize"])]
    )
    return path


@pytest.fixture(scope="module")
def endpoint(plan_path: Path) -> Iterator[LocalEndpoint]:
    with start_local_endpoint(
        "llmcrash", "--isolation", "process", **{FAULTS_ENV: str(plan_path)}
    ) as running:
        yield running


@pytest.fixture()
def model_server() -> Iterator[LocalHttpServer]:
    server = start_http_server()
    try:
        yield server
    finally:
        server.server.shutdown()


def test_a_crash_after_the_answer_does_not_call_the_model_again(
    endpoint: LocalEndpoint, plan_path: Path, model_server: LocalHttpServer
) -> None:
    completion = {"choices": [{"message": {"content": "Three orders shipped."}, "finish_reason": "stop"}]}
    model_server.route("POST", "/v1/chat/completions", body=completion)
    wf = workflow(
        "llm-crash",
        [
            llm_chat(
                "summarize",
                "local-llm",
                provider="openai",
                base_url=f"{model_server.url}/v1",
                prompt="Summarize",
            ),
            transform("publish", "{{ nodes.summarize.text }}"),
        ],
        chain_edges(["summarize", "publish"]),
    )
    deployment = locate(endpoint.url)
    client = SegflowClient(deployment.session, deployment.resources)

    arn = client.start(wf, {})
    description = client.wait(arn, timeout_seconds=180)

    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert fired(plan_path) == [KILL], "the handler was killed once, after the answer was kept"
    causes = failed_lambda_causes(stores_of(client).sfn, arn)
    assert len(causes) == 1 and "signal: killed" in causes[0]
    assert len(model_server.requests_to("/v1/chat/completions")) == 1, "the model was called once"
    assert client.output(arn)["output"] == {"publish": "Three orders shipped."}
