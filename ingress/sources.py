"""Which address a webhook comes from, believing `X-Forwarded-For` only from trusted proxies."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(value: object) -> tuple[IPNetwork, ...]:
    """`"10.0.0.0/8, 2001:db8::/32"` (or a sequence of such) as networks; a bare address is /32.

    Host bits set (`10.0.0.1/8`) are refused: such a typo would allow more than meant.
    """
    parts: Iterable[object]
    if isinstance(value, str):
        parts = (part.strip() for part in value.split(","))
    elif isinstance(value, Iterable):
        parts = value
    else:
        raise ValueError("expected comma-separated CIDRs")  # noqa: TRY004 - pydantic reports ValueError as a settings error, TypeError would escape
    networks: list[IPNetwork] = []
    for part in parts:
        if isinstance(part, ipaddress.IPv4Network | ipaddress.IPv6Network):
            networks.append(part)
        elif str(part):
            try:
                networks.append(ipaddress.ip_network(str(part), strict=True))
            except ValueError as exc:
                raise ValueError(f"{part!s} is not a CIDR network: {exc}") from None
    return tuple(networks)


def parse_address(text: str) -> IPAddress | None:
    """An address as a peer or a proxy writes it: `1.2.3.4`, `1.2.3.4:80`, `[::1]:80`, `::1`."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    # A dual-stack listener sees IPv4 peers as ::ffff:a.b.c.d; the allowlist speaks IPv4.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def within(address: IPAddress, networks: Iterable[IPNetwork]) -> bool:
    return any(address in network for network in networks)


def client_address(
    peer: str | None, forwarded_for: Sequence[str], trusted_proxies: Sequence[IPNetwork]
) -> IPAddress | None:
    """The address that sent the request, or None when it cannot be told.

    The peer is the client unless it is a trusted proxy. Then `X-Forwarded-For` is read from the
    right, where our own proxies appended, and the first address that is not a trusted proxy is
    the client: anything left of it was written by the client and may be forged.
    """
    address = parse_address(peer) if peer else None
    if address is None or not within(address, trusted_proxies):
        return address
    hops = [hop for header in forwarded_for for hop in header.split(",")]
    for hop in reversed(hops):
        hop_address = parse_address(hop)
        if hop_address is None:
            return None  # a proxy we trust wrote garbage: believe nothing
        address = hop_address
        if not within(address, trusted_proxies):
            return address
    return address  # every hop is one of ours: the left-most is as far as we can see
