"""Changing organizations: PATCH (name, region, credit code; ETag / If-Match), suspend and reinstate, and the
whole-directory listing for service clients holding auth:directory — every caller × every action."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.auth.helpers import login, signup
from tests.conftest import Stack
from tests.support.actors import Actor, Actors
from tests.support.codes import credit_code
from tests.support.problems import assert_problem

UNKNOWN = "01890a5d-ac96-774b-bcce-b302099a8057"


def org_path(actor: Actor) -> str:
    return f"/auth/organizations/{actor.org_id}"


async def current(stack: Stack, actors: Actors, org_id: object) -> dict[str, Any]:
    admin = await actors.platform_admin()
    response = await stack.client.get(f"/auth/organizations/{org_id}", headers=admin.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def org_verified_claim(stack: Stack, email: str, password: str) -> bool:
    """What a fresh token of that user says about its organization (as any service verifies it)."""
    response = await login(stack.client, email, password)
    assert response.status_code == 200, response.text
    principal = await stack.service_app("market").state.token_verifier.verify(response.json()["access_token"])
    return bool(principal.org_verified)


class TestPatchAuthorization:
    """Who may change name / region code: the org's own org_admin (pending or verified) and platform admins."""

    async def test_platform_admin_changes_any_organization(self, stack: Stack, actors: Actors) -> None:
        admin = await actors.platform_admin()
        for verified in (True, False):
            org = await actors.org_member(verified=verified)
            response = await stack.client.patch(
                org_path(org), json={"name": "四川大学（新）", "region_code": "510107"}, headers=admin.headers
            )
            assert response.status_code == 200, response.text
            assert (response.json()["name"], response.json()["region_code"]) == ("四川大学（新）", "510107")

    @pytest.mark.parametrize("verified", [True, False])
    async def test_its_own_org_admin_changes_it_pending_or_verified(
        self, stack: Stack, actors: Actors, verified: bool
    ) -> None:
        own = await actors.org_member(roles=("org_admin",), verified=verified)
        response = await stack.client.patch(org_path(own), json={"name": " 西南交通大学 "}, headers=own.headers)
        assert response.status_code == 200, response.text
        assert response.json()["name"] == "西南交通大学"

    async def test_others_may_not(self, stack: Stack, actors: Actors) -> None:
        sub_center = await actors.org_member(kind="sub_center", roles=("org_admin",))
        institution = await actors.org_member(kind="transfer_institution", parent=sub_center, roles=("org_admin",))
        member = await actors.colleague(institution, roles=("member", "broker"))
        stranger = await actors.org_member(roles=("org_admin",))
        reader = await actors.service_client(scopes=("auth:directory",), client_id="directory-reader")
        before = await current(stack, actors, institution.org_id)
        for caller in (member, sub_center, stranger, reader):
            response = await stack.client.patch(
                org_path(institution), json={"name": "别人的名字"}, headers=caller.headers
            )
            assert_problem(response, 403)
        assert await current(stack, actors, institution.org_id) == before

    async def test_a_pending_organization_is_404_to_strangers(self, stack: Stack, actors: Actors) -> None:
        pending = await actors.org_member(verified=False)
        stranger = await actors.org_member(roles=("org_admin",))
        response = await stack.client.patch(org_path(pending), json={"name": "x"}, headers=stranger.headers)
        assert_problem(response, 404)

    @pytest.mark.parametrize("state", ["suspended", "rejected"])
    async def test_not_by_its_own_org_admin_once_suspended_or_rejected(
        self, stack: Stack, actors: Actors, state: str
    ) -> None:
        admin = await actors.platform_admin()
        own = await actors.org_member(roles=("org_admin",), verified=state == "suspended")
        action, body = (
            ("suspend", {"reason": "年报未报送"}) if state == "suspended" else ("reject", {"reason": "材料不全"})
        )
        decided = await stack.client.post(f"{org_path(own)}/{action}", json=body, headers=admin.headers)
        assert decided.status_code == 200, decided.text
        response = await stack.client.patch(org_path(own), json={"name": "改个名"}, headers=own.headers)
        assert_problem(response, 403)

    async def test_without_a_token_is_401(self, stack: Stack, actors: Actors) -> None:
        own = await actors.org_member()
        assert_problem(await stack.client.patch(org_path(own), json={"name": "x"}), 401)

    @pytest.mark.parametrize(("org_id", "status"), [(UNKNOWN, 404), ("nope", 422)])
    async def test_unknown_or_malformed_id(self, stack: Stack, actors: Actors, org_id: str, status: int) -> None:
        admin = await actors.platform_admin()
        response = await stack.client.patch(f"/auth/organizations/{org_id}", json={"name": "x"}, headers=admin.headers)
        assert_problem(response, status, field="organization_id" if status == 422 else None)


