"""POST /auth/token (each grant, rotation and reuse detection, lockout, enumeration safety) and /auth/revoke."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from services.auth.passwords import PasswordHasher
from services.auth.tokens.models import LoginFailure
from services.auth.users.models import User
from tests.auth.helpers import assert_oauth_error, login, signup
from tests.conftest import TEST_ADMIN_EMAIL, TEST_ADMIN_PASSWORD, Databases, Stack, running_stack
from tests.support.actors import Actors
from tests.support.problems import assert_problem


@asynccontextmanager
async def _client_from(stack: Stack, ip: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose requests come from ``ip`` (the lockout counts per client IP)."""
    transport = httpx.ASGITransport(app=stack.app, client=(ip, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def _me(stack: Stack, token: str) -> httpx.Response:
    return await stack.client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})


class TestPasswordGrant:
    async def test_returns_a_bearer_token_and_a_refresh_token(self, stack: Stack) -> None:
        created = await signup(stack.client)
        response = await login(stack.client, created["email"].upper(), created["password"])
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        body = response.json()
        assert body["token_type"] == "Bearer"
        assert body["expires_in"] == 900
        assert body["scope"] == ""
        assert body["refresh_token"]
        claims = (await stack.service_app("search").state.token_verifier.verify(body["access_token"])).claims
        assert set(claims) == {
            "iss", "aud", "sub", "exp", "iat", "nbf", "jti", "scope",
            "org", "org_kind", "org_path", "org_verified", "org_region", "roles",
        }  # fmt: skip
        assert claims["iss"] == stack.auth_settings.jwt_issuer
        assert claims["aud"] == stack.auth_settings.jwt_audience
        assert claims["exp"] - claims["iat"] == 900
        assert claims["sub"] == created["user"]["id"]
        assert claims["org"] == created["organization"]["id"]
        assert claims["roles"] == ["org_admin"]
        assert claims["org_verified"] is False

    async def test_me_describes_the_user(self, stack: Stack, actors: Actors) -> None:
        broker = await actors.org_member(kind="transfer_institution", roles=("broker", "member"))
        me = (await _me(stack, broker.token)).json()
        assert me["user"]["id"] == broker.subject
        assert me["organization_id"] == str(broker.org_id)
        assert me["roles"] == ["broker", "member"]
        (membership,) = me["memberships"]
        assert membership["broker_certificate_no"].startswith("JJR-")
        assert membership["organization"]["kind"] == "transfer_institution"

    async def test_me_refuses_client_tokens(self, stack: Stack, actors: Actors) -> None:
        client = await actors.service_client()
        assert_problem(await _me(stack, client.token), 403)

    async def test_wrong_password_and_unknown_user_look_the_same(self, stack: Stack) -> None:
        created = await signup(stack.client)
        wrong = await login(stack.client, created["email"], "not the password at all")
        unknown = await login(stack.client, "nobody@nowhere.example", "not the password at all")
        assert_oauth_error(wrong, 400, "invalid_grant")
        assert_oauth_error(unknown, 400, "invalid_grant")
        assert wrong.json() == unknown.json()
        assert wrong.headers.keys() - {"x-request-id"} == unknown.headers.keys() - {"x-request-id"}

    async def test_unknown_user_costs_a_hash_too(self, stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
        """A login for an unknown email runs one argon2id verification with the same parameters as a real account's,
        so both answers take the same work. Counted, not timed: a shared machine's load makes timings meaningless."""
        created = await signup(stack.client)
        hasher: PasswordHasher = stack.service_app("auth").state.password_hasher
        argon2 = hasher._hash
        checked: list[str] = []  # the stored hash each argon2 verification ran against
        for name in ("verify", "verify_and_update"):
            real = getattr(argon2, name)

            def counting(password: str, stored: str, _real: Any = real) -> Any:
                checked.append(stored)
                return _real(password, stored)

            monkeypatch.setattr(argon2, name, counting)

        for i in range(2):
            async with _client_from(stack, f"10.1.0.{i}") as client:
                assert (await login(client, created["email"], "definitely wrong password")).status_code == 400
        known = list(checked)
        for i in range(2):
            async with _client_from(stack, f"10.2.0.{i}") as client:
                assert (
                    await login(client, f"ghost{i}@nowhere.example", "definitely wrong password")
                ).status_code == 400
        unknown = checked[len(known) :]
        assert len(known) == 2
        assert len(unknown) == 2  # one full verification per attempt, as for the real account
        # The same algorithm and costs ($argon2id$v=19$m=…,t=…,p=…$), so the same work per verification.
        assert {h.rsplit("$", 2)[0] for h in unknown} == {h.rsplit("$", 2)[0] for h in known}

    @pytest.mark.parametrize(
        ("data", "error"),
        [
            ({"grant_type": "password", "username": "a@b.cn"}, "invalid_request"),
            ({"grant_type": "password", "password": "x"}, "invalid_request"),
            (
                {"grant_type": "password", "username": "a@b.cn", "password": "x" * 12, "scope": "market:read"},
                "invalid_scope",
            ),
            ({"username": "a@b.cn", "password": "x"}, "invalid_request"),
            ({"grant_type": "authorization_code", "code": "x"}, "unsupported_grant_type"),
        ],
        ids=["no-password", "no-username", "scope", "no-grant-type", "unsupported"],
    )
    async def test_bad_requests_are_rfc6749_errors(self, stack: Stack, data: dict[str, str], error: str) -> None:
        assert_oauth_error(await stack.client.post("/auth/token", data=data), 400, error)

    async def test_a_json_body_is_invalid_request(self, stack: Stack) -> None:
        response = await stack.client.post("/auth/token", json={"grant_type": "password"})
        assert_oauth_error(response, 400, "invalid_request")

    async def test_a_repeated_parameter_is_invalid_request(self, stack: Stack) -> None:
        response = await stack.client.post(
            "/auth/token",
            content=b"grant_type=password&grant_type=client_credentials",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert_oauth_error(response, 400, "invalid_request")

    async def test_login_rehashes_when_the_parameters_changed(self, stack: Stack) -> None:
        created = await signup(stack.client)
        auth_app = stack.service_app("auth")

        async def stored_hash() -> str:
            async with auth_app.state.sessionmaker() as session:
                user = (await session.execute(select(User).where(User.email == created["email"]))).scalar_one()  # type: ignore[arg-type]
                return user.password_hash

        before = await stored_hash()
        assert f"t={stack.auth_settings.password_hash_time_cost}" in before
        assert "t=3" not in before
        auth_app.state.password_hasher = PasswordHasher(memory_kib=19_456, time_cost=3, parallelism=1)
        assert (await login(stack.client, created["email"], created["password"])).status_code == 200
        after = await stored_hash()
        assert "t=3" in after
        assert (await login(stack.client, created["email"], created["password"])).status_code == 200


class TestLockout:
    async def test_five_failures_lock_the_account_with_retry_after(self, stack: Stack) -> None:
        created = await signup(stack.client)
        for i in range(5):
            async with _client_from(stack, f"10.3.0.{i}") as client:
                assert_oauth_error(await login(client, created["email"], "wrong password!"), 400, "invalid_grant")
        # Even the right password, even from a fresh IP, waits.
        async with _client_from(stack, "10.3.1.1") as client:
            locked = await login(client, created["email"], created["password"])
        assert_oauth_error(locked, 429, "invalid_grant")
        assert 1 <= int(locked.headers["retry-after"]) <= 901
        # Other accounts are not affected.
        other = await signup(stack.client)
        assert (await login(stack.client, other["email"], other["password"])).status_code == 200

    async def test_a_locked_account_does_not_lock_its_ip(self, stack: Stack) -> None:
        # One campus behind one NAT address: someone mistypes six times; colleagues still log in from there.
        victim, colleague = await signup(stack.client), await signup(stack.client)
        async with _client_from(stack, "10.4.0.1") as client:
            for _ in range(5):
                assert_oauth_error(await login(client, victim["email"], "wrong password!"), 400, "invalid_grant")
            assert_oauth_error(await login(client, victim["email"], "wrong password!"), 429, "invalid_grant")
            assert_oauth_error(await login(client, victim["email"], victim["password"]), 429, "invalid_grant")
            assert (await login(client, colleague["email"], colleague["password"])).status_code == 200

    async def test_the_ip_limit_is_separate_and_higher(self, stack: Stack) -> None:
        limit = stack.auth_settings.login_max_failures_per_ip
        assert limit == 100  # the default (AUTH_LOGIN_MAX_FAILURES_PER_IP)
        created = await signup(stack.client)
        async with _client_from(stack, "10.4.1.1") as client:
            # One failure per account: only the IP's counter can reach its limit.
            for i in range(limit):
                assert_oauth_error(
                    await login(client, f"guess{i}@nowhere.example", "wrong password!"), 400, "invalid_grant"
                )
            locked = await login(client, created["email"], created["password"])
            assert_oauth_error(locked, 429, "invalid_grant")
            window = stack.auth_settings.login_window_seconds
            assert 1 <= int(locked.headers["retry-after"]) <= window + 1
        async with _client_from(stack, "10.4.1.2") as client:
            assert (await login(client, created["email"], created["password"])).status_code == 200

    async def test_a_forged_x_forwarded_for_changes_nothing(self, stack: Stack) -> None:
        # No proxy is trusted by default: the header cannot spread failures over invented IPs, nor pin them on
        # someone else's address.
        assert stack.auth_settings.trusted_proxies == ""
        limit = stack.auth_settings.login_max_failures_per_ip
        created = await signup(stack.client)
        async with _client_from(stack, "10.4.2.1") as attacker:
            for i in range(limit):
                forged = {"X-Forwarded-For": f"10.4.3.{i}"}
                response = await attacker.post(
                    "/auth/token",
                    data={"grant_type": "password", "username": f"guess{i}@nowhere.example", "password": "wrong!"},
                    headers=forged,
                )
                assert_oauth_error(response, 400, "invalid_grant")
            spread = await attacker.post(
                "/auth/token",
                data={"grant_type": "password", "username": created["email"], "password": created["password"]},
                headers={"X-Forwarded-For": "10.4.3.250"},
            )
            assert_oauth_error(spread, 429, "invalid_grant")
        assert await _failure_ips(stack) == {"10.4.2.1"}
        # The addresses the attacker named are not locked out.
        async with _client_from(stack, "10.4.3.7") as client:
            assert (await login(client, created["email"], created["password"])).status_code == 200

    async def test_unknown_accounts_lock_like_real_ones(self, stack: Stack) -> None:
        for i in range(5):
            async with _client_from(stack, f"10.5.0.{i}") as client:
                await login(client, "ghost@nowhere.example", "wrong password!")
        async with _client_from(stack, "10.5.1.1") as client:
            assert_oauth_error(await login(client, "ghost@nowhere.example", "wrong password!"), 429, "invalid_grant")

    async def test_a_success_clears_the_account_counter(self, stack: Stack) -> None:
        created = await signup(stack.client)
        for round_ in range(2):
            for i in range(4):
                async with _client_from(stack, f"10.6.{round_}.{i}") as client:
                    await login(client, created["email"], "wrong password!")
            async with _client_from(stack, f"10.6.{round_}.9") as client:
                assert (await login(client, created["email"], created["password"])).status_code == 200


class TestTrustedProxies:
    @pytest.fixture
    async def proxied(self, databases: Databases, tmp_path: Path) -> AsyncIterator[Stack]:
        async with running_stack(databases, tmp_path, auth_overrides={"trusted_proxies": "10.9.0.0/16"}) as running:
            yield running

    async def test_a_trusted_proxy_names_the_client(self, proxied: Stack) -> None:
        async with _client_from(proxied, "10.9.0.1") as gateway:
            for forwarded in ("198.51.100.7", "203.0.113.66, 198.51.100.8", "198.51.100.9, 10.9.3.3"):
                response = await gateway.post(
                    "/auth/token",
                    data={"grant_type": "password", "username": "ghost@nowhere.example", "password": "wrong!"},
                    headers={"X-Forwarded-For": forwarded},
                )
                assert_oauth_error(response, 400, "invalid_grant")
        # The rightmost hop no trusted proxy added: what the client wrote to the left of it is ignored.
        assert await _failure_ips(proxied) == {"198.51.100.7", "198.51.100.8", "198.51.100.9"}

    async def test_an_untrusted_peer_is_still_not_believed(self, proxied: Stack) -> None:
        async with _client_from(proxied, "192.0.2.44") as client:
            response = await client.post(
                "/auth/token",
                data={"grant_type": "password", "username": "ghost@nowhere.example", "password": "wrong!"},
                headers={"X-Forwarded-For": "198.51.100.7"},
            )
            assert_oauth_error(response, 400, "invalid_grant")
        assert await _failure_ips(proxied) == {"192.0.2.44"}


async def _failure_ips(stack: Stack) -> set[str]:
    """The client IPs the failed logins were counted against."""
    async with stack.service_app("auth").state.sessionmaker() as session:
        return set((await session.execute(select(LoginFailure.ip))).scalars())


class TestRefreshTokenGrant:
    async def test_rotation_and_reuse_detection(self, stack: Stack) -> None:
        created = await signup(stack.client)
        first = (await login(stack.client, created["email"], created["password"])).json()
        rotated = await stack.client.post(
            "/auth/token", data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
        )
        assert rotated.status_code == 200, rotated.text
        second = rotated.json()
        assert second["refresh_token"] != first["refresh_token"]
        assert second["access_token"] != first["access_token"]
        # The spent token again: a reuse. The whole family dies, including the legitimate successor.
        reuse = await stack.client.post(
            "/auth/token", data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
        )
        assert_oauth_error(reuse, 400, "invalid_grant")
        successor = await stack.client.post(
            "/auth/token", data={"grant_type": "refresh_token", "refresh_token": second["refresh_token"]}
        )
        assert_oauth_error(successor, 400, "invalid_grant")
        # A new login starts a new family.
        again = (await login(stack.client, created["email"], created["password"])).json()
        ok = await stack.client.post(
            "/auth/token", data={"grant_type": "refresh_token", "refresh_token": again["refresh_token"]}
        )
        assert ok.status_code == 200

    async def test_refresh_picks_up_verification(self, stack: Stack, actors: Actors) -> None:
        admin = await actors.platform_admin()
        created = await signup(stack.client)
        tokens = (await login(stack.client, created["email"], created["password"])).json()
        await stack.client.post(f"/auth/organizations/{created['organization']['id']}/verify", headers=admin.headers)
        refreshed = await stack.client.post(
            "/auth/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
        )
        principal = await stack.service_app("market").state.token_verifier.verify(refreshed.json()["access_token"])
        assert principal.org_verified is True

    @pytest.mark.parametrize(
        "data",
        [{"grant_type": "refresh_token"}, {"grant_type": "refresh_token", "refresh_token": "made-up"}],
        ids=["missing", "unknown"],
    )
    async def test_missing_or_unknown(self, stack: Stack, data: dict[str, str]) -> None:
        response = await stack.client.post("/auth/token", data=data)
        assert_oauth_error(response, 400, "invalid_request" if "refresh_token" not in data else "invalid_grant")

    async def test_removed_members_cannot_refresh(self, stack: Stack, actors: Actors) -> None:
        admin = await actors.platform_admin()
        member = await actors.org_member(roles=("org_admin",))
        body = {"email": "leaver@example.cn", "name": "Leaver", "password": "leaver-password-1", "roles": ["member"]}
        added = await stack.client.post(
            f"/auth/organizations/{member.org_id}/members", json=body, headers=member.headers
        )
        tokens = (await login(stack.client, body["email"], body["password"])).json()
        removed = await stack.client.delete(
            f"/auth/organizations/{member.org_id}/members/{added.json()['user_id']}", headers=admin.headers
        )
        assert removed.status_code == 204
        response = await stack.client.post(
            "/auth/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
        )
        assert_oauth_error(response, 400, "invalid_grant")


class TestClientCredentialsGrant:
    async def test_basic_auth_gives_a_scoped_token(self, stack: Stack) -> None:
        response = await stack.client.post(
            "/auth/token", data={"grant_type": "client_credentials"}, auth=("market-relay", "dev-insecure-market-relay")
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert "refresh_token" not in body
        assert body["scope"] == "auth:directory search:ingest"  # without a scope parameter: all it was granted
        claims = (await stack.service_app("search").state.token_verifier.verify(body["access_token"])).claims
        assert claims["client_id"] == claims["sub"] == "market-relay"
        assert "org" not in claims
        assert claims["roles"] == []

    async def test_client_secret_post_works_too(self, stack: Stack) -> None:
        response = await stack.client.post(
            "/auth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": "search-indexer",
                "client_secret": "dev-insecure-search-indexer",
            },
        )
        assert response.status_code == 200
        assert response.json()["scope"] == "market:read"

    @pytest.mark.parametrize(
        "auth",
        [("market-relay", "wrong"), ("nobody", "dev-insecure-market-relay"), None],
        ids=["wrong-secret", "unknown-client", "no-client"],
    )
    async def test_bad_client_is_invalid_client(self, stack: Stack, auth: tuple[str, str] | None) -> None:
        response = await stack.client.post("/auth/token", data={"grant_type": "client_credentials"}, auth=auth)
        assert_oauth_error(response, 401, "invalid_client")
        assert response.headers["www-authenticate"] == "Basic"

    async def test_malformed_basic_header(self, stack: Stack) -> None:
        response = await stack.client.post(
            "/auth/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()},
        )
        assert_oauth_error(response, 401, "invalid_client")

    async def test_a_scope_beyond_the_client_is_invalid_scope(self, stack: Stack) -> None:
        response = await stack.client.post(
            "/auth/token",
            data={"grant_type": "client_credentials", "scope": "search:ingest market:read"},
            auth=("market-relay", "dev-insecure-market-relay"),
        )
        assert_oauth_error(response, 400, "invalid_scope")


class TestRevoke:
    async def test_revoking_a_refresh_token_ends_its_family(self, stack: Stack) -> None:
        created = await signup(stack.client)
        tokens = (await login(stack.client, created["email"], created["password"])).json()
        response = await stack.client.post(
            "/auth/revoke", data={"token": tokens["refresh_token"], "token_type_hint": "refresh_token"}
        )
        assert response.status_code == 200
        refresh = await stack.client.post(
            "/auth/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
        )
        assert_oauth_error(refresh, 400, "invalid_grant")

    async def test_revoking_an_access_token_stops_it_at_the_auth_service(self, stack: Stack) -> None:
        created = await signup(stack.client)
        tokens = (await login(stack.client, created["email"], created["password"])).json()
        assert (await _me(stack, tokens["access_token"])).status_code == 200
        response = await stack.client.post("/auth/revoke", data={"token": tokens["access_token"]})
        assert response.status_code == 200
        assert_problem(await _me(stack, tokens["access_token"]), 401)

    async def test_unknown_tokens_are_fine(self, stack: Stack) -> None:
        assert (await stack.client.post("/auth/revoke", data={"token": "never-issued"})).status_code == 200
        assert (await stack.client.post("/auth/revoke", data={"token": "a.b.c"})).status_code == 200

    @pytest.mark.parametrize(
        ("data", "field"),
        [({}, "token"), ({"token": ""}, "token"), ({"token": "x", "token_type_hint": "id_token"}, "token_type_hint")],
    )
    async def test_bad_input_is_problem_json(self, stack: Stack, data: dict[str, str], field: str) -> None:
        assert_problem(await stack.client.post("/auth/revoke", data=data), 422, field=field)

    async def test_bad_client_credentials_are_401(self, stack: Stack) -> None:
        response = await stack.client.post("/auth/revoke", data={"token": "x"}, auth=("market-relay", "wrong"))
        assert_problem(response, 401)


class TestBootstrapAdminLogin:
    async def test_the_bootstrap_admin_logs_in_as_platform_admin(self, stack: Stack) -> None:
        response = await login(stack.client, TEST_ADMIN_EMAIL, TEST_ADMIN_PASSWORD)
        me = (await _me(stack, response.json()["access_token"])).json()
        assert me["roles"] == ["org_admin", "platform_admin"]
        assert me["memberships"][0]["organization"]["kind"] == "center"
        assert me["memberships"][0]["organization"]["name"] == "国家技术转移西南中心"
        assert me["memberships"][0]["organization"]["status"] == "verified"


class TestRefreshRace:
    async def test_two_concurrent_refreshes_with_one_token_cannot_both_win(self, stack: Stack) -> None:
        import asyncio

        created = await signup(stack.client)
        tokens = (await login(stack.client, created["email"], created["password"])).json()
        data = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
        first, second = await asyncio.gather(
            stack.client.post("/auth/token", data=data), stack.client.post("/auth/token", data=data)
        )
        assert sorted([first.status_code, second.status_code]) == [200, 400]
        winner = first if first.status_code == 200 else second
        # The loser was a reuse: the family, including the winner's new refresh token, is revoked.
        again = await stack.client.post(
            "/auth/token", data={"grant_type": "refresh_token", "refresh_token": winner.json()["refresh_token"]}
        )
        assert_oauth_error(again, 400, "invalid_grant")


class TestHousekeeping:
    async def test_login_prunes_expired_rows(self, stack: Stack) -> None:
        import datetime as dt

        from services.auth.tokens.models import RefreshToken, RevokedAccessToken

        created = await signup(stack.client)
        first = (await login(stack.client, created["email"], created["password"])).json()
        await stack.client.post("/auth/revoke", data={"token": first["access_token"]})
        sessionmaker = stack.service_app("auth").state.sessionmaker
        past = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
        async with sessionmaker() as session:
            for row in (await session.execute(select(RefreshToken))).scalars():
                row.expires_at = past
            for revoked in (await session.execute(select(RevokedAccessToken))).scalars():
                revoked.expires_at = past
            await session.commit()
        await login(stack.client, created["email"], created["password"])
        async with sessionmaker() as session:
            assert len((await session.execute(select(RevokedAccessToken))).scalars().all()) == 0
            assert len((await session.execute(select(RefreshToken))).scalars().all()) == 1  # the new one
