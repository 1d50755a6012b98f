"""Which webhook URLs the market may call, and where exactly to connect (server-side request forgery guard).

Rules (docs/webhooks.md):

* userinfo (``user:pass@``) is refused everywhere; any port is allowed;
* production: https only; the host is resolved and **every** address must be public — private, loopback,
  link-local, multicast, reserved, unspecified, CGNAT (100.64.0.0/10), cloud metadata (169.254.169.254,
  fd00:ec2::254, 100.100.100.200) and the IPv4-mapped/translated IPv6 forms of those are refused. The check
  runs when the endpoint is saved and again before every delivery (DNS rebinding), and the delivery connects
  to the address that was checked (:class:`Target.pinned`), keeping the original Host header and TLS SNI;
* development and test: https anywhere; http only to loopback hosts (``localhost`` or a loopback address
  literal — a name is resolved, must give loopback addresses only, and is pinned like above), so a developer can
  point a webhook at a receiver on their own machine.

The resolver is injectable (tests, and the delivery round) — ``async (host, port) -> list[str]``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["Resolver", "Target", "UnsafeUrl", "check_address", "check_url", "parse_url", "system_resolver"]

Resolver = Callable[[str, int], Awaitable[list[str]]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 2048
# Addresses that are public by the ipaddress module's tables but must never be called.
_METADATA = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "192.0.0.192")
)
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_LOOPBACK_ONLY = "http is allowed only to a loopback host (localhost, 127.0.0.1, ::1) outside production"
_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


class UnsafeUrl(ValueError):
    """A URL the market refuses to call; the message says why (shown to the org admin)."""


@dataclass(frozen=True, slots=True)
class Target:
    """A checked URL: where to connect (``addresses``, empty = let the client resolve) and what to say."""

    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]

    def pinned(self) -> tuple[str, dict[str, str], dict[str, object]]:
        """(url to request, extra headers, httpx extensions): the first checked address in the URL, the original
        host in Host and in the TLS server name, so a second DNS answer cannot redirect the connection."""
        if not self.addresses:
            return self.url, {}, {}
        address = ipaddress.ip_address(self.addresses[0])
        literal = f"[{address}]" if address.version == 6 else str(address)
        parts = urlsplit(self.url)
        default = 443 if self.scheme == "https" else 80
        netloc = literal if parts.port is None else f"{literal}:{parts.port}"
        url = parts._replace(netloc=netloc).geturl()
        host_header = self.host if self.port == default else f"{_bracketed(self.host)}:{self.port}"
        extensions: dict[str, object] = {"sni_hostname": self.host} if self.scheme == "https" else {}
        return url, {"Host": host_header}, extensions


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses of ``host`` from the operating system's resolver."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def check_address(address: IPAddress) -> IPAddress:
    """The address to connect to (an IPv4-mapped one as plain IPv4) if ``address`` is a public unicast address;
    :class:`UnsafeUrl` otherwise."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return check_address(address.ipv4_mapped)
        embedded = address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            check_address(embedded)
    if address in _METADATA:
        raise UnsafeUrl(f"{address} is a cloud metadata address")
    if isinstance(address, ipaddress.IPv4Address) and address in _CGNAT:
        raise UnsafeUrl(f"{address} is a carrier-grade NAT (shared) address")
    for kind, bad in (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("not globally routable", not address.is_global),
    ):
        if bad:
            raise UnsafeUrl(f"{address} is a {kind} address")
    return address


def parse_url(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an absolute http(s) URL without userinfo; :class:`UnsafeUrl` otherwise."""
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeUrl(f"longer than {MAX_URL_LENGTH} characters")
    if any(c.isspace() or ord(c) < 0x20 for c in url):
        raise UnsafeUrl("contains whitespace or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeUrl(f"not a valid URL ({exc})") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UnsafeUrl("must be an http or https URL")
    if "@" in parts.netloc:
        raise UnsafeUrl("must not carry a user name or password")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise UnsafeUrl("has no host")
    if parts.fragment:
        raise UnsafeUrl("must not have a #fragment")
    return scheme, host, port or (443 if scheme == "https" else 80)


async def _resolve(host: str, port: int, resolver: Resolver | None) -> list[str]:
    try:
        addresses = await (resolver or system_resolver)(host, port)
    except OSError as exc:
        raise UnsafeUrl(f"host {host} does not resolve") from exc
    if not addresses:
        raise UnsafeUrl(f"host {host} does not resolve")
    return addresses


async def check_url(url: str, *, environment: str, resolver: Resolver | None = None) -> Target:
    """The checked :class:`Target` of ``url`` under the rules of ``environment``; :class:`UnsafeUrl` otherwise."""
    scheme, host, port = parse_url(url)
    literal = _literal(host)
    if environment != "production":
        if scheme == "https":
            return Target(url=url, scheme=scheme, host=host, port=port, addresses=())
        if literal is None and host not in _LOCAL_NAMES:
            raise UnsafeUrl(_LOOPBACK_ONLY)
        # Even "localhost" is resolved, checked and pinned: http must never leave the machine.
        addresses = [str(literal)] if literal is not None else await _resolve(host, port, resolver)
        if not all(ipaddress.ip_address(a).is_loopback for a in addresses):
            raise UnsafeUrl(_LOOPBACK_ONLY)
        return Target(url=url, scheme=scheme, host=host, port=port, addresses=tuple(addresses))
    if scheme != "https":
        raise UnsafeUrl("must use https in production")
    if literal is not None:
        return Target(url=url, scheme=scheme, host=host, port=port, addresses=(str(check_address(literal)),))
    addresses = await _resolve(host, port, resolver)
    checked = tuple(str(check_address(ipaddress.ip_address(a))) for a in addresses)
    return Target(url=url, scheme=scheme, host=host, port=port, addresses=tuple(dict.fromkeys(checked)))
