"""The one outbound HTTP client against real servers on loopback: redirects (not followed unless a node opts
in, then same origin only), the egress policy on resolved addresses (names resolved by a stub resolver, so
nothing is sent anywhere but loopback), the connection pinned to the checked address, and which error a
timeout is."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from segflow.domain.deadline import Deadline
from segflow.domain.egress import EGRESS_ALLOW_ENV
from segflow.domain.errors import EgressDenied, NodeTimedOut
from segflow.nodes.http_client import HttpError, HttpTimeout, send

from tests.support.http_server import LocalHttpServer, start_http_server


@pytest.fixture()
def server() -> Iterator[LocalHttpServer]:
    local = start_http_server()
    yield local
    local.server.shutdown()


@pytest.fixture()
def elsewhere() -> Iterator[LocalHttpServer]:
    """Another origin (another port): what a cross-origin redirect points at."""
    local = start_http_server()
    yield local
    local.server.shutdown()


def port_of(server: LocalHttpServer) -> int:
    return int(server.server.server_address[1])


def post(url: str, **kwargs: object) -> object:
    return send("POST", url, idempotency_key="k-1", timeout=5, body={"amount": 5}, **kwargs)  # type: ignore[arg-type]


# --- redirects ----------------------------------------------------------------------------------------------


def test_a_post_answered_302_is_reported_as_a_302_and_no_get_is_sent(server: LocalHttpServer) -> None:
    server.route("POST", "/charge", status=302, headers={"Location": "/receipt"})
    server.route("GET", "/receipt", status=200, body={"ok": True})

    with pytest.raises(HttpError) as raised:
        post(f"{server.url}/charge")

    assert raised.value.status == 302 and not raised.value.retryable
    assert f"answered 302 redirect to {server.url}/receipt: redirects are not followed" in str(raised.value)
    assert [(r.method, r.path) for r in server.requests] == [("POST", "/charge")]


def test_a_redirect_listed_in_expected_status_is_the_answer(server: LocalHttpServer) -> None:
    server.route("POST", "/charge", status=302, headers={"Location": "/receipt"})

    answer = post(f"{server.url}/charge", expected_status=[302])

    assert answer.status == 302  # type: ignore[attr-defined]
    assert [r.path for r in server.requests] == ["/charge"]


def test_same_origin_opt_in_follows_307_with_method_body_and_key(server: LocalHttpServer) -> None:
    server.route("POST", "/v1/charge", status=307, headers={"Location": "/v2/charge"})
    server.route("POST", "/v2/charge", status=201, body={"charged": True})

    answer = post(f"{server.url}/v1/charge", follow_redirects="same_origin")

    assert answer.status == 201 and answer.body == {"charged": True}  # type: ignore[attr-defined]
    moved = server.requests_to("/v2/charge")[0]
    assert (moved.method, moved.body, moved.headers["Idempotency-Key"]) == ("POST", {"amount": 5}, "k-1")


def test_same_origin_opt_in_follows_a_get_302_and_a_303_as_a_get(server: LocalHttpServer) -> None:
    server.route("GET", "/old", status=302, headers={"Location": "/new"})
    server.route("GET", "/new", status=200, body={"here": True})
    server.route("POST", "/jobs", status=303, headers={"Location": "/jobs/7"})
    server.route("GET", "/jobs/7", status=200, body={"job": 7})

    got = send("GET", f"{server.url}/old", idempotency_key="k", timeout=5, follow_redirects="same_origin")
    posted = post(f"{server.url}/jobs", follow_redirects="same_origin")

    assert got.body == {"here": True} and posted.body == {"job": 7}  # type: ignore[attr-defined]
    assert server.requests_to("/jobs/7")[0].body is None


def test_same_origin_opt_in_still_reports_a_post_answered_302(server: LocalHttpServer) -> None:
    server.route("POST", "/charge", status=302, headers={"Location": "/receipt"})
    server.route("GET", "/receipt", status=200)

    with pytest.raises(HttpError, match="a 302 of a POST is not followed") as raised:
        post(f"{server.url}/charge", follow_redirects="same_origin")

    assert raised.value.status == 302 and [r.path for r in server.requests] == ["/charge"]


def test_a_cross_origin_redirect_is_never_followed_and_credentials_stay_home(
    server: LocalHttpServer, elsewhere: LocalHttpServer
) -> None:
    server.route("GET", "/data", status=307, headers={"Location": f"{elsewhere.url}/data"})
    elsewhere.route("GET", "/data", status=200)

    with pytest.raises(HttpError, match="another origin, never followed") as raised:
        send(
            "GET",
            f"{server.url}/data",
            idempotency_key="k",
            timeout=5,
            headers={"Authorization": "Bearer secret-token", "Cookie": "session=1"},
            follow_redirects="same_origin",
        )

    assert raised.value.status == 307
    assert server.requests[0].headers["Authorization"] == "Bearer secret-token"
    assert elsewhere.requests == []


# --- egress policy ------------------------------------------------------------------------------------------


def test_a_name_resolving_to_the_metadata_address_is_refused_before_connecting() -> None:
    asked: list[tuple[str, int]] = []

    def resolver(host: str, port: int) -> list[str]:
        asked.append((host, port))
        return ["169.254.169.254"]

    with pytest.raises(EgressDenied) as raised:
        send("GET", "http://metadata.example.com/latest/", idempotency_key="k", timeout=5, resolver=resolver)

    assert str(raised.value) == (
        "metadata.example.com resolves to 169.254.169.254: 169.254.169.254 is link-local (instance metadata)"
        " — egress policy"
    )
    assert asked == [("metadata.example.com", 80)]


def test_loopback_is_refused_by_the_stacks_default_and_nothing_reaches_it(
    server: LocalHttpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(EGRESS_ALLOW_ENV)  # the stack's default: no allow list
    server.route("POST", "/internal", status=200)

    with pytest.raises(EgressDenied, match=r"127\.0\.0\.1 is loopback"):
        post(f"{server.url}/internal")
    with pytest.raises(EgressDenied, match=r"internal\.example\.com resolves to 127\.0\.0\.1"):
        post(f"http://internal.example.com:{port_of(server)}/internal", resolver=lambda h, p: ["127.0.0.1"])

    assert server.requests == []


def test_the_connection_goes_to_the_checked_address_with_the_name_as_host(
    server: LocalHttpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Allowed by name only; a second lookup would answer the metadata address (DNS rebinding).
    monkeypatch.setenv(EGRESS_ALLOW_ENV, "api.partner.example")
    answers = iter([["127.0.0.1"], ["169.254.169.254"]])
    server.route("POST", "/orders", status=201)

    answer = post(f"http://api.partner.example:{port_of(server)}/orders", resolver=lambda h, p: next(answers))

    assert answer.status == 201  # type: ignore[attr-defined]
    assert server.requests[0].headers["Host"] == f"api.partner.example:{port_of(server)}"
    assert next(answers) == ["169.254.169.254"]  # resolved once


def test_a_same_origin_redirect_is_checked_again(
    server: LocalHttpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(EGRESS_ALLOW_ENV, "api.partner.example")
    answers = iter([["127.0.0.1"], ["169.254.169.254"]])
    server.route("GET", "/a", status=307, headers={"Location": "/b"})

    with pytest.raises(EgressDenied, match="link-local"):
        send(
            "GET",
            f"http://api.partner.example:{port_of(server)}/a",
            idempotency_key="k",
            timeout=5,
            follow_redirects="same_origin",
            resolver=lambda h, p: next(answers),
        )
    assert [r.path for r in server.requests] == ["/a"]


# --- which timeout ------------------------------------------------------------------------------------------


def test_a_request_the_nodes_timeout_ends_is_a_node_timeout(server: LocalHttpServer) -> None:
    server.route("POST", "/slow", delay_seconds=5)
    node = Deadline.after(60).within(0.3)

    with pytest.raises(NodeTimedOut) as raised:
        post(f"{server.url}/slow", deadline=node)

    assert raised.value.error_type == "NodeTimeout"
    assert "did not finish within timeout_seconds 0.3" in str(raised.value)
    assert "it may have reached the server" in str(raised.value)


def test_a_request_whose_own_timeout_ends_first_is_an_http_timeout(server: LocalHttpServer) -> None:
    server.route("POST", "/slow", delay_seconds=5)

    with pytest.raises(HttpTimeout):
        send(
            "POST",
            f"{server.url}/slow",
            idempotency_key="k",
            timeout=0.3,
            deadline=Deadline.after(60).within(10),
        )
