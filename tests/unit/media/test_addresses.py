"""The address policy: what the fetcher may connect to."""

from ipaddress import ip_address

import pytest

from vertexcompat.media.addresses import blocked_reason


@pytest.mark.parametrize(("address", "why"), [
    ("127.0.0.1", "loopback"), ("127.255.0.9", "loopback"), ("10.0.0.1", "private"),
    ("172.31.255.255", "private"), ("192.168.0.1", "private"),
    ("100.64.0.1", "carrier-grade NAT"), ("169.254.169.254", "link-local"),
    ("0.0.0.0", "unspecified"), ("224.0.0.251", "multicast"), ("239.1.1.1", "multicast"),
    ("255.255.255.255", "broadcast"), ("240.0.0.1", "reserved"), ("192.0.2.7", "documentation"),
    ("198.18.0.1", "benchmarking"),
    ("::1", "loopback"), ("::", "unspecified"), ("fd12:3456::1", "unique local"),
    ("fc00::1", "unique local"), ("fe80::1", "link-local"), ("ff02::1", "multicast"),
    ("fec0::1", "reserved"), ("2001:db8::1", "documentation"),
    ("::ffff:127.0.0.1", "IPv4-mapped form of 127.0.0.1: loopback"),
    ("::ffff:169.254.169.254", "IPv4-mapped form of 169.254.169.254"),
    ("::127.0.0.1", "IPv4-compatible form of 127.0.0.1"),
    ("::8.8.8.8", "deprecated IPv4-compatible"),
    ("64:ff9b::10.0.0.1", "NAT64 form of 10.0.0.1"),
    ("2002:a9fe:a9fe::1", "6to4 form of 169.254.169.254"),
    ("2001:0:4136:e378::1", "Teredo"),
])
def test_non_public_addresses_are_blocked_with_a_reason(address, why):
    reason = blocked_reason(ip_address(address))
    assert reason is not None and why in reason


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "93.184.216.34", "::ffff:8.8.8.8",
                                     "2606:4700:4700::1111", "2a00:1450:4001::200e",
                                     "64:ff9b::8.8.8.8"])
def test_public_addresses_are_allowed(address):
    assert blocked_reason(ip_address(address)) is None
