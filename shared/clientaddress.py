"""The client's address behind reverse proxies: X-Forwarded-For believed only from proxies we were told to trust.

uvicorn's own ``proxy_headers`` trusts loopback by default (and ``forwarded_allow_ips="*"`` trusts everyone), so a
client could name any address it liked and spread its failed logins over invented IPs or lock out someone else's.
Every server entry point turns that off and this middleware is the one place that reads the header.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["ClientAddressMiddleware", "ProxyNetwork", "client_address", "parse_trusted_proxies"]

ProxyNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Set in the scope once resolved, so the embedded gateway's mounted apps do not resolve the same header again.
_RESOLVED = "techmarket.client_resolved"


def parse_trusted_proxies(value: str) -> tuple[ProxyNetwork, ...]:
    """``"10.0.0.0/8, 192.0.2.7"`` → networks; ValueError naming the first entry that is no IP or CIDR."""
    networks: list[ProxyNetwork] = []
    for entry in value.split(","):
        entry = entry.strip()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError as exc:
            raise ValueError(f"{entry!r} is not an IP address or CIDR network") from exc
    return tuple(networks)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]" or "[2001:db8::1]:443"
        text = text[1 : text.index("]")]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address, networks: Sequence[ProxyNetwork]) -> bool:
    return any(address.version == network.version and address in network for network in networks)


def client_address(peer: str, forwarded_for: Sequence[str], trusted: Sequence[ProxyNetwork]) -> str:
    """The client's address: ``peer`` unless it is a trusted proxy; then the rightmost untrusted X-Forwarded-For
    hop (every hop to its right was added by a trusted proxy, everything to its left the client could have written).

    A hop that is no IP address ends the walk at the last address established; when every hop is trusted the
    leftmost is the client.
    """
    current = _ip(peer)
    if current is None or not trusted or not _trusted(current, trusted):
        return peer
    hops = [hop for header in forwarded_for for hop in header.split(",") if hop.strip()]
    for hop in reversed(hops):
        address = _ip(hop)
        if address is None:
            break
        current = address
        if not _trusted(address, trusted):
            break
    return str(current)


class ClientAddressMiddleware:
    """Pure ASGI: rewrite ``scope["client"]`` from X-Forwarded-For when the direct peer is a trusted proxy."""

    def __init__(self, app: ASGIApp, *, trusted_proxies: Sequence[ProxyNetwork]) -> None:
        self.app = app
        self.trusted = tuple(trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and not scope.get(_RESOLVED):
            scope[_RESOLVED] = True
            client = scope.get("client")
            if client and self.trusted:
                forwarded = [v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"x-forwarded-for"]
                host = client_address(client[0], forwarded, self.trusted)
                if host != client[0]:
                    scope["client"] = (host, 0)
        await self.app(scope, receive, send)
