"""The URL rules of webhooks (no database): every refused address class, both IP versions, the per-environment
schemes, and the address pinning that defeats DNS rebinding."""

from __future__ import annotations

import pytest

from services.market.webhooks.ssrf import Target, UnsafeUrl, check_url

HOST = "hooks.example.com"


def resolving_to(*addresses: str):  # type: ignore[no-untyped-def]
    seen: list[tuple[str, int]] = []

    async def resolve(host: str, port: int) -> list[str]:
        seen.append((host, port))
        return list(addresses)

    resolve.seen = seen  # type: ignore[attr-defined]
    return resolve


REFUSED = {
    "private 10/8": "10.1.2.3",
    "private 172.16/12": "172.16.5.4",
    "private 192.168/16": "192.168.0.10",
    "private fc00::/7 (ULA)": "fd12:3456::1",
    "loopback v4": "127.0.0.1",
    "loopback 127/8": "127.8.9.10",
    "loopback v6": "::1",
    "link-local v4": "169.254.10.20",
    "link-local v6": "fe80::1",
    "multicast v4": "224.0.0.251",
    "multicast v6": "ff02::1",
    "reserved 240/4": "240.0.0.1",
    "broadcast": "255.255.255.255",
    "unspecified v4": "0.0.0.0",  # noqa: S104  (an address refused, not one bound)
    "unspecified v6": "::",
    "this-network 0/8": "0.1.2.3",
    "CGNAT 100.64/10": "100.64.0.1",
    "CGNAT top": "100.127.255.254",
    "metadata AWS/GCP/Azure": "169.254.169.254",
    "metadata AWS IPv6": "fd00:ec2::254",
    "metadata Alibaba": "100.100.100.200",
    "IPv4-mapped loopback": "::ffff:127.0.0.1",
    "IPv4-mapped private": "::ffff:10.0.0.1",
    "IPv4-mapped metadata": "::ffff:169.254.169.254",
    "NAT64 of a private address": "64:ff9b::a00:1",
    "6to4 of loopback": "2002:7f00:1::1",
    "documentation (TEST-NET-1)": "192.0.2.10",
    "documentation v6": "2001:db8::1",
    "benchmarking 198.18/15": "198.18.0.1",
}


class TestProduction:
    @pytest.mark.parametrize("address", REFUSED.values(), ids=REFUSED.keys())
    async def test_a_host_resolving_to_a_non_public_address_is_refused(self, address: str) -> None:
        with pytest.raises(UnsafeUrl):
            await check_url(f"https://{HOST}/hook", environment="production", resolver=resolving_to(address))

    @pytest.mark.parametrize("address", REFUSED.values(), ids=REFUSED.keys())
    async def test_a_non_public_address_literal_is_refused(self, address: str) -> None:
        literal = f"[{address}]" if ":" in address else address
        with pytest.raises(UnsafeUrl):
            await check_url(f"https://{literal}/hook", environment="production", resolver=resolving_to())

    async def test_one_bad_address_among_good_ones_is_enough_to_refuse(self) -> None:
        with pytest.raises(UnsafeUrl, match=r"10\.0\.0\.7"):
            await check_url(
                f"https://{HOST}/hook", environment="production", resolver=resolving_to("93.184.215.14", "10.0.0.7")
            )

    @pytest.mark.parametrize(
        ("resolved", "address"),
        [("93.184.215.14",) * 2, ("2606:4700:4700::1111",) * 2, ("::ffff:8.8.8.8", "8.8.8.8")],
    )
    async def test_public_addresses_pass_and_are_pinned(self, resolved: str, address: str) -> None:
        resolve = resolving_to(resolved)
        target = await check_url(f"https://{HOST}:8443/hook?x=1", environment="production", resolver=resolve)
        assert resolve.seen == [(HOST, 8443)]  # type: ignore[attr-defined]
        assert target.addresses == (address,)
        url, headers, extensions = target.pinned()
        literal = f"[{address}]" if ":" in address else address
        assert url == f"https://{literal}:8443/hook?x=1"
        assert headers == {"Host": f"{HOST}:8443"}
        assert extensions == {"sni_hostname": HOST}  # TLS still names (and verifies) the original host

    async def test_the_default_port_is_not_repeated_in_host(self) -> None:
        target = await check_url(f"https://{HOST}/h", environment="production", resolver=resolving_to("1.1.1.1"))
        assert target.pinned() == ("https://1.1.1.1/h", {"Host": HOST}, {"sni_hostname": HOST})

    @pytest.mark.parametrize(
        ("url", "reason"),
        [
            (f"http://{HOST}/hook", "https"),
            ("http://127.0.0.1:8080/hook", "https"),
            (f"https://user:secret@{HOST}/hook", "user name"),
            (f"https://token@{HOST}/hook", "user name"),
            ("ftp://example.com/x", "http or https"),
            ("https:///nohost", "no host"),
            ("https://exa mple.com/", "whitespace"),
            ("https://example.com:99999/", "not a valid URL"),
            ("/relative/path", "http or https"),
        ],
    )
    async def test_malformed_or_plain_http_urls_are_refused(self, url: str, reason: str) -> None:
        with pytest.raises(UnsafeUrl, match=reason):
            await check_url(url, environment="production", resolver=resolving_to("93.184.215.14"))

    async def test_a_host_that_does_not_resolve_is_refused(self) -> None:
        async def nxdomain(host: str, port: int) -> list[str]:
            raise OSError("Name or service not known")

        with pytest.raises(UnsafeUrl, match="does not resolve"):
            await check_url(f"https://{HOST}/", environment="production", resolver=nxdomain)


class TestDevelopmentAndTest:
    @pytest.mark.parametrize("environment", ["development", "test"])
    @pytest.mark.parametrize(
        "url", ["http://127.0.0.1:9000/hook", "http://localhost/hook", "http://[::1]:9000/h", "http://127.0.0.2/"]
    )
    async def test_http_to_a_loopback_host_is_allowed(self, environment: str, url: str) -> None:
        target = await check_url(url, environment=environment, resolver=resolving_to("127.0.0.1", "::1"))
        assert isinstance(target, Target)
        assert target.addresses

    async def test_localhost_is_pinned_to_the_loopback_address_it_resolved_to(self) -> None:
        target = await check_url("http://localhost:9000/h", environment="test", resolver=resolving_to("127.0.0.1"))
        assert target.pinned() == ("http://127.0.0.1:9000/h", {"Host": "localhost:9000"}, {})

    async def test_localhost_resolving_elsewhere_is_refused(self) -> None:
        with pytest.raises(UnsafeUrl, match="loopback"):
            await check_url("http://localhost/h", environment="development", resolver=resolving_to("10.0.0.3"))

    @pytest.mark.parametrize("environment", ["development", "test"])
    @pytest.mark.parametrize("url", ["http://10.0.0.5/hook", "http://example.com/hook", "http://169.254.169.254/"])
    async def test_http_elsewhere_is_refused(self, environment: str, url: str) -> None:
        with pytest.raises(UnsafeUrl, match="loopback"):
            await check_url(url, environment=environment, resolver=resolving_to("127.0.0.1"))

    async def test_https_goes_anywhere_and_userinfo_is_still_refused(self) -> None:
        target = await check_url("https://example.com/hook", environment="test", resolver=resolving_to())
        assert target.pinned() == ("https://example.com/hook", {}, {})  # not resolved: the client connects as usual
        with pytest.raises(UnsafeUrl, match="user name"):
            await check_url("http://user:pw@127.0.0.1/hook", environment="test", resolver=resolving_to())