class TestPatchCreditCode:
    async def test_only_a_platform_admin_changes_it(self, stack: Stack, actors: Actors) -> None:
        admin = await actors.platform_admin()
        own = await actors.org_member(roles=("org_admin",))
        new_code = credit_code("510100")
        refused = await stack.client.patch(org_path(own), json={"credit_code": new_code}, headers=own.headers)
        assert_problem(refused, 403, field="credit_code")
        assert (await current(stack, actors, own.org_id))["credit_code"] == own.credit_code
        # Full-width and lower case are normalized, as at signup.
        typed = new_code.lower().translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789"})
        response = await stack.client.patch(org_path(own), json={"credit_code": typed}, headers=admin.headers)
        assert response.status_code == 200, response.text
        assert response.json()["credit_code"] == new_code

    async def test_a_code_another_organization_has_is_409(self, stack: Stack, actors: Actors) -> None:
        admin = await actors.platform_admin()
        first = await actors.org_member()
        second = await actors.org_member()
        response = await stack.client.patch(
            org_path(second), json={"credit_code": first.credit_code}, headers=admin.headers
        )
        assert_problem(response, 409, field="credit_code")
        after = await current(stack, actors, second.org_id)
        assert (after["credit_code"], after["version"]) == (second.credit_code, 2)

    async def test_its_own_code_again_changes_nothing(self, stack: Stack, actors: Actors) -> None:
        admin = await actors.platform_admin()
        own = await actors.org_member()
        response = await stack.client.patch(org_path(own), json={"credit_code": own.credit_code}, headers=admin.headers)
        assert response.status_code == 200
        assert response.json()["version"] == 2  # signup 1, verify 2: no new version


class TestPatchBadInput:
    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"name": ""}, "name"),
            ({"name": "   "}, "name"),
            ({"name": None}, "name"),
            ({"name": "x" * 201}, "name"),
            ({"region_code": "999999"}, "region_code"),
            ({"region_code": None}, "region_code"),
            ({"credit_code": "91510100MA6C4XXXX0"}, "credit_code"),
            ({"credit_code": None}, "credit_code"),
            ({"kind": "enterprise"}, "kind"),
            ({"parent_id": UNKNOWN}, "parent_id"),
            ({"status": "verified"}, "status"),
            ({"version": 9}, "version"),
        ],
    )
    async def test_is_422_naming_the_field_and_changes_nothing(
        self, stack: Stack, actors: Actors, body: dict[str, Any], field: str
    ) -> None:
        admin = await actors.platform_admin()
        own = await actors.org_member()
        before = await current(stack, actors, own.org_id)
        response = await stack.client.patch(org_path(own), json=body, headers=admin.headers)
        assert_problem(response, 422, field=field)
        assert await current(stack, actors, own.org_id) == before

    async def test_not_an_object_is_422(self, stack: Stack, actors: Actors) -> None:
        admin = await actors.platform_admin()
        own = await actors.org_member()
        response = await stack.client.patch(org_path(own), json=["name"], headers=admin.headers)
        assert_problem(response, 422)


