"""Members: org admins add users with roles (role rules), change roles, remove members; the list."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from tests.auth.helpers import login
from tests.conftest import Stack
from tests.support.actors import Actor, Actors
from tests.support.problems import assert_problem


def member_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "email": f"m-{secrets.token_hex(4)}@example.cn",
        "name": "张三",
        "password": "member-password-1",
        "roles": ["member"],
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


async def _members(stack: Stack, actor: Actor) -> list[dict[str, Any]]:
    response = await stack.client.get(f"/auth/organizations/{actor.org_id}/members", headers=actor.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


class TestAddMember:
    async def test_org_admin_adds_a_member_who_can_log_in(self, stack: Stack, actors: Actors) -> None:
        admin = await actors.org_member(kind="transfer_institution", roles=("org_admin",))
        body = member_body(roles=["broker", "member"], broker_certificate_no="ｊｊｒ-2024-0001")
        response = await stack.client.post(
            f"/auth/organizations/{admin.org_id}/members", json=body, headers=admin.headers
        )
        assert response.status_code == 201, response.text
        created = response.json()
        assert created["roles"] == ["broker", "member"]
        assert created["broker_certificate_no"] == "JJR-2024-0001"
        token = (await login(stack.client, body["email"], body["password"])).json()["access_token"]
        principal = await stack.service_app("market").state.token_verifier.verify(token)
        assert principal.roles == frozenset({"broker", "member"})
        assert principal.org_id == admin.org_id

    @pytest.mark.parametrize(
        ("kind", "roles", "field"),
        [
            ("university", ["broker"], "roles"),
            ("enterprise", ["registrar"], "roles"),
            ("sub_center", ["registrar"], "roles"),
            ("university", ["platform_admin"], "roles"),
            ("transfer_institution", ["broker"], "broker_certificate_no"),
        ],
    )
    async def test_role_rules_are_422(
        self, stack: Stack, actors: Actors, kind: str, roles: list[str], field: str
    ) -> None:
        admin = await actors.org_member(kind=kind, roles=("org_admin",))
        before = await _members(stack, admin)
        response = await stack.client.post(
            f"/auth/organizations/{admin.org_id}/members", json=member_body(roles=roles), headers=admin.headers
        )
        assert_problem(response, 422, field=field)
        assert await _members(stack, admin) == before

    @pytest.mark.parametrize("kind", ["transfer_institution", "sub_center", "center"])
    async def test_brokers_work_in_the_transfer_tiers(self, stack: Stack, actors: Actors, kind: str) -> None:
        broker = await actors.org_member(kind=kind, roles=("broker",))
        assert (await stack.service_app("search").state.token_verifier.verify(broker.token)).roles == {"broker"}

    async def test_registrars_work_in_registration_offices(self, stack: Stack, actors: Actors) -> None:
        registrar = await actors.org_member(kind="registration_office", roles=("registrar", "statistician"))
        assert registrar.roles == ["registrar", "statistician"]

    async def test_only_a_platform_admin_grants_platform_admin(self, stack: Stack, actors: Actors) -> None:
        center_admin = await actors.org_member(kind="center", roles=("org_admin",))
        response = await stack.client.post(
            f"/auth/organizations/{center_admin.org_id}/members",
            json=member_body(roles=["platform_admin"]),
            headers=center_admin.headers,
        )
        assert_problem(response, 422, field="roles")
        admin = await actors.platform_admin()
        response = await stack.client.post(
            f"/auth/organizations/{admin.org_id}/members",
            json=member_body(roles=["platform_admin"]),
            headers=admin.headers,
        )
        assert response.status_code == 201

    async def test_duplicate_email_is_409(self, stack: Stack, actors: Actors) -> None:
        admin = await actors.org_member(roles=("org_admin",))
        body = member_body()
        await stack.client.post(f"/auth/organizations/{admin.org_id}/members", json=body, headers=admin.headers)
        again = await stack.client.post(
            f"/auth/organizations/{admin.org_id}/members",
            json=member_body(email=body["email"].upper()),
            headers=admin.headers,
        )
        assert_problem(again, 409, field="email")

    async def test_plain_members_and_strangers_may_not(self, stack: Stack, actors: Actors) -> None:
        admin = await actors.org_member(roles=("org_admin",))
        member = await actors.colleague(admin, roles=("member",))
        stranger = await actors.org_member(roles=("org_admin",))
        hidden = await actors.org_member(verified=False)
        path = f"/auth/organizations/{admin.org_id}/members"
        assert_problem(await stack.client.post(path, json=member_body(), headers=member.headers), 403)
        assert_problem(await stack.client.post(path, json=member_body(), headers=stranger.headers), 403)
        assert_problem(
            await stack.client.post(
                f"/auth/organizations/{hidden.org_id}/members", json=member_body(), headers=stranger.headers
            ),
            404,
        )

    @pytest.mark.parametrize(
        ("overrides", "field"),
        [
            ({"roles": []}, "roles"),
            ({"roles": ["emperor"]}, "roles.0"),
            ({"email": "nope"}, "email"),
            ({"password": "short"}, "password"),
            ({"password": "qwertyuiop"}, "password"),
            ({"name": ""}, "name"),
            ({"broker_certificate_no": "!"}, "broker_certificate_no"),
            ({"organization_id": "x"}, "organization_id"),
        ],
    )
    async def test_bad_input_is_422(self, stack: Stack, actors: Actors, overrides: dict[str, Any], field: str) -> None:
        admin = await actors.org_member(roles=("org_admin",))
        before = await _members(stack, admin)
        response = await stack.client.post(
            f"/auth/organizations/{admin.org_id}/members", json=member_body(**overrides), headers=admin.headers
        )
        assert_problem(response, 422, field=field)
        assert await _members(stack, admin) == before


class TestChangeAndRemoveMembers:
    async def test_change_roles(self, stack: Stack, actors: Actors) -> None:
        admin = await actors.org_member(kind="transfer_institution", roles=("org_admin",))
        member = await actors.colleague(admin, roles=("member",))
        path = f"/auth/organizations/{admin.org_id}/members/{member.subject}"
        response = await stack.client.patch(
            path, json={"roles": ["broker"], "broker_certificate_no": "JJR-1"}, headers=admin.headers
        )
        assert response.status_code == 200, response.text
        assert response.json()["roles"] == ["broker"]
        assert_problem(
            await stack.client.patch(path, json={"broker_certificate_no": None}, headers=admin.headers),
            422,
            field="broker_certificate_no",
        )
        assert_problem(await stack.client.patch(path, json={"roles": ["boss"]}, headers=admin.headers), 422)
        assert_problem(await stack.client.patch(path, json={"email": "x@y.cn"}, headers=admin.headers), 422)

    async def test_the_last_org_admin_stays(self, stack: Stack, actors: Actors) -> None:
        admin = await actors.org_member(roles=("org_admin",))
        path = f"/auth/organizations/{admin.org_id}/members/{admin.subject}"
        assert_problem(await stack.client.patch(path, json={"roles": ["member"]}, headers=admin.headers), 409)
        assert_problem(await stack.client.delete(path, headers=admin.headers), 409)
        second = await actors.colleague(admin, roles=("org_admin",))
        assert (await stack.client.delete(path, headers=second.headers)).status_code == 204
        assert [m["user_id"] for m in await _members(stack, second)] == [second.subject]

    async def test_unknown_member_is_404(self, stack: Stack, actors: Actors) -> None:
        admin = await actors.org_member(roles=("org_admin",))
        other = await actors.org_member()
        path = f"/auth/organizations/{admin.org_id}/members/{other.subject}"
        assert_problem(await stack.client.delete(path, headers=admin.headers), 404)
        assert_problem(await stack.client.patch(path, json={"roles": ["member"]}, headers=admin.headers), 404)


class TestListMembers:
    async def test_colleagues_see_each_other_strangers_do_not(self, stack: Stack, actors: Actors) -> None:
        admin = await actors.org_member(roles=("org_admin",))
        colleague = await actors.colleague(admin, roles=("member",))
        stranger = await actors.org_member()
        ids = {m["user_id"] for m in await _members(stack, colleague)}
        assert {admin.subject, colleague.subject} <= ids
        path = f"/auth/organizations/{admin.org_id}/members"
        assert_problem(await stack.client.get(path, headers=stranger.headers), 404)
        page = await stack.client.get(path, params={"limit": 1}, headers=admin.headers)
        assert len(page.json()["items"]) == 1
        rest = await stack.client.get(path, params={"cursor": page.json()["next_cursor"]}, headers=admin.headers)
        assert len(rest.json()["items"]) == len(ids) - 1
