"""Organizations: verify/reject, visibility, the list with filters and cursors, descendants."""

from __future__ import annotations

import uuid

import pytest

from tests.auth.helpers import login, signup
from tests.conftest import Stack
from tests.support.actors import Actors
from tests.support.problems import assert_problem

UNKNOWN = "01890a5d-ac96-774b-bcce-b302099a8057"


async def _token_headers(stack: Stack, email: str, password: str) -> dict[str, str]:
    response = await login(stack.client, email, password)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


class TestVerify:
    async def test_platform_admin_verifies(self, stack: Stack, actors: Actors) -> None:
        admin = await actors.platform_admin()
        created = await signup(stack.client)
        org_id = created["organization"]["id"]
        response = await stack.client.post(f"/auth/organizations/{org_id}/verify", headers=admin.headers)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "verified"
        assert response.json()["decided_at"] is not None
        # The next token of the org's users says so.
        headers = await _token_headers(stack, created["email"], created["password"])
        principal = await stack.service_app("market").state.token_verifier.verify(headers["Authorization"][7:])
        assert principal.org_verified is True

    async def test_the_tier_parent_org_admin_verifies_its_institutions(self, stack: Stack, actors: Actors) -> None:
        sub_center = await actors.org_member(kind="sub_center", roles=("org_admin",))
        created = await signup(stack.client, kind="transfer_institution", parent_id=str(sub_center.org_id))
        org_id = created["organization"]["id"]
        response = await stack.client.post(f"/auth/organizations/{org_id}/verify", headers=sub_center.headers)
        assert response.status_code == 200, response.text

    async def test_a_plain_member_of_the_parent_may_not(self, stack: Stack, actors: Actors) -> None:
        sub_center = await actors.org_member(kind="sub_center", roles=("member",))
        created = await signup(stack.client, kind="transfer_institution", parent_id=str(sub_center.org_id))
        response = await stack.client.post(
            f"/auth/organizations/{created['organization']['id']}/verify", headers=sub_center.headers
        )
        assert_problem(response, 403)

    async def test_an_unrelated_org_admin_does_not_see_a_pending_org(self, stack: Stack, actors: Actors) -> None:
        stranger = await actors.org_member(kind="university")
        created = await signup(stack.client)
        response = await stack.client.post(
            f"/auth/organizations/{created['organization']['id']}/verify", headers=stranger.headers
        )
        assert_problem(response, 404)

    async def test_an_org_cannot_verify_itself(self, stack: Stack) -> None:
        created = await signup(stack.client)
        headers = await _token_headers(stack, created["email"], created["password"])
        response = await stack.client.post(
            f"/auth/organizations/{created['organization']['id']}/verify", headers=headers
        )
        assert_problem(response, 403)

    async def test_twice_is_409(self, stack: Stack, actors: Actors) -> None:
        admin = await actors.platform_admin()
        member = await actors.org_member()
        assert_problem(
            await stack.client.post(f"/auth/organizations/{member.org_id}/verify", headers=admin.headers), 409
        )

    async def test_without_a_token_is_401(self, stack: Stack) -> None:
        created = await signup(stack.client)
        response = await stack.client.post(f"/auth/organizations/{created['organization']['id']}/verify")
        assert_problem(response, 401)

    @pytest.mark.parametrize(("org_id", "status"), [(UNKNOWN, 404), ("nope", 422)])
    async def test_unknown_or_malformed_id(self, stack: Stack, actors: Actors, org_id: str, status: int) -> None:
        admin = await actors.platform_admin()
        assert_problem(await stack.client.post(f"/auth/organizations/{org_id}/verify", headers=admin.headers), status)


class TestReject:
    async def test_rejects_with_a_reason(self, stack: Stack, actors: Actors) -> None:
        admin = await actors.platform_admin()
        created = await signup(stack.client)
        org_id = created["organization"]["id"]
        response = await stack.client.post(
            f"/auth/organizations/{org_id}/reject", json={"reason": "营业执照与名称不符"}, headers=admin.headers
        )
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "rejected"
        assert response.json()["rejection_reason"] == "营业执照与名称不符"
        again = await stack.client.post(f"/auth/organizations/{org_id}/verify", headers=admin.headers)
        assert_problem(again, 409)

    @pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "   "}, {"reason": "x", "status": "verified"}])
    async def test_bad_body_is_422_and_changes_nothing(self, stack: Stack, actors: Actors, body: object) -> None:
        admin = await actors.platform_admin()
        created = await signup(stack.client)
        org_id = created["organization"]["id"]
        response = await stack.client.post(f"/auth/organizations/{org_id}/reject", json=body, headers=admin.headers)
        assert_problem(response, 422)
        current = await stack.client.get(f"/auth/organizations/{org_id}", headers=admin.headers)
        assert current.json()["status"] == "pending"


