"""action/api_call against a real local HTTP server: request shape, failures, retries and timeouts."""

from __future__ import annotations

import socket
import threading
from urllib.parse import parse_qs, urlsplit

import pytest
from segflow.domain.ids import execution_id_of

from segflow_cli.client import SegflowClient
from tests.conftest import run_to_end
from tests.support.e2e import final_output, node_outputs, statuses, unique_path
from tests.support.http_server import LocalHttpServer
from tests.support.workflows import api_call, edge, transform, workflow

pytestmark = pytest.mark.e2e


def call_then_report(node: dict) -> dict:
    """prepare -> the call -> report (which must never run when the call fails)."""
    return workflow(
        "api-call",
        [transform("prepare", {"ready": True}), node, transform("report", "{{ nodes.call.status }}")],
        [edge("prepare", node["node_id"]), edge(node["node_id"], "report")],
    )


def test_method_headers_query_and_json_body_reach_the_server(
    client: SegflowClient, http_server: LocalHttpServer
) -> None:
    # Given the seed's deploy_model node, pointed at the local server, with a header and a query
    path = unique_path("deploy")
    http_server.route("PUT", path, status=201, body={"endpoint": "ep-1", "accepted": True})
    node = api_call(
        "call",
        http_server.url + path,
        method="PUT",
        headers={"X-Trace": "trace-{{ input.version }}", "Authorization": "Bearer local"},
        query={"region": "{{ input.region }}"},
        body={"model_id": "{{model_id}}", "version": "{{version}}", "environment": "production"},
    )

    # When it runs
    arn, description = run_to_end(
        client, call_then_report(node), {"model_id": "m-42", "version": 3, "region": "eu-west-1"}
    )

    # Then the server received exactly that request
    assert description["status"] == "SUCCEEDED", description.get("cause")
    [request] = http_server.requests_to(path)
    assert request.method == "PUT"
    assert request.path.endswith("?region=eu-west-1")
    assert request.headers["X-Trace"] == "trace-3"
    assert request.headers["Authorization"] == "Bearer local"
    assert request.headers["Content-Type"] == "application/json"
    assert request.body == {"model_id": "m-42", "version": 3, "environment": "production"}
    # with an idempotency key naming tenant, execution and node
    assert request.headers["Idempotency-Key"] == f"default:{execution_id_of(arn)}:call"
    # and the answer is the node's output, readable by the next node
    assert node_outputs(client, arn)["call"] == {
        "status": 201,
        "body": {"endpoint": "ep-1", "accepted": True},
        "content_type": "application/json",
    }
    assert final_output(client, arn) == {"report": 201}


def test_a_get_sends_no_body(client: SegflowClient, http_server: LocalHttpServer) -> None:
    path = unique_path("get")
    http_server.route("GET", path, body={"items": [1, 2]})
    arn, description = run_to_end(
        client, call_then_report(api_call("call", http_server.url + path, method="GET", body={"x": 1}))
    )
    assert description["status"] == "SUCCEEDED", description.get("cause")
    [request] = http_server.requests_to(path)
    assert request.method == "GET" and request.body is None
    assert node_outputs(client, arn)["call"]["body"] == {"items": [1, 2]}


@pytest.mark.parametrize("status", [400, 500])
def test_a_non_2xx_answer_fails_the_node_and_the_execution(
    client: SegflowClient, http_server: LocalHttpServer, status: int
) -> None:
    # Given an API that answers with an error
    path = unique_path(f"status-{status}")
    http_server.route("POST", path, status=status, body={"error": "quota exceeded"})
    wf = call_then_report(api_call("call", http_server.url + path))

    # When the workflow runs
    arn, description = run_to_end(client, wf)

    # Then the execution fails, its error and cause naming the node and the HTTP error
    assert description["status"] == "FAILED"
    cause = description["cause"]
    assert "'call'" in cause and "HttpError" in cause and str(status) in cause
    assert "quota exceeded" in cause
    record = client.node_records(arn)["call"]
    assert (record.status, record.error_type, record.attempt) == ("failed", "HttpError", 1)
    assert statuses(client, arn, wf)["report"] == "pending", "nothing after the failed node ran"
    assert len(http_server.requests_to(path)) == 1, "no retry without a retry policy"


def test_a_retry_policy_retries_until_the_third_attempt_succeeds(
    client: SegflowClient, http_server: LocalHttpServer
) -> None:
    # Given an API that answers 503 twice, then 200, and a node allowed three attempts
    path = unique_path("flaky")
    http_server.route("POST", path, body={"ok": True}, fail_times=2)
    retry = {"max_attempts": 3, "backoff_seconds": 0.1, "backoff_rate": 2.0}
    wf = call_then_report(api_call("call", http_server.url + path, body={"n": 1}, retry=retry))

    # When it runs
    arn, description = run_to_end(client, wf)

    # Then it succeeds on the third attempt, and the record says so
    assert description["status"] == "SUCCEEDED", description.get("cause")
    record = client.node_records(arn)["call"]
    assert (record.status, record.attempt) == ("succeeded", 3)
    requests = http_server.requests_to(path)
    assert len(requests) == 3
    # every attempt carried the same idempotency key, so the receiver can tell them apart from new calls
    assert len({r.headers["Idempotency-Key"] for r in requests}) == 1
    # and the back-off was honoured (0.1 s, then 0.2 s)
    assert requests[2].at - requests[0].at >= 0.3
    assert final_output(client, arn) == {"report": 200}