class TestETag:
    async def test_get_and_patch_carry_the_version_as_etag(self, stack: Stack, actors: Actors) -> None:
        own = await actors.org_member(roles=("org_admin",))
        read = await stack.client.get(org_path(own), headers=own.headers)
        assert read.headers["etag"] == '"v2"'
        assert read.json()["version"] == 2
        changed = await stack.client.patch(
            org_path(own), json={"name": "新名字"}, headers={**own.headers, "If-Match": read.headers["etag"]}
        )
        assert changed.status_code == 200, changed.text
        assert changed.headers["etag"] == '"v3"'
        assert changed.json()["version"] == 3
        assert dt.datetime.fromisoformat(changed.json()["updated_at"]) > dt.datetime.fromisoformat(
            read.json()["updated_at"]
        )

    async def test_a_stale_if_match_is_412_and_changes_nothing(self, stack: Stack, actors: Actors) -> None:
        own = await actors.org_member(roles=("org_admin",))
        first = await stack.client.patch(
            org_path(own), json={"name": "甲"}, headers={**own.headers, "If-Match": '"v2"'}
        )
        assert first.status_code == 200
        stale = await stack.client.patch(
            org_path(own), json={"name": "乙"}, headers={**own.headers, "If-Match": '"v2"'}
        )
        body = assert_problem(stale, 412, field="If-Match")
        assert body["current_etag"] == '"v3"'
        assert (await current(stack, actors, own.org_id))["name"] == "甲"

    async def test_if_match_is_optional(self, stack: Stack, actors: Actors) -> None:
        own = await actors.org_member(roles=("org_admin",))
        response = await stack.client.patch(org_path(own), json={"region_code": "500103"}, headers=own.headers)
        assert response.status_code == 200
        assert response.json()["region_code"] == "500103"
        star = await stack.client.patch(org_path(own), json={"name": "任意"}, headers={**own.headers, "If-Match": "*"})
        assert star.status_code == 200

    async def test_verify_answers_the_new_etag(self, stack: Stack, actors: Actors) -> None:
        admin = await actors.platform_admin()
        created = await signup(stack.client)
        verified = await stack.client.post(
            f"/auth/organizations/{created['organization']['id']}/verify", headers=admin.headers
        )
        assert verified.headers["etag"] == '"v2"'