class TestGetOrganization:
    async def test_verified_organizations_are_visible_to_any_caller(self, stack: Stack, actors: Actors) -> None:
        university = await actors.org_member(kind="university", name="西南交通大学")
        enterprise = await actors.org_member(kind="enterprise")
        response = await stack.client.get(f"/auth/organizations/{university.org_id}", headers=enterprise.headers)
        assert response.status_code == 200
        assert response.json()["name"] == "西南交通大学"
        assert response.json()["credit_code"] == university.credit_code

    async def test_pending_ones_only_to_themselves_their_parents_and_admins(self, stack: Stack, actors: Actors) -> None:
        sub_center = await actors.org_member(kind="sub_center")
        pending = await actors.org_member(kind="transfer_institution", parent=sub_center, verified=False)
        stranger = await actors.org_member(kind="enterprise")
        admin = await actors.platform_admin()
        path = f"/auth/organizations/{pending.org_id}"
        for caller, status in ((pending, 200), (sub_center, 200), (admin, 200), (stranger, 404)):
            assert (await stack.client.get(path, headers=caller.headers)).status_code == status

    async def test_needs_a_token(self, stack: Stack, actors: Actors) -> None:
        member = await actors.org_member()
        assert_problem(await stack.client.get(f"/auth/organizations/{member.org_id}"), 401)

    async def test_unknown_is_404_and_malformed_is_422(self, stack: Stack, actors: Actors) -> None:
        member = await actors.org_member()
        assert_problem(await stack.client.get(f"/auth/organizations/{UNKNOWN}", headers=member.headers), 404)
        assert_problem(
            await stack.client.get("/auth/organizations/x", headers=member.headers), 422, field="organization_id"
        )


class TestListOrganizations:
    async def test_filters_and_pages(self, stack: Stack, actors: Actors) -> None:
        admin = await actors.platform_admin()
        sub_center = await actors.org_member(kind="sub_center")
        institutions = [await actors.org_member(kind="transfer_institution", parent=sub_center) for _ in range(3)]
        await actors.org_member(kind="transfer_institution", parent=sub_center, verified=False)
        await actors.org_member(kind="university")
        seen: list[str] = []
        cursor: str | None = None
        while True:
            params: dict[str, str | int] = {"kind": "transfer_institution", "status": "verified", "limit": 2}
            if cursor:
                params["cursor"] = cursor
            page = (await stack.client.get("/auth/organizations", params=params, headers=admin.headers)).json()
            seen += [o["id"] for o in page["items"]]
            assert all(o["kind"] == "transfer_institution" and o["status"] == "verified" for o in page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == [str(i.org_id) for i in institutions]
        children = await stack.client.get(
            "/auth/organizations", params={"parent_id": str(sub_center.org_id)}, headers=admin.headers
        )
        assert len(children.json()["items"]) == 4
        pending = await stack.client.get("/auth/organizations", params={"status": "pending"}, headers=admin.headers)
        assert [o["kind"] for o in pending.json()["items"]] == ["transfer_institution"]

    async def test_others_see_verified_ones_and_their_own_subtree(self, stack: Stack, actors: Actors) -> None:
        hidden = await actors.org_member(kind="enterprise", verified=False)
        mine = await actors.org_member(kind="university", verified=False)
        visible = await actors.org_member(kind="enterprise")
        ids = {o["id"] for o in (await stack.client.get("/auth/organizations", headers=mine.headers)).json()["items"]}
        assert str(visible.org_id) in ids
        assert str(mine.org_id) in ids
        assert str(hidden.org_id) not in ids

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"kind": "castle"}, "kind"),
            ({"status": "sleeping"}, "status"),
            ({"parent_id": "nope"}, "parent_id"),
            ({"limit": 0}, "limit"),
            ({"limit": 101}, "limit"),
            ({"cursor": "garbage!"}, "cursor"),
        ],
    )
    async def test_bad_filters_are_422(
        self, stack: Stack, actors: Actors, params: dict[str, object], field: str
    ) -> None:
        member = await actors.org_member()
        response = await stack.client.get("/auth/organizations", params=params, headers=member.headers)
        assert_problem(response, 422, field=field)


class TestDescendants:
    async def test_the_whole_subtree_by_path(self, stack: Stack, actors: Actors) -> None:
        admin = await actors.platform_admin()
        sub_a = await actors.org_member(kind="sub_center")
        sub_b = await actors.org_member(kind="sub_center")
        a_children = [await actors.org_member(kind="transfer_institution", parent=sub_a) for _ in range(2)]
        await actors.org_member(kind="transfer_institution", parent=sub_b)
        response = await stack.client.get(f"/auth/organizations/{sub_a.org_id}/descendants", headers=sub_a.headers)
        assert response.status_code == 200
        assert [o["id"] for o in response.json()["items"]] == [str(c.org_id) for c in a_children]
        center = await stack.client.get(
            f"/auth/organizations/{admin.org_id}/descendants", params={"limit": 100}, headers=admin.headers
        )
        assert {uuid.UUID(o["id"]) for o in center.json()["items"]} >= {sub_a.org_id, sub_b.org_id}
        assert str(admin.org_id) not in {o["id"] for o in center.json()["items"]}

    async def test_a_leaf_has_none_and_unknown_is_404(self, stack: Stack, actors: Actors) -> None:
        member = await actors.org_member()
        leaf = await stack.client.get(f"/auth/organizations/{member.org_id}/descendants", headers=member.headers)
        assert leaf.json() == {"items": [], "next_cursor": None}
        assert_problem(
            await stack.client.get(f"/auth/organizations/{UNKNOWN}/descendants", headers=member.headers), 404
        )
