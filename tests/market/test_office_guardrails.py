"""Registration offices by hand (platform admins): only verified registration-office organizations of market's
directory, in their own region, with clean names, every action in the office's audit history."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import pytest

from services.market.directory import service as directory_service
from services.market.directory.repository import DirectoryRepository
from tests.conftest import Stack
from tests.support.actors import Actor, Actors
from tests.support.problems import assert_problem

OFFICES = "/market/offices"


async def _verified_in_directory_only(stack: Stack, org_id: uuid.UUID) -> None:
    """Mark an organization verified in market's directory without the office row the feed would add (as in a
    directory filled before offices followed it): the case a hand registration repairs."""
    async with stack.service_app("market").state.sessionmaker() as session, session.begin():
        card = await directory_service.get(session=session, org_id=org_id)
        assert card is not None
        newer = dataclasses.replace(card, status="verified", version=card.version + 1)
        assert await DirectoryRepository(session).upsert_if_newer(newer)


async def _pending_office(actors: Actors, region_code: str) -> Actor:
    return await actors.org_member(
        kind="registration_office", roles=("registrar", "member"), region_code=region_code, verified=False
    )


async def _history(stack: Stack, admin: Actor, office_id: uuid.UUID | None) -> list[dict[str, Any]]:
    response = await stack.client.get(f"{OFFICES}/{office_id}/events", headers=admin.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


class TestRegisterOffice:
    async def test_only_a_verified_office_of_the_directory_in_its_region(self, stack: Stack, actors: Actors) -> None:
        admin = await actors.platform_admin()
        reg = await _pending_office(actors, "510700")
        body = {"id": str(reg.org_id)}
        refused = assert_problem(await stack.client.post(OFFICES, json=body, headers=admin.headers), 422, "id")
        assert "not verified" in refused["detail"]

        await _verified_in_directory_only(stack, reg.org_id)  # type: ignore[arg-type]
        other_region = {**body, "region_code": "510100"}
        assert_problem(await stack.client.post(OFFICES, json=other_region, headers=admin.headers), 422, "region_code")
        assert_problem(await stack.client.get(f"{OFFICES}/{reg.org_id}", headers=admin.headers), 404)  # nothing stored

        created = await stack.client.post(OFFICES, json={**body, "region_code": "510700"}, headers=admin.headers)
        assert created.status_code == 201, created.text
        assert (created.json()["name"], created.json()["region_code"]) == (reg.org_name, "510700")
        (event,) = await _history(stack, admin, reg.org_id)
        assert (event["entity_kind"], event["action"], event["to_status"]) == ("office", "created", "active")
        assert event["actor_subject"] == admin.subject
        assert event["details"] == {"name": reg.org_name, "region_code": "510700"}
        assert_problem(await stack.client.post(OFFICES, json=body, headers=admin.headers), 409)

    async def test_unknown_ids_and_other_kinds_are_422(self, stack: Stack, actors: Actors) -> None:
        admin = await actors.platform_admin()
        university = await actors.org_member(kind="university")
        for office_id in (str(uuid.uuid4()), str(university.org_id)):
            response = await stack.client.post(OFFICES, json={"id": office_id}, headers=admin.headers)
            assert_problem(response, 422, "id")
        listed = (await stack.client.get(OFFICES, headers=admin.headers)).json()["items"]
        assert str(university.org_id) not in {o["id"] for o in listed}

    @pytest.mark.parametrize("name", ["登记处\u0000", "登记处\u001b[31m", "a\u007fb", "a\u0085b", "a\nb", "   "])
    async def test_names_with_control_characters_are_422(self, stack: Stack, actors: Actors, name: str) -> None:
        admin = await actors.platform_admin()
        reg = await _pending_office(actors, "510800")
        await _verified_in_directory_only(stack, reg.org_id)  # type: ignore[arg-type]
        body = {"id": str(reg.org_id), "name": name}
        assert_problem(await stack.client.post(OFFICES, json=body, headers=admin.headers), 422, "name")

    async def test_registrars_and_members_may_not(self, stack: Stack, actors: Actors) -> None:
        reg = await _pending_office(actors, "510900")
        await _verified_in_directory_only(stack, reg.org_id)  # type: ignore[arg-type]
        assert_problem(await stack.client.post(OFFICES, json={"id": str(reg.org_id)}, headers=reg.headers), 403)


class TestChangeOffice:
    async def test_never_re_regioned_and_every_edit_audited(self, stack: Stack, actors: Actors) -> None:
        admin = await actors.platform_admin()
        reg = await actors.org_member(kind="registration_office", roles=("registrar", "member"), region_code="511300")
        url = f"{OFFICES}/{reg.org_id}"
        assert (await stack.client.get(url, headers=admin.headers)).json()["region_code"] == "511300"

        moved = await stack.client.patch(url, json={"region_code": "510100"}, headers=admin.headers)
        assert_problem(moved, 422, "region_code")
        assert_problem(await stack.client.patch(url, json={"name": "南充\u0000"}, headers=admin.headers), 422, "name")
        assert_problem(await stack.client.patch(url, json={"active": 0}, headers=admin.headers), 422, "active")
        assert (await stack.client.get(url, headers=admin.headers)).json()["region_code"] == "511300"
        assert await _history(stack, admin, reg.org_id) == []  # refused changes leave no trace

        renamed = await stack.client.patch(url, json={"name": "南充市技术合同登记处"}, headers=admin.headers)
        assert renamed.status_code == 200, renamed.text
        same_region = await stack.client.patch(url, json={"region_code": "511300"}, headers=admin.headers)
        assert same_region.status_code == 200, same_region.text  # no change, no event
        off = await stack.client.patch(url, json={"active": False}, headers=admin.headers)
        assert off.json()["active"] is False

        events = await _history(stack, admin, reg.org_id)
        assert [(e["action"], e["from_status"], e["to_status"]) for e in events] == [
            ("updated", "active", "active"),
            ("updated", "active", "inactive"),
        ]
        assert events[0]["details"] == {"changes": {"name": [reg.org_name, "南充市技术合同登记处"]}}
        assert events[1]["details"] == {"changes": {"active": [True, False]}}
        assert {e["actor_subject"] for e in events} == {admin.subject}

    async def test_a_suspended_organization_can_be_deactivated_only(self, stack: Stack, actors: Actors) -> None:
        admin = await actors.platform_admin()
        reg = await actors.org_member(kind="registration_office", roles=("registrar", "member"), region_code="511400")
        suspended = await stack.client.post(
            f"/auth/organizations/{reg.org_id}/suspend", json={"reason": "audit"}, headers=admin.headers
        )
        assert suspended.status_code == 200, suspended.text
        await actors.sync_directory(reg.org_id)  # type: ignore[arg-type]
        url = f"{OFFICES}/{reg.org_id}"
        assert_problem(await stack.client.patch(url, json={"active": True}, headers=admin.headers), 422, "office_id")
        assert_problem(await stack.client.patch(url, json={"name": "x"}, headers=admin.headers), 422, "office_id")
        assert (await stack.client.patch(url, json={"active": False}, headers=admin.headers)).status_code == 200

    async def test_events_are_for_platform_admins(self, stack: Stack, actors: Actors) -> None:
        reg = await actors.org_member(kind="registration_office", roles=("registrar", "member"), region_code="511500")
        assert_problem(await stack.client.get(f"{OFFICES}/{reg.org_id}/events", headers=reg.headers), 403)
        admin = await actors.platform_admin()
        unknown = await stack.client.get(f"{OFFICES}/{uuid.uuid4()}/events", headers=admin.headers)
        assert_problem(unknown, 404)
        history = await stack.client.get(f"{OFFICES}/{reg.org_id}/history", headers=admin.headers)
        events = await stack.client.get(f"{OFFICES}/{reg.org_id}/events", headers=admin.headers)
        assert history.status_code == events.status_code == 200, history.text
        assert history.json() == events.json()  # /history: the deprecated alias of /events