def test_a_retry_policy_gives_up_after_max_attempts(
    client: SegflowClient, http_server: LocalHttpServer
) -> None:
    path = unique_path("down")
    http_server.route("POST", path, status=503, body={"error": "down"})
    retry = {"max_attempts": 2, "backoff_seconds": 0.05}
    arn, description = run_to_end(
        client, call_then_report(api_call("call", http_server.url + path, retry=retry))
    )
    assert description["status"] == "FAILED"
    assert "'call'" in description["cause"]
    record = client.node_records(arn)["call"]
    assert (record.status, record.error_type, record.attempt) == ("failed", "HttpError", 2)
    assert len(http_server.requests_to(path)) == 2


def test_a_client_error_is_not_retried_even_with_a_retry_policy(
    client: SegflowClient, http_server: LocalHttpServer
) -> None:
    path = unique_path("bad-request")
    http_server.route("POST", path, status=422, body={"error": "invalid"})
    retry = {"max_attempts": 3, "backoff_seconds": 0.05}
    arn, description = run_to_end(
        client, call_then_report(api_call("call", http_server.url + path, retry=retry))
    )
    assert description["status"] == "FAILED"
    assert len(http_server.requests_to(path)) == 1
    assert client.node_records(arn)["call"].attempt == 1


def test_a_timeout_shorter_than_the_answer_fails_with_http_timeout(
    client: SegflowClient, http_server: LocalHttpServer
) -> None:
    # Given an API that takes 2 s and a node that waits 0.5 s
    path = unique_path("too-slow")
    http_server.route("POST", path, delay_seconds=2)
    wf = call_then_report(api_call("call", http_server.url + path, timeout_seconds=0.5))

    # When it runs
    arn, description = run_to_end(client, wf)

    # Then the node fails with HttpTimeout after about the timeout, and so does the execution
    assert description["status"] == "FAILED"
    assert "'call'" in description["cause"] and "HttpTimeout" in description["cause"]
    record = client.node_records(arn)["call"]
    assert (record.status, record.error_type) == ("failed", "HttpTimeout")
    assert 400 <= record.duration_ms < 2000


def test_an_unreachable_host_fails_with_connection_failed(client: SegflowClient) -> None:
    wf = call_then_report(api_call("call", "http://127.0.0.1:9/unreachable", timeout_seconds=2))
    arn, description = run_to_end(client, wf)
    assert description["status"] == "FAILED"
    assert client.node_records(arn)["call"].error_type == "ConnectionFailed"


def test_a_server_that_closes_the_connection_unanswered_fails_with_connection_failed(
    client: SegflowClient,
) -> None:
    # Given a server that accepts each connection, reads the request and closes without a reply
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    accepted: list[int] = []

    def hang_up() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            accepted.append(1)
            connection.recv(65536)
            connection.close()

    threading.Thread(target=hang_up, daemon=True).start()
    retry = {"max_attempts": 2, "backoff_seconds": 0.01}
    wf = call_then_report(api_call("call", f"http://127.0.0.1:{port}/hang-up", retry=retry))

    # When it runs
    try:
        arn, description = run_to_end(client, wf)
    finally:
        listener.close()

    # Then the call was retried as a connection failure, and the node failed with it
    assert description["status"] == "FAILED"
    record = client.node_records(arn)["call"]
    assert (record.status, record.error_type) == ("failed", "ConnectionFailed")
    assert len(accepted) == 2


def test_a_templated_url_that_renders_to_another_scheme_is_refused_at_run_time(client: SegflowClient) -> None:
    wf = call_then_report(api_call("call", "{{ input.url }}"))
    arn, description = run_to_end(client, wf, {"url": "file:///etc/passwd"})
    assert description["status"] == "FAILED"
    record = client.node_records(arn)["call"]
    assert record.error_type == "ConfigError"
    assert "http or https" in record.error_message


def test_json_query_values_are_sent_as_json_text(client: SegflowClient, http_server: LocalHttpServer) -> None:
    path = unique_path("query")
    http_server.route("GET", path, body={"ok": True})
    node = api_call(
        "call",
        http_server.url + path,
        method="GET",
        query={
            "dry_run": "{{ input.dry_run }}",
            "limit": "{{ input.limit }}",
            "cursor": "{{ input.cursor }}",
        },
    )
    _, description = run_to_end(
        client, call_then_report(node), {"dry_run": False, "limit": 5, "cursor": None}
    )
    assert description["status"] == "SUCCEEDED", description.get("cause")
    [request] = http_server.requests_to(path)
    query = parse_qs(urlsplit(request.path).query, keep_blank_values=True)
    assert query == {"dry_run": ["false"], "limit": ["5"], "cursor": [""]}
