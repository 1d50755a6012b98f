"""shared.security.JWKSVerifier against a fake auth service (httpx.MockTransport): caching, refetch on an unknown
kid, the refetch rate limit, nbf and exp, and what happens when the JWKS cannot be fetched."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from shared.security import CLOCK_LEEWAY_SECONDS, VERIFIED_TOKEN_TTL, JWKSVerifier, TokenInvalid

ISSUER = "techmarket-auth"
AUDIENCE = "techmarket"
JWKS_URL = "http://fake-auth/.well-known/jwks.json"


class FakeAuthService:
    """A fake of the auth service's JWKS endpoint: publishes the keys it is given, counts fetches."""

    def __init__(self) -> None:
        self.keys: list[ECKey] = []
        self.fetches = 0
        self.failing = False

    def new_key(self, kid: str) -> ECKey:
        key = ECKey.generate_key("P-256", parameters={"kid": kid})
        self.keys.append(key)
        return key

    def handler(self, request: httpx.Request) -> httpx.Response:
        assert str(request.url) == JWKS_URL
        self.fetches += 1
        if self.failing:
            return httpx.Response(503)
        return httpx.Response(200, json=KeySet(self.keys).as_dict(private=False))


class FakeClock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def _token(key: ECKey, **overrides: Any) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {"iss": ISSUER, "aud": AUDIENCE, "sub": "u1", "iat": now, "nbf": now, "exp": now + 600}
    claims.update(overrides)
    return jwt.encode({"alg": "ES256", "kid": key.kid}, claims, key)


@pytest.fixture
async def fake() -> FakeAuthService:
    return FakeAuthService()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def verifier(fake: FakeAuthService, clock: FakeClock) -> Any:
    async with httpx.AsyncClient(transport=httpx.MockTransport(fake.handler)) as client:
        yield JWKSVerifier(
            client=client,
            jwks_url=JWKS_URL,
            issuer=ISSUER,
            audience=AUDIENCE,
            cache_seconds=300,
            min_refetch_interval=10,
            clock=clock,
        )


