"""shared.clientaddress: which X-Forwarded-For hop is the client, and only behind a trusted proxy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.types import Message, Receive, Scope, Send
from typer.testing import CliRunner

from infra import entrypoint
from services.cli import app as cli_app
from shared.clientaddress import ClientAddressMiddleware, client_address, parse_trusted_proxies
from shared.settings import ServiceSettings

TRUSTED = parse_trusted_proxies("10.0.0.0/8, 192.0.2.7, 2001:db8::/32")


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("203.0.113.5", ["198.51.100.1"], "203.0.113.5"),  # untrusted peer: the header is ignored
        ("10.1.2.3", [], "10.1.2.3"),  # trusted peer, no header: the peer
        ("10.1.2.3", ["198.51.100.1"], "198.51.100.1"),
        ("192.0.2.7", ["6.6.6.6, 198.51.100.1"], "198.51.100.1"),  # the client's own prefix is not believed
        ("10.1.2.3", ["198.51.100.1, 10.9.9.9"], "198.51.100.1"),  # a chain of trusted proxies is skipped
        ("10.1.2.3", ["6.6.6.6", "198.51.100.1"], "198.51.100.1"),  # repeated headers are one list, in order
        ("10.1.2.3", ["10.2.2.2, 10.3.3.3"], "10.2.2.2"),  # all trusted: the leftmost
        ("10.1.2.3", ["garbage, 198.51.100.1"], "198.51.100.1"),
        ("10.1.2.3", ["198.51.100.1, garbage"], "10.1.2.3"),  # a non-address stops the walk
        ("2001:db8::1", ["[2001:db8:ffff::9]:443, 2a00::5"], "2a00::5"),
        ("127.0.0.1", ["198.51.100.1"], "127.0.0.1"),  # loopback is not trusted unless listed
    ],
)
def test_rightmost_untrusted_hop(peer: str, forwarded: list[str], expected: str) -> None:
    assert client_address(peer, forwarded, TRUSTED) == expected


def test_nothing_is_trusted_by_default() -> None:
    assert ServiceSettings().trusted_proxy_networks == ()
    assert client_address("127.0.0.1", ["198.51.100.1"], ()) == "127.0.0.1"


def test_the_setting_refuses_what_is_no_address() -> None:
    with pytest.raises(ValueError, match="not-an-ip"):
        ServiceSettings(trusted_proxies="10.0.0.0/8, not-an-ip")
    assert len(ServiceSettings(trusted_proxies=" 10.0.0.0/8 ,192.0.2.7,").trusted_proxy_networks) == 2


async def test_the_middleware_rewrites_the_scope_once() -> None:
    seen: list[object] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["client"])

    async def receive() -> Message:
        return {"type": "http.request"}

    async def send(message: Message) -> None:
        pass

    middleware = ClientAddressMiddleware(app, trusted_proxies=TRUSTED)
    scope: Scope = {"type": "http", "client": ("10.1.2.3", 5000), "headers": [(b"x-forwarded-for", b"198.51.100.1")]}
    await middleware(scope, receive, send)
    # A mounted app behind a second copy of the middleware (the embedded gateway) sees the same client.
    await ClientAddressMiddleware(app, trusted_proxies=parse_trusted_proxies("0.0.0.0/0"))(scope, receive, send)
    assert seen == [("198.51.100.1", 0), ("198.51.100.1", 0)]


def test_no_server_entry_point_lets_uvicorn_believe_forwarded_headers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # uvicorn's default proxy_headers=True believes X-Forwarded-For from loopback; "*" would believe everyone.
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: calls.append(kwargs))
    monkeypatch.setenv("SERVICE", "auth")
    entrypoint.main()
    result = CliRunner().invoke(cli_app, ["serve", "--port", "8999", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert len(calls) == 2
    for kwargs in calls:
        assert kwargs["proxy_headers"] is False
        assert "forwarded_allow_ips" not in kwargs
