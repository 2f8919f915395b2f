"""Which IP addresses a fetch may connect to: the SSRF address policy.

An explicit table rather than `ipaddress`'s `is_private`/`is_global`, whose answers have
changed between Python patch releases and which treat IPv4 multicast as global. Addresses
that embed an IPv4 address (IPv4-mapped `::ffff:a.b.c.d`, the deprecated IPv4-compatible
`::a.b.c.d`, NAT64 `64:ff9b::a.b.c.d` and 6to4 `2002:aabb:ccdd::`) are judged by the IPv4
address they reach, so `[::ffff:127.0.0.1]` is loopback. For IPv6, only global unicast
(2000::/3) is allowed at all, minus the special-purpose ranges inside it.
"""

from __future__ import annotations

import ipaddress
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

_BLOCKED_V4: tuple[tuple[IPv4Network, str], ...] = tuple(
    (IPv4Network(net), why) for net, why in (
        ("0.0.0.0/8", "unspecified / this network"),
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "carrier-grade NAT"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local, cloud metadata"),
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "IETF protocol assignments"),
        ("192.0.2.0/24", "documentation"),
        ("192.88.99.0/24", "6to4 relay anycast"),
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "benchmarking"),
        ("198.51.100.0/24", "documentation"),
        ("203.0.113.0/24", "documentation"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved, broadcast"),
    )
)

_GLOBAL_UNICAST_V6 = IPv6Network("2000::/3")
_BLOCKED_V6: tuple[tuple[IPv6Network, str], ...] = tuple(
    (IPv6Network(net), why) for net, why in (
        ("2001::/23", "IETF protocol assignments (Teredo and others)"),
        ("2001:db8::/32", "documentation"),
        ("3fff::/20", "documentation"),
    )
)
_IPV4_COMPATIBLE = IPv6Network("::/96")
_NAT64 = IPv6Network("64:ff9b::/96")


def blocked_reason(address: IPv4Address | IPv6Address) -> str | None:
    """Why `address` must not be fetched from (e.g. "loopback"), or None if it may be."""
    if isinstance(address, IPv4Address):
        return _blocked_v4(address)
    return _blocked_v6(address)


def _blocked_v4(address: IPv4Address) -> str | None:
    for network, why in _BLOCKED_V4:
        if address in network:
            return why
    return None


def _blocked_v6(address: IPv6Address) -> str | None:
    if address == IPv6Address("::"):
        return "unspecified"
    if address == IPv6Address("::1"):
        return "loopback"
    embedded, form = _embedded_v4(address)
    if embedded is not None:
        why = _blocked_v4(embedded)
        if why is not None:
            return f"{form} form of {embedded}: {why}"
        if form == "IPv4-compatible":
            return "deprecated IPv4-compatible address"
        return None
    if address.is_multicast:
        return "multicast"
    if address in IPv6Network("fc00::/7"):
        return "unique local (private)"
    if address in IPv6Network("fe80::/10"):
        return "link-local"
    if address not in _GLOBAL_UNICAST_V6:
        return "reserved (not global unicast)"
    for network, why in _BLOCKED_V6:
        if address in network:
            return why
    return None


def _embedded_v4(address: IPv6Address) -> tuple[IPv4Address | None, str]:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped, "IPv4-mapped"
    if address.sixtofour is not None:
        return address.sixtofour, "6to4"
    low32 = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _NAT64:
        return low32, "NAT64"
    if address in _IPV4_COMPATIBLE:
        return low32, "IPv4-compatible"
    return None, ""
