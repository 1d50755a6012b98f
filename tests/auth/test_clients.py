"""OAuth2 clients: platform admins create any, org admins create their organization's; disabling."""

from __future__ import annotations

from typing import Any

import pytest

from tests.auth.helpers import assert_oauth_error
from tests.conftest import Stack
from tests.support.actors import Actors
from tests.support.problems import assert_problem


async def _grant(stack: Stack, client_id: str, secret: str, scope: str | None = None) -> Any:
    data = {"grant_type": "client_credentials"}
    if scope:
        data["scope"] = scope
    return await stack.client.post("/auth/token", data=data, auth=(client_id, secret))


class TestCreateClient:
    async def test_platform_admin_creates_a_platform_client(self, stack: Stack, actors: Actors) -> None:
        admin = await actors.platform_admin()
        response = await stack.client.post(
            "/auth/clients", json={"name": "nightly export", "scopes": ["market:read"]}, headers=admin.headers
        )
        assert response.status_code == 201, response.text
        created = response.json()
        assert created["client_id"].startswith("c-")
        token = await _grant(stack, created["client_id"], created["client_secret"])
        assert token.json()["scope"] == "market:read"
        listed = (await stack.client.get("/auth/clients", headers=admin.headers)).json()["items"]
        assert created["client_id"] in {c["client_id"] for c in listed}
        assert all("client_secret" not in c for c in listed)

    async def test_org_admin_creates_a_client_acting_for_the_org(self, stack: Stack, actors: Actors) -> None:
        admin = await actors.org_member(kind="university", roles=("org_admin",))
        response = await stack.client.post(
            "/auth/clients",
            json={"client_id": "scu-tto", "name": "四川大学 TTO system", "scopes": ["listings:write"]},
            headers=admin.headers,
        )
        assert response.status_code == 201, response.text
        assert response.json()["organization_id"] == str(admin.org_id)
        token = (await _grant(stack, "scu-tto", response.json()["client_secret"])).json()["access_token"]
        principal = await stack.service_app("market").state.token_verifier.verify(token)
        assert principal.is_service
        assert principal.org_id == admin.org_id
        assert principal.org_kind == "university"
        assert principal.scopes == {"listings:write"}
        mine = (await stack.client.get("/auth/clients", headers=admin.headers)).json()["items"]
        assert [c["client_id"] for c in mine] == ["scu-tto"]

    async def test_org_admins_cannot_grant_platform_scopes_or_other_orgs(self, stack: Stack, actors: Actors) -> None:
        admin = await actors.org_member(roles=("org_admin",))
        other = await actors.org_member()
        response = await stack.client.post(
            "/auth/clients", json={"name": "x", "scopes": ["search:ingest"]}, headers=admin.headers
        )
        assert_problem(response, 422, field="scopes")
        response = await stack.client.post(
            "/auth/clients", json={"name": "x", "organization_id": str(other.org_id)}, headers=admin.headers
        )
        assert_problem(response, 422, field="organization_id")

    async def test_members_and_unverified_orgs_may_not(self, stack: Stack, actors: Actors) -> None:
        member = await actors.org_member(roles=("member",))
        pending_admin = await actors.org_member(roles=("org_admin",), verified=False)
        for caller in (member, pending_admin):
            assert_problem(await stack.client.post("/auth/clients", json={"name": "x"}, headers=caller.headers), 403)
        assert_problem(await stack.client.post("/auth/clients", json={"name": "x"}), 401)

    async def test_duplicate_client_id_is_409(self, stack: Stack, actors: Actors) -> None:
        admin = await actors.platform_admin()
        response = await stack.client.post(
            "/auth/clients", json={"client_id": "market-relay", "name": "again"}, headers=admin.headers
        )
        assert_problem(response, 409, field="client_id")

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"name": "x", "scopes": ["Bad Scope"]}, "scopes"),
            ({"name": "x", "client_id": "UPPER"}, "client_id"),
            ({"name": ""}, "name"),
            ({"name": "x", "secret": "mine"}, "secret"),
        ],
    )
    async def test_bad_input_is_422(self, stack: Stack, actors: Actors, body: dict[str, Any], field: str) -> None:
        admin = await actors.platform_admin()
        assert_problem(await stack.client.post("/auth/clients", json=body, headers=admin.headers), 422, field=field)


class TestUpdateAndDisableClient:
    async def test_rescoping_and_disabling(self, stack: Stack, actors: Actors) -> None:
        admin = await actors.platform_admin()
        created = (
            await stack.client.post(
                "/auth/clients", json={"client_id": "tto-1", "name": "x", "scopes": ["a:b"]}, headers=admin.headers
            )
        ).json()
        patched = await stack.client.patch("/auth/clients/tto-1", json={"scopes": ["c:d"]}, headers=admin.headers)
        assert patched.json()["scopes"] == ["c:d"]
        assert_oauth_error(await _grant(stack, "tto-1", created["client_secret"], "a:b"), 400, "invalid_scope")
        assert (await stack.client.delete("/auth/clients/tto-1", headers=admin.headers)).status_code == 204
        assert_oauth_error(await _grant(stack, "tto-1", created["client_secret"]), 401, "invalid_client")

    async def test_strangers_get_404(self, stack: Stack, actors: Actors) -> None:
        org_admin = await actors.org_member(roles=("org_admin",))
        assert_problem(await stack.client.delete("/auth/clients/market-relay", headers=org_admin.headers), 404)
        assert_problem(
            await stack.client.patch("/auth/clients/market-relay", json={"name": "mine"}, headers=org_admin.headers),
            404,
        )


class TestBuiltInClients:
    """The service clients the startup ensures (AUTH_SERVICE_CLIENTS) cannot be broken through the API."""

    @pytest.mark.parametrize("client_id", ["market-relay", "search-indexer", "auth-relay"])
    async def test_cannot_be_disabled_or_rescoped(self, stack: Stack, actors: Actors, client_id: str) -> None:
        admin = await actors.platform_admin()
        url = f"/auth/clients/{client_id}"
        configured = next(c for c in stack.auth_settings.service_clients if c.client_id == client_id)
        secret = configured.client_secret.get_secret_value()

        refused = assert_problem(await stack.client.delete(url, headers=admin.headers), 403)
        assert refused["type"].endswith(":built-in-client")
        assert client_id in refused["detail"]
        assert configured.purpose in refused["detail"]  # names what depends on it
        rescoped = assert_problem(await stack.client.patch(url, json={"scopes": ["x:y"]}, headers=admin.headers), 403)
        assert rescoped["type"].endswith(":built-in-client")
        # Nothing changed: it still gets tokens with every configured scope.
        listed = (await stack.client.get("/auth/clients?limit=100", headers=admin.headers)).json()["items"]
        (row,) = [c for c in listed if c["client_id"] == client_id]
        assert (row["scopes"], row["disabled_at"]) == (sorted(configured.scopes), None)
        token = await _grant(stack, client_id, secret, " ".join(configured.scopes))
        assert token.status_code == 200, token.text

    async def test_a_rename_or_the_same_scopes_pass(self, stack: Stack, actors: Actors) -> None:
        admin = await actors.platform_admin()
        scopes = sorted(next(c for c in stack.auth_settings.service_clients if c.client_id == "market-relay").scopes)
        renamed = await stack.client.patch(
            "/auth/clients/market-relay",
            json={"name": "market → search relay", "scopes": scopes},
            headers=admin.headers,
        )
        assert renamed.status_code == 200, renamed.text
        assert (renamed.json()["name"], renamed.json()["scopes"]) == ("market → search relay", scopes)
