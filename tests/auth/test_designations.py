"""Demonstration institutions (示范机构): PUT / DELETE /auth/organizations/{id}/designation — who may, what is valid,
the audit row, the ETag, and the card that reaches market's directory."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from services.market.directory.schemas import Designation
from shared.clock import today_in_china
from tests.auth.helpers import audit_log
from tests.conftest import Stack
from tests.market.directory.factories import stored
from tests.support.actors import Actor, Actors
from tests.support.problems import assert_problem


def url(org_id: object) -> str:
    return f"/auth/organizations/{org_id}/designation"


async def institution(actors: Actors, **kwargs: Any) -> Actor:
    return await actors.org_member(kind="transfer_institution", **kwargs)


class TestDesignate:
    async def test_platform_admin_designates_revokes_and_designates_again(self, stack: Stack, actors: Actors) -> None:
        admin = await actors.platform_admin()
        org = await institution(actors)
        before = await stack.client.get(f"/auth/organizations/{org.org_id}", headers=admin.headers)
        assert before.json()["designation"] is None
        version = before.json()["version"]

        response = await stack.client.put(
            url(org.org_id), json={"level": "national", "year": 2021}, headers=admin.headers
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["designation"] == {"level": "national", "year": 2021, "revoked": False, "revoked_at": None}
        assert body["version"] == version + 1
        assert response.headers["etag"] == f'"v{version + 1}"'
        shown = await stack.client.get(f"/auth/organizations/{org.org_id}", headers=org.headers)
        assert shown.json()["designation"]["level"] == "national"

        # The same designation again changes nothing: no new version.
        again = await stack.client.put(url(org.org_id), json={"level": "national", "year": 2021}, headers=admin.headers)
        assert again.status_code == 200
        assert again.json()["version"] == version + 1

        revoked = await stack.client.delete(url(org.org_id), headers=admin.headers)
        assert revoked.status_code == 200, revoked.text
        assert revoked.json()["designation"]["revoked"] is True
        assert revoked.json()["designation"]["revoked_at"] is not None
        assert revoked.json()["designation"]["level"] == "national"
        assert revoked.json()["version"] == version + 2
        assert_problem(await stack.client.delete(url(org.org_id), headers=admin.headers), 409)

        provincial = await stack.client.put(
            url(org.org_id), json={"level": "provincial", "year": 2023}, headers=admin.headers
        )
        assert provincial.json()["designation"] == {
            "level": "provincial",
            "year": 2023,
            "revoked": False,
            "revoked_at": None,
        }
        actions = [(a, s, t) for _, a, s, t in await audit_log(stack) if s == str(org.org_id)]
        assert ("organization.designate", str(org.org_id), "national 2021") in actions
        assert ("organization.revoke_designation", str(org.org_id), "national 2021 revoked") in actions
        assert ("organization.designate", str(org.org_id), "provincial 2023") in actions
        assert [a for a, _, _ in actions].count("organization.designate") == 2  # the no-op PUT is not audited

    async def test_if_match(self, stack: Stack, actors: Actors) -> None:
        admin = await actors.platform_admin()
        org = await institution(actors)
        etag = (await stack.client.get(f"/auth/organizations/{org.org_id}", headers=admin.headers)).headers["etag"]
        body = {"level": "provincial", "year": 2022}
        stale = await stack.client.put(url(org.org_id), json=body, headers={**admin.headers, "If-Match": '"v999"'})
        assert_problem(stale, 412)
        fresh = await stack.client.put(url(org.org_id), json=body, headers={**admin.headers, "If-Match": etag})
        assert fresh.status_code == 200, fresh.text
        assert_problem(await stack.client.delete(url(org.org_id), headers={**admin.headers, "If-Match": etag}), 412)

    async def test_center_admin_may_designate(self, stack: Stack, actors: Actors) -> None:
        center_admin = await actors.org_member(kind="center", roles=("org_admin",))
        org = await institution(actors)
        response = await stack.client.put(
            url(org.org_id), json={"level": "provincial", "year": 2024}, headers=center_admin.headers
        )
        assert response.status_code == 200, response.text
        assert (await stack.client.delete(url(org.org_id), headers=center_admin.headers)).status_code == 200

    async def test_others_may_not(self, stack: Stack, actors: Actors) -> None:
        sub_center = await actors.org_member(kind="sub_center")
        org = await institution(actors, parent=sub_center)
        center_member = await actors.org_member(kind="center", roles=("member",))
        body = {"level": "provincial", "year": 2024}
        for caller in (org, sub_center, center_member):
            assert_problem(await stack.client.put(url(org.org_id), json=body, headers=caller.headers), 403)
            assert_problem(await stack.client.delete(url(org.org_id), headers=caller.headers), 403)
        assert_problem(await stack.client.put(url(org.org_id), json=body), 401)
        admin = await actors.platform_admin()
        shown = await stack.client.get(f"/auth/organizations/{org.org_id}", headers=admin.headers)
        assert shown.json()["designation"] is None

    async def test_unknown_organization_is_404(self, stack: Stack, actors: Actors) -> None:
        admin = await actors.platform_admin()
        missing = uuid.uuid4()
        body = {"level": "national", "year": 2021}
        assert_problem(await stack.client.put(url(missing), json=body, headers=admin.headers), 404)
        assert_problem(await stack.client.delete(url(missing), headers=admin.headers), 404)

    @pytest.mark.parametrize("kind", ["university", "enterprise", "sub_center", "registration_office"])
    async def test_only_transfer_institutions(self, stack: Stack, actors: Actors, kind: str) -> None:
        admin = await actors.platform_admin()
        org = await actors.org_member(kind=kind)
        response = await stack.client.put(
            url(org.org_id), json={"level": "national", "year": 2021}, headers=admin.headers
        )
        body = assert_problem(response, 422, field="organization_id")
        assert "transfer_institution" in body["errors"][0]["message"]
        assert_problem(await stack.client.delete(url(org.org_id), headers=admin.headers), 422, field="organization_id")

    async def test_revoking_nothing_is_409(self, stack: Stack, actors: Actors) -> None:
        admin = await actors.platform_admin()
        org = await institution(actors)
        body = assert_problem(await stack.client.delete(url(org.org_id), headers=admin.headers), 409)
        assert body["type"] == "urn:techmarket:problem:not-designated"

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"level": "municipal", "year": 2021}, "level"),
            ({"year": 2021}, "level"),
            ({"level": "national"}, "year"),
            ({"level": "national", "year": 1999}, "year"),
            ({"level": "national", "year": "soon"}, "year"),
            ({"level": "national", "year": 2021, "revoked": False}, "revoked"),
        ],
    )
    async def test_bad_input_names_the_field_and_stores_nothing(
        self, stack: Stack, actors: Actors, body: dict[str, Any], field: str
    ) -> None:
        admin = await actors.platform_admin()
        org = await institution(actors)
        assert_problem(await stack.client.put(url(org.org_id), json=body, headers=admin.headers), 422, field=field)
        shown = await stack.client.get(f"/auth/organizations/{org.org_id}", headers=admin.headers)
        assert shown.json()["designation"] is None

    async def test_year_up_to_next_year(self, stack: Stack, actors: Actors) -> None:
        admin = await actors.platform_admin()
        org = await institution(actors)
        next_year = today_in_china().year + 1
        too_late = {"level": "national", "year": next_year + 1}
        assert_problem(await stack.client.put(url(org.org_id), json=too_late, headers=admin.headers), 422, field="year")
        ok = await stack.client.put(
            url(org.org_id), json={"level": "national", "year": next_year}, headers=admin.headers
        )
        assert ok.status_code == 200, ok.text


class TestMarketDirectory:
    async def test_designation_reaches_the_directory(self, stack: Stack, actors: Actors) -> None:
        admin = await actors.platform_admin()
        org = await institution(actors)
        response = await stack.client.put(
            url(org.org_id), json={"level": "national", "year": 2022}, headers=admin.headers
        )
        assert response.status_code == 200
        await actors.sync_directory()
        card = await stored(stack, str(org.org_id))
        assert card is not None
        assert card.designation == Designation(level="national", year=2022, revoked=False)
        assert card.version == response.json()["version"]

        revoked = await stack.client.delete(url(org.org_id), headers=admin.headers)
        await actors.sync_directory()
        card = await stored(stack, str(org.org_id))
        assert card is not None
        assert card.designation == Designation(level="national", year=2022, revoked=True)
        assert card.version == revoked.json()["version"]
