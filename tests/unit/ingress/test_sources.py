"""Which address a request comes from: X-Forwarded-For is believed only from trusted proxies."""

from __future__ import annotations

import ipaddress

import pytest

from ingress.sources import client_address, parse_address, parse_networks

PROXIES = parse_networks("10.0.0.0/8, fd00::/8")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("203.0.113.7", "203.0.113.7"),
        (" 203.0.113.7:443 ", "203.0.113.7"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("2001:db8::1", "2001:db8::1"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("unknown", None),
        ("", None),
        ("203.0.113.7\x00", None),
        ("999.1.1.1", None),
    ],
)
def test_parse_address(text: str, expected: str | None) -> None:
    address = parse_address(text)
    assert (None if address is None else str(address)) == expected


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("203.0.113.7", [], "203.0.113.7"),
        # an untrusted peer's X-Forwarded-For is its own claim: ignored
        ("198.51.100.9", ["203.0.113.7"], "198.51.100.9"),
        ("10.1.1.1", ["203.0.113.7"], "203.0.113.7"),
        # the client wrote the left part; our proxy appended the right-most untrusted address
        ("10.1.1.1", ["203.0.113.7, 198.51.100.9"], "198.51.100.9"),
        ("10.1.1.1", ["198.51.100.9, 203.0.113.7, 10.2.2.2"], "203.0.113.7"),
        # two headers read as one list, in order
        ("10.1.1.1", ["198.51.100.9", "203.0.113.7"], "203.0.113.7"),
        # all hops are ours: the left-most is as far as we can see
        ("10.1.1.1", ["10.3.3.3, 10.2.2.2"], "10.3.3.3"),
        ("10.1.1.1", [], "10.1.1.1"),
        ("fd00::1", ["[2001:db8::5]:1234"], "2001:db8::5"),
        # garbage from a proxy we trust: believe nothing
        ("10.1.1.1", ["203.0.113.7, not-an-address"], None),
        ("10.1.1.1", ["203.0.113.7,"], None),
        (None, ["203.0.113.7"], None),
    ],
)
def test_client_address(peer: str | None, forwarded: list[str], client: str | None) -> None:
    address = client_address(peer, forwarded, PROXIES)
    assert (None if address is None else str(address)) == client


def test_parse_networks_reads_lists_and_refuses_host_bits() -> None:
    assert parse_networks(" 192.0.2.0/24 ,, 2001:db8::/32,198.51.100.7") == (
        ipaddress.ip_network("192.0.2.0/24"),
        ipaddress.ip_network("2001:db8::/32"),
        ipaddress.ip_network("198.51.100.7/32"),
    )
    assert parse_networks(["192.0.2.0/24"]) == (ipaddress.ip_network("192.0.2.0/24"),)
    assert parse_networks("") == ()
    with pytest.raises(ValueError, match="host bits set"):
        parse_networks("192.0.2.1/24")
    with pytest.raises(ValueError, match="not a CIDR network"):
        parse_networks("tevo.example")