class TestJWKSVerifier:
    async def test_caches_the_key_set(self, fake: FakeAuthService, verifier: JWKSVerifier, clock: FakeClock) -> None:
        key = fake.new_key("k1")
        for _ in range(3):
            assert (await verifier.verify(_token(key))).subject == "u1"
        assert fake.fetches == 1
        clock.now += 301
        await verifier.verify(_token(key))
        assert fake.fetches == 2

    async def test_an_unknown_kid_triggers_one_refetch(
        self, fake: FakeAuthService, verifier: JWKSVerifier, clock: FakeClock
    ) -> None:
        old = fake.new_key("old")
        await verifier.verify(_token(old))
        clock.now += 11
        new = fake.new_key("new")  # a rotation on the auth side
        assert (await verifier.verify(_token(new))).subject == "u1"
        assert fake.fetches == 2
        await verifier.verify(_token(old))  # the old key is still trusted while published
        assert fake.fetches == 2

    async def test_refetches_are_rate_limited(
        self, fake: FakeAuthService, verifier: JWKSVerifier, clock: FakeClock
    ) -> None:
        known = fake.new_key("known")
        await verifier.verify(_token(known))
        stranger = ECKey.generate_key("P-256", parameters={"kid": "stranger"})
        for _ in range(5):
            with pytest.raises(TokenInvalid):
                await verifier.verify(_token(stranger))
        assert fake.fetches == 1  # within min_refetch_interval of the first fetch: no hammering of auth
        clock.now += 11
        with pytest.raises(TokenInvalid):
            await verifier.verify(_token(stranger))
        assert fake.fetches == 2

    async def test_a_verified_token_is_trusted_for_a_minute_at_most(
        self, fake: FakeAuthService, verifier: JWKSVerifier, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        key = fake.new_key("k1")
        token = _token(key)
        decodes = []
        real_decode = jwt.decode
        monkeypatch.setattr(jwt, "decode", lambda *a, **k: decodes.append(1) or real_decode(*a, **k))
        for _ in range(3):
            assert (await verifier.verify(token)).subject == "u1"
        assert len(decodes) == 1  # the signature is checked once
        assert (await verifier.verify(_token(key, sub="u2"))).subject == "u2"  # another token: its own check
        assert len(decodes) == 2
        clock.now += VERIFIED_TOKEN_TTL + 1
        assert (await verifier.verify(token)).subject == "u1"
        assert len(decodes) == 3

    async def test_a_cached_token_stops_when_its_key_is_withdrawn(
        self, fake: FakeAuthService, verifier: JWKSVerifier, clock: FakeClock
    ) -> None:
        old = fake.new_key("old")
        token = _token(old)
        await verifier.verify(token)
        fake.keys = [fake.new_key("new")]  # the auth service withdrew the old key
        clock.now += 301  # the key set is refetched
        with pytest.raises(TokenInvalid):
            await verifier.verify(token)

    async def test_the_cache_of_verified_tokens_is_bounded(
        self, fake: FakeAuthService, verifier: JWKSVerifier, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr("shared.security.VERIFIED_TOKEN_CACHE_SIZE", 2)
        key = fake.new_key("k1")
        tokens = [_token(key, sub=f"u{i}") for i in range(5)]
        for token in tokens:
            await verifier.verify(token)
        decodes = []
        real_decode = jwt.decode
        monkeypatch.setattr(jwt, "decode", lambda *a, **k: decodes.append(1) or real_decode(*a, **k))
        await verifier.verify(tokens[-1])  # recent: still cached
        await verifier.verify(tokens[0])  # evicted long ago: checked again
        assert len(decodes) == 1

    async def test_nbf_in_the_future_is_refused_within_leeway_accepted(
        self, fake: FakeAuthService, verifier: JWKSVerifier
    ) -> None:
        key = fake.new_key("k1")
        now = int(time.time())
        with pytest.raises(TokenInvalid, match="not yet valid"):
            await verifier.verify(_token(key, nbf=now + CLOCK_LEEWAY_SECONDS + 60))
        assert (await verifier.verify(_token(key, nbf=now + CLOCK_LEEWAY_SECONDS - 5))).subject == "u1"

    @pytest.mark.parametrize(
        "overrides",
        [
            {"exp": int(time.time()) - CLOCK_LEEWAY_SECONDS - 60},
            {"aud": "other"},
            {"iss": "other"},
            {"sub": None},
        ],
        ids=["expired", "audience", "issuer", "no-subject"],
    )
    async def test_claims_are_checked(
        self, fake: FakeAuthService, verifier: JWKSVerifier, overrides: dict[str, Any]
    ) -> None:
        key = fake.new_key("k1")
        claims = {k: v for k, v in overrides.items() if v is not None}
        token = _token(key, **claims)
        if overrides.get("sub", "x") is None:
            now = int(time.time())
            token = jwt.encode(
                {"alg": "ES256", "kid": "k1"}, {"iss": ISSUER, "aud": AUDIENCE, "exp": now + 60, "iat": now}, key
            )
        with pytest.raises(TokenInvalid):
            await verifier.verify(token)

    async def test_no_keys_at_all_is_token_invalid(self, fake: FakeAuthService, verifier: JWKSVerifier) -> None:
        fake.failing = True
        key = ECKey.generate_key("P-256", parameters={"kid": "k1"})
        with pytest.raises(TokenInvalid, match="cannot fetch"):
            await verifier.verify(_token(key))

    async def test_an_outage_keeps_the_cached_keys(
        self, fake: FakeAuthService, verifier: JWKSVerifier, clock: FakeClock
    ) -> None:
        key = fake.new_key("k1")
        await verifier.verify(_token(key))
        fake.failing = True
        clock.now += 301
        assert (await verifier.verify(_token(key))).subject == "u1"
        assert fake.fetches == 2
