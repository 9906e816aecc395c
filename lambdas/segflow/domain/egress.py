"""The egress policy: which hosts and addresses the outbound HTTP calls of nodes may reach.

Decided on every address a host name resolves to, before anything is sent (``segflow.nodes.http_client``
connects to an address this policy allowed, never to the name again). In order:

1. Never reached, whatever the lists say: link-local addresses (169.254.0.0/16 and fe80::/10: the instance
   metadata and credentials endpoints), the metadata endpoint's IPv6 address, the unspecified address (this
   host), and the Lambda runtime API (``AWS_LAMBDA_RUNTIME_API``, the address and port it names).
2. The deny and allow lists (the stack's ``egress_deny`` and ``egress_allow`` contexts): host names
   (``api.example.com``, ``*.example.com``) and addresses or CIDRs. The most specific entry that matches
   decides: a host name is more specific than any CIDR, a longer prefix more than a shorter one, and deny wins
   a tie. ``egress_deny=0.0.0.0/0,::/0`` with ``egress_allow=api.example.com`` reaches that host only.
3. Refused unless allowed: loopback (127.0.0.0/8, ::1).
4. Everything else is allowed, private ranges included: a function in a VPC calls services there (deny them
   with ``egress_deny=10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from segflow.domain.errors import EgressDenied

# What the stack gives the functions that run nodes (from its contexts), comma-separated entries.
EGRESS_ALLOW_ENV = "SEGFLOW_EGRESS_ALLOW"
EGRESS_DENY_ENV = "SEGFLOW_EGRESS_DENY"
# Set by Lambda in every function: host:port of the runtime API (the function's own invocations).
LAMBDA_RUNTIME_API_ENV = "AWS_LAMBDA_RUNTIME_API"

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_HOST = re.compile(r"(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")
# A host name entry decides before any CIDR (prefix lengths are at most 128).
_HOST_SPECIFICITY = 1000
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")

_NEVER: tuple[tuple[Network, str], ...] = (
    (ipaddress.IPv4Network("169.254.0.0/16"), "link-local (instance metadata)"),
    (ipaddress.IPv6Network("fe80::/10"), "link-local (instance metadata)"),
    (ipaddress.IPv6Network("fd00:ec2::254/128"), "the instance metadata endpoint"),
    (ipaddress.IPv4Network("0.0.0.0/8"), "the unspecified address (this host)"),
    (ipaddress.IPv6Network("::/128"), "the unspecified address (this host)"),
)
_UNLESS_ALLOWED: tuple[tuple[Network, str], ...] = (
    (ipaddress.IPv4Network("127.0.0.0/8"), "loopback"),
    (ipaddress.IPv6Network("::1/128"), "loopback"),
)


def address_of(text: str) -> Address | None:
    """``text`` as an address (IPv4 inside IPv6, mapped or NAT64, as the IPv4 address), or None."""
    try:
        address = ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


@dataclass(frozen=True)
class EgressEntry:
    """One entry of an allow or deny list: a host name (``*.`` for its subdomains) or a network."""

    host: str | None = None
    network: Network | None = None

    @classmethod
    def parse(cls, text: str) -> EgressEntry:
        entry = text.strip().lower()
        try:
            network = ipaddress.ip_network(entry.strip("[]"), strict=False)
        except ValueError:
            if not _HOST.fullmatch(entry) or len(entry) > 253:
                raise ValueError(
                    f"{text!r} is neither a host name (or *.domain) nor an address or CIDR"
                ) from None
            return cls(host=entry)
        return cls(network=network)

    def specificity(self, host: str, address: Address) -> int | None:
        """How specific a match this entry is for ``host`` at ``address`` (None: no match)."""
        if self.host is not None:
            if self.host.startswith("*."):
                return _HOST_SPECIFICITY if host.endswith(self.host[1:]) else None
            return _HOST_SPECIFICITY + 1 if host == self.host else None
        assert self.network is not None
        if self.network.version == address.version and address in self.network:
            return self.network.prefixlen
        return None

    def __str__(self) -> str:
        return self.host if self.host is not None else str(self.network)


def parse_entries(value: str | Iterable[str] | None, what: str) -> tuple[EgressEntry, ...]:
    """``a,b`` (or a list) -> the entries; ValueError names ``what`` and the entry that is not one."""
    listed = value.split(",") if isinstance(value, str) else list(value or ())
    entries = []
    for text in listed:
        if text.strip():
            try:
                entries.append(EgressEntry.parse(text))
            except ValueError as error:
                raise ValueError(f"{what}: {error}") from None
    return tuple(entries)


def _best(entries: tuple[EgressEntry, ...], host: str, address: Address) -> tuple[int, EgressEntry] | None:
    matches = [(s, e) for e in entries if (s := e.specificity(host, address)) is not None]
    return max(matches, key=lambda match: match[0]) if matches else None


def _runtime_api(value: str | None) -> tuple[Address, int] | None:
    """The address and port of ``AWS_LAMBDA_RUNTIME_API`` (``127.0.0.1:9001``), when it names an address."""
    if not value:
        return None
    host, _, port = value.rpartition(":")
    address = address_of(host)
    return (address, int(port)) if address is not None and port.isdigit() else None


@dataclass(frozen=True)
class EgressPolicy:
    allow: tuple[EgressEntry, ...] = ()
    deny: tuple[EgressEntry, ...] = ()
    runtime_api: tuple[Address, int] | None = None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> EgressPolicy:
        """The policy the stack set for this function (its lists), and the Lambda runtime API beside it."""
        return cls(
            allow=parse_entries(environ.get(EGRESS_ALLOW_ENV), EGRESS_ALLOW_ENV),
            deny=parse_entries(environ.get(EGRESS_DENY_ENV), EGRESS_DENY_ENV),
            runtime_api=_runtime_api(environ.get(LAMBDA_RUNTIME_API_ENV)),
        )

    def refusal(self, host: str, port: int, address_text: str) -> str | None:
        """Why ``host`` at ``address_text``:``port`` may not be reached (the rule), or None when it may."""
        address = address_of(address_text)
        if address is None:
            return f"{address_text!r} is not an address"
        host = host.lower().strip("[]").rstrip(".")
        for network, rule in _NEVER:
            if address.version == network.version and address in network:
                return f"{address} is {rule}"
        if self.runtime_api is not None and self.runtime_api == (address, port):
            return f"{address}:{port} is the Lambda runtime API"
        denied, allowed = _best(self.deny, host, address), _best(self.allow, host, address)
        if denied is not None and (allowed is None or denied[0] >= allowed[0]):
            what = host if denied[1].host is not None else str(address)
            return f"{what} matches {denied[1]} of the deny list (egress_deny)"
        if allowed is not None:
            return None
        for network, rule in _UNLESS_ALLOWED:
            if address.version == network.version and address in network:
                return f"{address} is {rule} (not in the allow list, egress_allow)"
        return None

    def check(self, host: str, port: int, addresses: Iterable[str]) -> None:
        """Raise :class:`EgressDenied` unless every address ``host`` resolves to may be reached."""
        for address in addresses:
            reason = self.refusal(host, port, address)
            if reason is not None:
                named = "" if address_of(host) is not None else f"{host} resolves to {address}: "
                raise EgressDenied(f"{named}{reason} — egress policy")
