"""Signing keys: the JWKS, persistence across restarts, rotation without downtime, pruning."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

from services.auth.keys import service as keys_service
from services.auth.keys.models import SigningKey
from services.auth.settings import AuthSettings
from services.embedded import create_app as create_embedded_app
from shared.security import JWKSVerifier
from tests.auth.helpers import audit_log
from tests.conftest import Databases, Stack, stack_settings
from tests.support.actors import Actors
from tests.support.problems import assert_problem


def _kid(token: str) -> str:
    import base64

    return str(json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))["kid"])


async def _kids(stack: Stack) -> list[str]:
    return [k["kid"] for k in (await stack.client.get("/auth/.well-known/jwks.json")).json()["keys"]]


class TestJWKS:
    async def test_publishes_public_es256_keys_only(self, stack: Stack, actors: Actors) -> None:
        response = await stack.client.get("/auth/.well-known/jwks.json")
        assert response.status_code == 200
        assert "max-age" in response.headers["cache-control"]
        (key,) = response.json()["keys"]
        assert key["kty"] == "EC"
        assert key["crv"] == "P-256"
        assert key["alg"] == "ES256"
        assert "d" not in key
        admin = await actors.platform_admin()
        assert _kid(admin.token) == key["kid"]

    async def test_keys_survive_a_restart(self, stack: Stack, databases: Databases, tmp_path: Path) -> None:
        before = await _kids(stack)
        auth, market, search = stack_settings(databases, tmp_path)
        again = create_embedded_app(auth_settings=auth, market_settings=market, search_settings=search)
        async with LifespanManager(again, startup_timeout=60) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                after = [k["kid"] for k in (await client.get("/auth/.well-known/jwks.json")).json()["keys"]]
        assert after == before


# A real, if short, access-token lifetime (allowed with environment=test): rotations age without faking the clock.
SHORT_TTL_SECONDS = 2


@pytest.fixture
async def short_lived(databases: Databases, tmp_path: Path) -> AsyncIterator[Stack]:
    """The embedded stack with access tokens living SHORT_TTL_SECONDS (plus the verifiers' clock leeway)."""
    auth, market, search = stack_settings(databases, tmp_path)
    auth = AuthSettings.model_validate({**auth.model_dump(), "access_token_ttl_seconds": SHORT_TTL_SECONDS})
    app = create_embedded_app(auth_settings=auth, market_settings=market, search_settings=search)
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=60) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield Stack(app, client, databases.backend, auth, market, search)


async def _age_past_a_token_lifetime(stack: Stack) -> None:
    """Wait until the newest key has signed for a whole token lifetime: the API rotates again after that."""
    await asyncio.sleep(stack.auth_settings.access_token_ttl_seconds + 0.2)


class TestRotation:
    @pytest.fixture
    def stack(self, short_lived: Stack) -> Stack:
        return short_lived

    async def test_old_tokens_keep_working_and_new_ones_use_the_new_key(self, stack: Stack, actors: Actors) -> None:
        admin = await actors.platform_admin()
        member = await actors.org_member()
        await _age_past_a_token_lifetime(stack)
        old_kid = _kid(member.token)
        now = [time.time()]
        # A verifier like market's and search's (same JWKS URL), with a clock we can move.
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=stack.app)) as http:
            verifier = JWKSVerifier(
                client=http,
                jwks_url="http://techmarket.internal/auth/.well-known/jwks.json",
                issuer=stack.market_settings.jwt_issuer,
                audience=stack.market_settings.jwt_audience,
                clock=lambda: now[0],
            )
            await verifier.verify(member.token)
            response = await stack.client.post(
                "/auth/keys/rotate", json={"publish_ahead_seconds": 0}, headers=admin.headers
            )
            assert response.status_code == 201, response.text
            assert response.json()["state"] == "active"
            new_kid = response.json()["kid"]
            assert set(await _kids(stack)) == {old_kid, new_kid}
            fresh = await actors.colleague(member)
            assert _kid(fresh.token) == new_kid
            now[0] += 11  # past the verifier's refetch rate limit
            assert (await verifier.verify(fresh.token)).subject == fresh.subject
            assert (await verifier.verify(member.token)).subject == member.subject  # the old key still verifies
        assert (await stack.client.get("/auth/me", headers=member.headers)).status_code == 200
        keys = (await stack.client.get("/auth/keys", headers=admin.headers)).json()
        assert [k["state"] for k in keys] == ["active", "retired"]
        assert keys[1]["published_until"] is not None

    async def test_publish_ahead_publishes_before_signing(self, stack: Stack, actors: Actors) -> None:
        admin = await actors.platform_admin()
        old_kid = _kid(admin.token)
        await _age_past_a_token_lifetime(stack)
        response = await stack.client.post(
            "/auth/keys/rotate", json={"publish_ahead_seconds": 600}, headers=admin.headers
        )
        assert response.json()["state"] == "next"
        assert response.json()["kid"] in await _kids(stack)
        member = await actors.org_member()
        assert _kid(member.token) == old_kid

    async def test_the_default_rotation_publishes_ahead(self, stack: Stack, actors: Actors) -> None:
        admin = await actors.platform_admin()
        await _age_past_a_token_lifetime(stack)
        response = await stack.client.post("/auth/keys/rotate", headers=admin.headers)
        assert response.status_code == 201
        body = response.json()
        ahead = dt.datetime.fromisoformat(body["activates_at"]) - dt.datetime.fromisoformat(body["created_at"])
        assert ahead >= dt.timedelta(seconds=stack.auth_settings.key_publish_ahead_seconds - 1)

    async def test_only_platform_admins_rotate(self, stack: Stack, actors: Actors) -> None:
        member = await actors.org_member(roles=("org_admin",))
        assert_problem(await stack.client.post("/auth/keys/rotate", headers=member.headers), 403)
        assert_problem(await stack.client.get("/auth/keys", headers=member.headers), 403)
        assert_problem(await stack.client.post("/auth/keys/rotate"), 401)

    @pytest.mark.parametrize(
        "body",
        [
            {"publish_ahead_seconds": -1},
            {"publish_ahead_seconds": "soon"},
            {"x": 1},
            # No coercion: a boolean, a float or a numeric string is no number of seconds.
            {"publish_ahead_seconds": False},
            {"publish_ahead_seconds": True},
            {"publish_ahead_seconds": 30.0},
            {"publish_ahead_seconds": "30"},
        ],
    )
    async def test_bad_body_is_422(self, stack: Stack, actors: Actors, body: object) -> None:
        admin = await actors.platform_admin()
        before = await _kids(stack)
        assert_problem(await stack.client.post("/auth/keys/rotate", json=body, headers=admin.headers), 422)
        assert await _kids(stack) == before