class TestSuspendAndReinstate:
    async def test_platform_admin_suspends_and_members_lose_org_verified(self, stack: Stack, actors: Actors) -> None:
        admin = await actors.platform_admin()
        created = await signup(stack.client)
        org_id = created["organization"]["id"]
        assert (
            await stack.client.post(f"/auth/organizations/{org_id}/verify", headers=admin.headers)
        ).status_code == 200
        assert await org_verified_claim(stack, created["email"], created["password"]) is True

        suspended = await stack.client.post(
            f"/auth/organizations/{org_id}/suspend", json={"reason": " 未按期报送年报 "}, headers=admin.headers
        )
        assert suspended.status_code == 200, suspended.text
        assert (suspended.json()["status"], suspended.json()["suspension_reason"]) == ("suspended", "未按期报送年报")
        assert suspended.json()["version"] == 3
        assert suspended.headers["etag"] == '"v3"'
        assert await org_verified_claim(stack, created["email"], created["password"]) is False

        reinstated = await stack.client.post(f"/auth/organizations/{org_id}/reinstate", headers=admin.headers)
        assert reinstated.status_code == 200, reinstated.text
        assert (reinstated.json()["status"], reinstated.json()["suspension_reason"]) == ("verified", None)
        assert reinstated.json()["version"] == 4
        assert await org_verified_claim(stack, created["email"], created["password"]) is True

    async def test_the_tier_parents_verified_org_admin_decides_too(self, stack: Stack, actors: Actors) -> None:
        sub_center = await actors.org_member(kind="sub_center", roles=("org_admin",))
        institution = await actors.org_member(kind="transfer_institution", parent=sub_center)
        response = await stack.client.post(
            f"{org_path(institution)}/suspend", json={"reason": "整改"}, headers=sub_center.headers
        )
        assert response.status_code == 200, response.text
        back = await stack.client.post(f"{org_path(institution)}/reinstate", headers=sub_center.headers)
        assert back.status_code == 200, back.text

    async def test_nobody_else_decides(self, stack: Stack, actors: Actors) -> None:
        admin = await actors.platform_admin()
        sub_center = await actors.org_member(kind="sub_center", roles=("org_admin",))
        institution = await actors.org_member(kind="transfer_institution", parent=sub_center, roles=("org_admin",))
        parent_member = await actors.colleague(sub_center, roles=("member",))
        stranger = await actors.org_member(roles=("org_admin",))
        reader = await actors.service_client(scopes=("auth:directory",), client_id="directory-reader")
        for caller in (institution, parent_member, stranger, reader):
            response = await stack.client.post(
                f"{org_path(institution)}/suspend", json={"reason": "x"}, headers=caller.headers
            )
            assert_problem(response, 403)
        assert (await current(stack, actors, institution.org_id))["status"] == "verified"
        suspended = await stack.client.post(
            f"{org_path(institution)}/suspend", json={"reason": "x"}, headers=admin.headers
        )
        assert suspended.status_code == 200
        # Once suspended it has left the public directory: a stranger no longer learns it exists.
        assert_problem(await stack.client.post(f"{org_path(institution)}/reinstate", headers=stranger.headers), 404)
        for caller in (institution, parent_member, reader):
            assert_problem(await stack.client.post(f"{org_path(institution)}/reinstate", headers=caller.headers), 403)
        assert (await current(stack, actors, institution.org_id))["status"] == "suspended"

    async def test_a_suspended_parent_org_admin_no_longer_decides(self, stack: Stack, actors: Actors) -> None:
        admin = await actors.platform_admin()
        sub_center = await actors.org_member(kind="sub_center", roles=("org_admin",))
        institution = await actors.org_member(kind="transfer_institution", parent=sub_center)
        await stack.client.post(f"{org_path(sub_center)}/suspend", json={"reason": "x"}, headers=admin.headers)
        relogged = await actors.colleague(sub_center, roles=("org_admin",))
        response = await stack.client.post(
            f"{org_path(institution)}/suspend", json={"reason": "x"}, headers=relogged.headers
        )
        assert_problem(response, 403)

    @pytest.mark.parametrize(
        ("start", "action", "status"),
        [
            ("pending", "suspend", 409),
            ("rejected", "suspend", 409),
            ("suspended", "suspend", 409),
            ("verified", "reinstate", 409),
            ("pending", "reinstate", 409),
            ("rejected", "reinstate", 409),
            ("suspended", "verify", 409),
            ("suspended", "reject", 409),
        ],
    )
    async def test_only_from_the_right_status(
        self, stack: Stack, actors: Actors, start: str, action: str, status: int
    ) -> None:
        admin = await actors.platform_admin()
        created = await signup(stack.client)
        org = f"/auth/organizations/{created['organization']['id']}"
        steps = {"pending": [], "verified": ["verify"], "rejected": ["reject"], "suspended": ["verify", "suspend"]}
        for step in steps[start]:
            reply = await stack.client.post(f"{org}/{step}", json={"reason": "r"}, headers=admin.headers)
            assert reply.status_code == 200, reply.text
        before = (await stack.client.get(org, headers=admin.headers)).json()
        response = await stack.client.post(f"{org}/{action}", json={"reason": "r"}, headers=admin.headers)
        assert_problem(response, status)
        assert (await stack.client.get(org, headers=admin.headers)).json() == before

    @pytest.mark.parametrize(
        "body", [{}, {"reason": ""}, {"reason": "   "}, {"reason": "x" * 1001}, {"reason": "x", "y": 1}]
    )
    async def test_suspend_needs_a_reason(self, stack: Stack, actors: Actors, body: dict[str, Any]) -> None:
        admin = await actors.platform_admin()
        own = await actors.org_member()
        response = await stack.client.post(f"{org_path(own)}/suspend", json=body, headers=admin.headers)
        field = "y" if "y" in body else "reason"
        assert_problem(response, 422, field=field)
        assert (await current(stack, actors, own.org_id))["status"] == "verified"

    async def test_without_a_token_is_401_and_unknown_is_404(self, stack: Stack, actors: Actors) -> None:
        admin = await actors.platform_admin()
        own = await actors.org_member()
        assert_problem(await stack.client.post(f"{org_path(own)}/suspend", json={"reason": "x"}), 401)
        assert_problem(await stack.client.post(f"{org_path(own)}/reinstate"), 401)
        unknown = f"/auth/organizations/{UNKNOWN}"
        assert_problem(await stack.client.post(f"{unknown}/suspend", json={"reason": "x"}, headers=admin.headers), 404)
        assert_problem(await stack.client.post(f"{unknown}/reinstate", headers=admin.headers), 404)
        assert_problem(
            await stack.client.post("/auth/organizations/x/reinstate", headers=admin.headers),
            422,
            field="organization_id",
        )

    async def test_a_suspended_organization_leaves_the_public_list(self, stack: Stack, actors: Actors) -> None:
        admin = await actors.platform_admin()
        own = await actors.org_member(roles=("org_admin",))
        stranger = await actors.org_member()
        await stack.client.post(f"{org_path(own)}/suspend", json={"reason": "x"}, headers=admin.headers)
        listed = await stack.client.get("/auth/organizations", params={"limit": 100}, headers=stranger.headers)
        assert str(own.org_id) not in {o["id"] for o in listed.json()["items"]}
        assert (await stack.client.get(org_path(own), headers=own.headers)).json()["status"] == "suspended"
        filtered = await stack.client.get("/auth/organizations", params={"status": "suspended"}, headers=admin.headers)
        assert [o["id"] for o in filtered.json()["items"]] == [str(own.org_id)]


