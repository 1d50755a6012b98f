"""shared.security.JWKSVerifier against a fake auth service (httpx.MockTransport): caching, refetch on an unknown
kid, the refetch rate limit, nbf and exp, and what happens when the JWKS cannot be fetched — in the verifier, and
through the market app (a token that cannot be checked is a 503 to retry, never a 401)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from services.market.app import create_app
from services.market.settings import MarketSettings
from shared.security import (
    CLOCK_LEEWAY_SECONDS,
    FAILED_FETCH_RETRY_SECONDS,
    VERIFIED_TOKEN_TTL,
    JWKSVerifier,
    SigningKeysUnavailable,
    TokenInvalid,
)
from tests.conftest import Databases
from tests.support.problems import assert_problem

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

    async def test_no_keys_at_all_is_undecided_not_invalid(
        self, fake: FakeAuthService, verifier: JWKSVerifier, clock: FakeClock
    ) -> None:
        # A process that has not fetched the keys yet meets an auth service that cannot answer (its database
        # restarting): the token may well be good, so it is not refused.
        fake.failing = True
        key = fake.new_key("k1")
        with pytest.raises(SigningKeysUnavailable) as refused:
            await verifier.verify(_token(key))
        assert refused.value.status == 503
        assert refused.value.headers["Retry-After"] == "1"
        assert "signing keys" in str(refused.value.detail)
        fake.failing = False
        clock.now += FAILED_FETCH_RETRY_SECONDS
        assert (await verifier.verify(_token(key))).subject == "u1"  # picked up once auth answers

    async def test_failed_fetches_are_retried_once_a_second_not_per_request(
        self, fake: FakeAuthService, verifier: JWKSVerifier, clock: FakeClock
    ) -> None:
        fake.failing = True
        token = _token(fake.new_key("k1"))
        for _ in range(5):
            with pytest.raises(SigningKeysUnavailable):
                await verifier.verify(token)
        assert fake.fetches == 1
        clock.now += FAILED_FETCH_RETRY_SECONDS / 2
        with pytest.raises(SigningKeysUnavailable):
            await verifier.verify(token)
        assert fake.fetches == 1
        clock.now += FAILED_FETCH_RETRY_SECONDS / 2
        with pytest.raises(SigningKeysUnavailable):
            await verifier.verify(token)
        assert fake.fetches == 2

    async def test_an_unknown_kid_during_an_outage_is_undecided(
        self, fake: FakeAuthService, verifier: JWKSVerifier, clock: FakeClock
    ) -> None:
        old = fake.new_key("old")
        await verifier.verify(_token(old))
        new = fake.new_key("new")  # rotated; then auth fails before this process refetched
        fake.failing = True
        clock.now += 11
        with pytest.raises(SigningKeysUnavailable):
            await verifier.verify(_token(new))
        assert (await verifier.verify(_token(old))).subject == "u1"  # what the cached keys know still passes
        fake.failing = False
        clock.now += FAILED_FETCH_RETRY_SECONDS
        assert (await verifier.verify(_token(new))).subject == "u1"

    async def test_an_unknown_kid_with_the_keys_just_fetched_is_invalid(
        self, fake: FakeAuthService, verifier: JWKSVerifier
    ) -> None:
        fake.new_key("known")
        stranger = ECKey.generate_key("P-256", parameters={"kid": "stranger"})
        with pytest.raises(TokenInvalid, match="unknown key"):
            await verifier.verify(_token(stranger))

    async def test_a_slow_refresh_holds_up_one_request_not_all(self, fake: FakeAuthService, clock: FakeClock) -> None:
        key = fake.new_key("k1")
        release = asyncio.Event()
        entered = asyncio.Event()

        async def slow(request: httpx.Request) -> httpx.Response:
            if fake.fetches >= 1:  # the first fetch answers at once; the refresh hangs until released
                entered.set()
                await release.wait()
            return fake.handler(request)

        async with httpx.AsyncClient(transport=httpx.MockTransport(slow)) as client:
            verifier = JWKSVerifier(client=client, jwks_url=JWKS_URL, issuer=ISSUER, audience=AUDIENCE, clock=clock)
            token = _token(key)
            await verifier.verify(token)
            clock.now += 301  # the key set is stale: the next request refreshes it
            refreshing = asyncio.create_task(verifier.verify(_token(key, sub="u2")))
            await entered.wait()
            # Meanwhile another request is served with the stale keys, without waiting for the refresh.
            assert (await asyncio.wait_for(verifier.verify(_token(key, sub="u3")), timeout=5)).subject == "u3"
            release.set()
            assert (await refreshing).subject == "u2"
            assert fake.fetches == 2

    async def test_an_outage_keeps_the_cached_keys(
        self, fake: FakeAuthService, verifier: JWKSVerifier, clock: FakeClock
    ) -> None:
        key = fake.new_key("k1")
        await verifier.verify(_token(key))
        fake.failing = True
        clock.now += 301
        assert (await verifier.verify(_token(key))).subject == "u1"
        assert fake.fetches == 2


class TestTheServiceAnswersWhileAuthIsDown:
    """Through the market app (its own database, its JWKS fetched over a transport that reaches a fake auth): a
    valid token that cannot be checked answers 503 auth-unavailable with Retry-After — a 401 would tell the client
    to throw a good token away and sign in again."""

    @pytest.fixture
    async def market(
        self, databases: Databases, tmp_path: Path, fake: FakeAuthService
    ) -> AsyncIterator[httpx.AsyncClient]:
        settings = MarketSettings(
            environment="test",
            data_dir=tmp_path,
            database_url=databases.urls["market"],
            auth_url="http://fake-auth",
            jwt_issuer=ISSUER,
            jwt_audience=AUDIENCE,
        )
        app = create_app(settings, transport=httpx.MockTransport(fake.handler))
        async with LifespanManager(app) as manager:
            transport = httpx.ASGITransport(app=manager.app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
                yield http

    async def test_a_good_token_waits_for_auth_a_bad_one_is_refused(
        self, market: httpx.AsyncClient, fake: FakeAuthService
    ) -> None:
        key = fake.new_key("k1")
        headers = {"Authorization": f"Bearer {_token(key)}"}
        fake.failing = True
        undecided = await market.get("/notifications", headers=headers)
        problem = assert_problem(undecided, 503)
        assert problem["type"] == "urn:techmarket:problem:auth-unavailable"
        assert undecided.headers["Retry-After"] == "1"
        assert "fake-auth" not in undecided.text  # the cause is logged, not shown
        fake.failing = False
        await asyncio.sleep(FAILED_FETCH_RETRY_SECONDS)  # the app's verifier runs on the real clock
        assert (await market.get("/notifications", headers=headers)).status_code == 200
        forged = _token(ECKey.generate_key("P-256", parameters={"kid": "k1"}))
        refused = await market.get("/notifications", headers={"Authorization": f"Bearer {forged}"})
        assert assert_problem(refused, 401)["type"] == "urn:techmarket:problem:unauthorized"