class TestRotationRate:
    async def test_refused_while_the_newest_key_is_younger_than_a_token_lifetime(self, short_lived: Stack) -> None:
        stack = short_lived
        actors = Actors(stack)
        try:
            admin = await actors.platform_admin()
            await _age_past_a_token_lifetime(stack)
            first = await stack.client.post(
                "/auth/keys/rotate", json={"publish_ahead_seconds": 0}, headers=admin.headers
            )
            assert first.status_code == 201, first.text
            rotated = ("user:" + admin.subject, "signing_key.rotate", first.json()["kid"], "active")
            assert (await audit_log(stack))[-1] == rotated
            kids = await _kids(stack)
            again = await stack.client.post(
                "/auth/keys/rotate", json={"publish_ahead_seconds": 0}, headers=admin.headers
            )
            body = assert_problem(again, 409)
            assert body["type"].endswith(":rotation-too-soon")
            retry_after = int(again.headers["retry-after"])
            assert 1 <= retry_after <= SHORT_TTL_SECONDS
            assert await _kids(stack) == kids  # nothing added
            assert (await audit_log(stack))[-1] == rotated  # and nothing logged
            await asyncio.sleep(retry_after + 0.2)
            later = await stack.client.post(
                "/auth/keys/rotate", json={"publish_ahead_seconds": 0}, headers=admin.headers
            )
            assert later.status_code == 201, later.text
            assert (await audit_log(stack))[-1][1:3] == ("signing_key.rotate", later.json()["kid"])
        finally:
            await actors.aclose()

    async def test_the_startup_key_counts_too(self, stack: Stack, actors: Actors) -> None:
        admin = await actors.platform_admin()
        refused = await stack.client.post("/auth/keys/rotate", headers=admin.headers)
        assert assert_problem(refused, 409)["type"].endswith(":rotation-too-soon")
        ttl = stack.auth_settings.access_token_ttl_seconds
        assert ttl - 120 < int(refused.headers["retry-after"]) <= ttl

    def test_a_seconds_long_lifetime_is_for_tests_only(self) -> None:
        with pytest.raises(ValueError, match="at least 60"):
            AuthSettings(environment="development", access_token_ttl_seconds=SHORT_TTL_SECONDS)
        assert (
            AuthSettings(environment="test", access_token_ttl_seconds=SHORT_TTL_SECONDS).access_token_ttl_seconds == 2
        )


class TestKeyLife:
    def test_states_and_publication_window(self) -> None:
        now = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)

        def key(kid: str, minutes_ago: float) -> SigningKey:
            at = now - dt.timedelta(minutes=minutes_ago)
            return SigningKey(kid=kid, private_jwk="{}", public_jwk="{}", created_at=at, activates_at=at)

        # Newest first: a future key, the active one, one retired 10 minutes ago, one retired 2 hours ago.
        keys = [key("next", -5), key("active", 10), key("recent", 60), key("ancient", 300)]
        statuses = keys_service._statuses(keys, now=now, token_ttl_seconds=900)
        assert [(s.kid, s.state) for s in statuses] == [
            ("next", "next"),
            ("active", "active"),
            ("recent", "retired"),  # retired 10 min ago: its tokens (15 min) may still be valid
            ("ancient", "expired"),  # retired 60 min ago: gone from the JWKS, pruned at the next rotation
        ]
