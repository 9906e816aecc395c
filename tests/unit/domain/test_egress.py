"""The egress policy's decisions, on addresses (no resolving, no network): what is never reached, what the
default refuses, and how the allow and deny lists decide (the most specific entry, deny on a tie)."""

from __future__ import annotations

import pytest
from segflow.domain.egress import (
    EGRESS_ALLOW_ENV,
    EGRESS_DENY_ENV,
    LAMBDA_RUNTIME_API_ENV,
    EgressPolicy,
    parse_entries,
)
from segflow.domain.errors import EgressDenied


def policy(allow: str = "", deny: str = "", runtime_api: str = "127.0.0.1:9001") -> EgressPolicy:
    return EgressPolicy.from_environment(
        {EGRESS_ALLOW_ENV: allow, EGRESS_DENY_ENV: deny, LAMBDA_RUNTIME_API_ENV: runtime_api}
    )


def refused(p: EgressPolicy, address: str, host: str | None = None, port: int = 443) -> str | None:
    return p.refusal(host or address, port, address)


@pytest.mark.parametrize(
    "address",
    [
        "169.254.169.254",
        "169.254.170.2",
        "fe80::1",
        "fd00:ec2::254",
        "::ffff:169.254.169.254",
        "0.0.0.0",
        "::",
    ],
)
def test_link_local_metadata_and_this_host_are_never_reached_even_when_allowed(address: str) -> None:
    everything = policy(allow="0.0.0.0/0,::/0,169.254.169.254")
    assert refused(policy(), address) is not None
    assert refused(everything, address) is not None


def test_the_metadata_address_is_named_with_its_rule() -> None:
    with pytest.raises(EgressDenied) as raised:
        policy().check("169.254.169.254", 80, ["169.254.169.254"])
    assert str(raised.value) == "169.254.169.254 is link-local (instance metadata) — egress policy"
    assert raised.value.error_type == "EgressDenied" and not raised.value.retryable


def test_a_name_that_resolves_to_a_refused_address_is_refused_naming_both() -> None:
    with pytest.raises(EgressDenied) as raised:
        policy().check("metadata.example.com", 80, ["169.254.169.254"])
    assert str(raised.value).startswith("metadata.example.com resolves to 169.254.169.254: ")


def test_one_refused_address_among_those_a_name_resolves_to_refuses_the_name() -> None:
    with pytest.raises(EgressDenied, match="loopback"):
        policy().check("rebind.example.com", 443, ["93.184.216.34", "127.0.0.1"])
    policy().check("api.example.com", 443, ["93.184.216.34", "2606:2800:220:1::1"])  # nothing refused


@pytest.mark.parametrize("address", ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1", "64:ff9b::7f00:1"])
def test_loopback_is_refused_by_default_and_reached_when_allowed(address: str) -> None:
    assert "loopback" in (refused(policy(), address) or "")
    assert refused(policy(allow="127.0.0.0/8,::1"), address) is None


def test_the_lambda_runtime_api_is_refused_even_with_loopback_allowed() -> None:
    local = policy(allow="127.0.0.0/8,127.0.0.1", runtime_api="127.0.0.1:9001")
    assert refused(local, "127.0.0.1", port=9001) == "127.0.0.1:9001 is the Lambda runtime API"
    assert refused(local, "127.0.0.1", port=9002) is None


def test_private_ranges_are_allowed_by_default_and_refused_by_a_deny_list_cidr() -> None:
    deny_private = policy(deny="10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7")
    for address in ("10.1.2.3", "172.20.0.5", "192.168.1.1", "fd12::1"):
        assert refused(policy(), address) is None
        assert "of the deny list" in (refused(deny_private, address) or "")
    assert refused(deny_private, "172.32.0.1") is None  # outside 172.16.0.0/12


def test_the_most_specific_entry_decides_and_deny_wins_a_tie() -> None:
    only_partner = policy(deny="0.0.0.0/0,::/0", allow="api.partner.example,10.1.2.0/24")
    assert refused(only_partner, "93.184.216.34", host="api.partner.example") is None
    assert refused(only_partner, "10.1.2.9") is None
    assert refused(only_partner, "93.184.216.34", host="elsewhere.example") is not None
    narrow_deny = policy(allow="10.0.0.0/8", deny="10.0.0.5")
    assert refused(narrow_deny, "10.0.0.5") is not None and refused(narrow_deny, "10.0.0.6") is None
    assert refused(policy(allow="10.0.0.0/8", deny="10.0.0.0/8"), "10.9.9.9") is not None


def test_host_entries_match_the_name_or_its_subdomains() -> None:
    p = policy(deny="evil.example,*.tracker.example")
    assert refused(p, "93.184.216.34", host="EVIL.example.") == (
        "evil.example matches evil.example of the deny list (egress_deny)"
    )
    assert refused(p, "93.184.216.34", host="a.b.tracker.example") is not None
    assert refused(p, "93.184.216.34", host="tracker.example") is None
    assert refused(p, "93.184.216.34", host="notevil.example") is None


def test_entries_are_checked() -> None:
    assert [str(e) for e in parse_entries(" 10.0.0.1 ,*.Example.com,fd00::/8,", "egress_allow")] == [
        "10.0.0.1/32",
        "*.example.com",
        "fd00::/8",
    ]
    for bad in ("http://x.example", "10.0.0.0/33", "a..b", "*"):
        with pytest.raises(ValueError, match="egress_deny"):
            parse_entries(bad, "egress_deny")