class TestDirectoryListing:
    async def test_a_directory_reader_lists_every_organization_whatever_its_status(
        self, stack: Stack, actors: Actors
    ) -> None:
        admin = await actors.platform_admin()
        verified = await actors.org_member()
        pending = await actors.org_member(verified=False)
        rejected = await actors.org_member(verified=False)
        suspended = await actors.org_member()
        await stack.client.post(f"{org_path(rejected)}/reject", json={"reason": "x"}, headers=admin.headers)
        await stack.client.post(f"{org_path(suspended)}/suspend", json={"reason": "x"}, headers=admin.headers)
        reader = await actors.service_client(scopes=("auth:directory",), client_id="market-rebuild")

        seen: dict[str, dict[str, Any]] = {}
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = await stack.client.get("/auth/organizations", params=params, headers=reader.headers)
            assert page.status_code == 200, page.text
            seen.update({o["id"]: o for o in page.json()["items"]})
            cursor = page.json()["next_cursor"]
            if cursor is None:
                break
        statuses = {seen[str(a.org_id)]["status"] for a in (verified, pending, rejected, suspended)}
        assert statuses == {"verified", "pending", "rejected", "suspended"}
        assert str(admin.org_id) in seen  # the center too
        for organization in seen.values():
            assert organization["version"] >= 1
            assert organization["updated_at"]
        # It may page in steps of 200 (the rebuild's page size), and sees the hidden ones one by one too.
        big = await stack.client.get("/auth/organizations", params={"limit": 200}, headers=reader.headers)
        assert big.status_code == 200
        assert len(big.json()["items"]) == len(seen)
        assert (await stack.client.get(org_path(pending), headers=reader.headers)).status_code == 200

    async def test_other_callers_are_unchanged(self, stack: Stack, actors: Actors) -> None:
        hidden = await actors.org_member(verified=False)
        visible = await actors.org_member()
        indexer = await actors.service_client(scopes=("market:read",), client_id="other-service")
        member = await actors.org_member()
        for caller in (indexer, member):
            listed = await stack.client.get("/auth/organizations", params={"limit": 100}, headers=caller.headers)
            ids = {o["id"] for o in listed.json()["items"]}
            assert str(visible.org_id) in ids
            assert str(hidden.org_id) not in ids
            assert_problem(
                await stack.client.get("/auth/organizations", params={"limit": 200}, headers=caller.headers),
                422,
                field="limit",
            )
        reader = await actors.service_client(scopes=("auth:directory",), client_id="market-rebuild")
        assert_problem(
            await stack.client.get("/auth/organizations", params={"limit": 501}, headers=reader.headers),
            422,
            field="limit",
        )

    async def test_only_platform_admins_grant_the_directory_scopes(self, stack: Stack, actors: Actors) -> None:
        org_admin = await actors.org_member(roles=("org_admin",))
        for scope in ("auth:directory", "market:directory"):
            response = await stack.client.post(
                "/auth/clients", json={"name": "x", "scopes": [scope]}, headers=org_admin.headers
            )
            assert_problem(response, 422, field="scopes")
