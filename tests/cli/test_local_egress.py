"""``segflow local up -c egress_allow=… -c egress_deny=…``: the egress policy's lists, checked as the stack
checks its contexts, added to the local runtime's (which allows loopback)."""

from __future__ import annotations

import pytest

from segflow_cli.client import SegflowClient
from segflow_cli.locate import locate
from tests.cli.conftest import run_segflow, start_local_endpoint
from tests.support.http_server import start_http_server
from tests.support.workflows import api_call, workflow

pytestmark = pytest.mark.e2e


def test_a_deny_list_given_to_local_up_refuses_a_host_and_loopback_stays_allowed() -> None:
    server = start_http_server()
    server.route("POST", "/orders", status=201)
    port = server.server.server_address[1]
    try:
        with start_local_endpoint("egress", "-c", "egress_deny=localhost") as endpoint:
            deployment = locate(endpoint.url)
            client = SegflowClient(deployment.session, deployment.resources)
            denied = client.start(
                workflow("egress-denied", [api_call("call", f"http://localhost:{port}/orders")])
            )
            allowed = client.start(workflow("egress-allowed", [api_call("call", f"{server.url}/orders")]))
            assert client.wait(allowed, timeout_seconds=120)["status"] == "SUCCEEDED"
            assert client.wait(denied, timeout_seconds=120)["status"] == "FAILED"
            record = client.node_records(denied)["call"]
    finally:
        server.server.shutdown()

    assert record.error_type == "EgressDenied"
    assert "localhost matches localhost of the deny list (egress_deny)" in (record.error_message or "")
    assert len(server.requests) == 1  # the allowed one


def test_an_entry_that_is_no_host_or_cidr_is_refused_before_anything_starts() -> None:
    result = run_segflow("local", "up", "--port", "0", "-c", "egress_allow=https://api.example.com")

    assert result.returncode != 0
    assert "egress_allow: 'https://api.example.com' is neither a host name" in result.stderr
