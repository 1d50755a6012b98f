"""The organization feed: every change of an organization bumps its version and writes exactly one auth_outbox
event, in the change's transaction — none when the change is refused or rolled back."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from services.auth.outbox.models import AuthOutboxEvent
from shared.outbox.repository import OutboxRepository
from tests.auth.helpers import ORGANIZATION_FEED_FIELDS, signup
from tests.conftest import Stack
from tests.support.actors import Actors
from tests.support.codes import credit_code
from tests.support.problems import assert_problem


async def events_of(stack: Stack, org_id: object) -> list[AuthOutboxEvent]:
    async with stack.service_app("auth").state.sessionmaker() as session:
        return await OutboxRepository(session, AuthOutboxEvent).list_for_entity(
            entity_kind="organization", entity_id=uuid.UUID(str(org_id))
        )


def summary(events: list[AuthOutboxEvent]) -> list[tuple[str, int, str]]:
    return [(e.event_type, e.version, e.payload["status"]) for e in events]


async def read(stack: Stack, actors: Actors, org_id: object) -> dict[str, Any]:
    admin = await actors.platform_admin()
    body: dict[str, Any] = (await stack.client.get(f"/auth/organizations/{org_id}", headers=admin.headers)).json()
    return body


class TestOneEventPerChange:
    async def test_signup_then_verify_update_suspend_reinstate(self, stack: Stack, actors: Actors) -> None:
        admin = await actors.platform_admin()
        sub_center = await actors.org_member(kind="sub_center")
        created = await signup(
            stack.client, kind="transfer_institution", parent_id=str(sub_center.org_id), name="成都技术转移中心"
        )
        organization = created["organization"]
        org = f"/auth/organizations/{organization['id']}"
        assert organization["version"] == 1

        [event] = await events_of(stack, organization["id"])
        assert (event.entity_kind, event.op, event.event_type, event.version) == (
            "organization",
            "upsert",
            "organization.created",
            1,
        )
        assert set(event.payload) == ORGANIZATION_FEED_FIELDS
        assert event.payload == {
            "id": organization["id"],
            "name": "成都技术转移中心",
            "kind": "transfer_institution",
            "credit_code": organization["credit_code"],
            "region_code": organization["region_code"],
            "parent_id": str(sub_center.org_id),
            "path": organization["path"],
            "status": "pending",
            "designation": None,
            "broker_certificates_valid_until": [],
            "version": 1,
            "updated_at": event.payload["updated_at"],
        }
        assert dt.datetime.fromisoformat(event.payload["updated_at"]) == dt.datetime.fromisoformat(
            organization["updated_at"]
        )

        for response in (
            await stack.client.post(f"{org}/verify", headers=admin.headers),
            await stack.client.patch(
                org, json={"name": "成都市技术转移中心", "region_code": "510104"}, headers=admin.headers
            ),
            await stack.client.post(f"{org}/suspend", json={"reason": "整改"}, headers=admin.headers),
            await stack.client.post(f"{org}/reinstate", headers=admin.headers),
        ):
            assert response.status_code == 200, response.text

        events = await events_of(stack, organization["id"])
        assert summary(events) == [
            ("organization.created", 1, "pending"),
            ("organization.verified", 2, "verified"),
            ("organization.updated", 3, "verified"),
            ("organization.suspended", 4, "suspended"),
            ("organization.reinstated", 5, "verified"),
        ]
        assert all(e.payload["version"] == e.version for e in events)
        assert (events[2].payload["name"], events[2].payload["region_code"]) == ("成都市技术转移中心", "510104")
        assert events[1].payload["name"] == "成都技术转移中心"  # each event carries the state at its version
        final = await read(stack, actors, organization["id"])
        assert final["version"] == 5
        assert dt.datetime.fromisoformat(events[-1].payload["updated_at"]) == dt.datetime.fromisoformat(
            final["updated_at"]
        )
        assert all(e.delivered_at is None and e.attempts == 0 for e in events)

    async def test_reject(self, stack: Stack, actors: Actors) -> None:
        admin = await actors.platform_admin()
        created = await signup(stack.client)
        org_id = created["organization"]["id"]
        await stack.client.post(
            f"/auth/organizations/{org_id}/reject", json={"reason": "材料不全"}, headers=admin.headers
        )
        assert summary(await events_of(stack, org_id)) == [
            ("organization.created", 1, "pending"),
            ("organization.rejected", 2, "rejected"),
        ]

    async def test_the_bootstrap_center_is_created_verified(self, stack: Stack, actors: Actors) -> None:
        admin = await actors.platform_admin()
        [event] = await events_of(stack, admin.org_id)
        assert (event.event_type, event.version) == ("organization.created", 1)
        assert event.payload["status"] == "verified"
        assert event.payload["kind"] == "center"
        assert (event.payload["credit_code"], event.payload["parent_id"]) == (None, None)

    async def test_the_center_renamed_by_its_platform_admin(self, stack: Stack, actors: Actors) -> None:
        admin = await actors.platform_admin()
        response = await stack.client.patch(
            f"/auth/organizations/{admin.org_id}", json={"name": "国家技术转移西南中心（四川）"}, headers=admin.headers
        )
        assert response.status_code == 200
        assert summary(await events_of(stack, admin.org_id))[-1] == ("organization.updated", 2, "verified")


class TestNoEventWithoutAChange:
    async def test_a_taken_credit_code_rolls_back_with_no_event(self, stack: Stack, actors: Actors) -> None:
        admin = await actors.platform_admin()
        first = await actors.org_member()
        second = await actors.org_member()
        response = await stack.client.patch(
            f"/auth/organizations/{second.org_id}",
            json={"name": "新名字", "credit_code": first.credit_code},
            headers=admin.headers,
        )
        assert_problem(response, 409, field="credit_code")
        assert summary(await events_of(stack, second.org_id)) == [
            ("organization.created", 1, "pending"),
            ("organization.verified", 2, "verified"),
        ]
        after = await read(stack, actors, second.org_id)
        assert (after["name"], after["version"]) == (second.org_name, 2)

    async def test_refused_changes_write_nothing(self, stack: Stack, actors: Actors) -> None:
        admin = await actors.platform_admin()
        own = await actors.org_member(roles=("org_admin",))
        org = f"/auth/organizations/{own.org_id}"
        refused = [
            await stack.client.patch(org, json={"credit_code": credit_code()}, headers=own.headers),  # 403
            await stack.client.patch(org, json={"name": "x"}, headers={**own.headers, "If-Match": '"v1"'}),  # 412
            await stack.client.patch(org, json={"region_code": "000000"}, headers=own.headers),  # 422
            await stack.client.post(f"{org}/verify", headers=admin.headers),  # 409
            await stack.client.post(f"{org}/reinstate", headers=admin.headers),  # 409
            await stack.client.post(f"{org}/suspend", json={}, headers=admin.headers),  # 422
        ]
        assert [r.status_code for r in refused] == [403, 412, 422, 409, 409, 422]
        assert len(await events_of(stack, own.org_id)) == 2
        assert (await read(stack, actors, own.org_id))["version"] == 2

    async def test_a_patch_that_changes_nothing_writes_nothing(self, stack: Stack, actors: Actors) -> None:
        own = await actors.org_member(roles=("org_admin",), name="同名大学")
        org = f"/auth/organizations/{own.org_id}"
        for body in ({}, {"name": "同名大学"}, {"name": " 同名大学 ", "region_code": own.region_code}):
            response = await stack.client.patch(org, json=body, headers=own.headers)
            assert response.status_code == 200, response.text
            assert response.json()["version"] == 2
            assert response.headers["etag"] == '"v2"'
        assert len(await events_of(stack, own.org_id)) == 2

    async def test_a_refused_signup_writes_nothing(self, stack: Stack, actors: Actors) -> None:
        taken = await actors.org_member()
        async with stack.service_app("auth").state.sessionmaker() as session:
            before = await OutboxRepository(session, AuthOutboxEvent).count_undelivered()
        response = await stack.client.post(
            "/auth/signup",
            json={
                "organization": {
                    "name": "重复",
                    "kind": "enterprise",
                    "credit_code": taken.credit_code,
                    "region_code": "510100",
                },
                "user": {"email": "dup@example.cn", "password": "correct horse battery", "name": "重复"},
            },
        )
        assert_problem(response, 409, field="organization.credit_code")
        async with stack.service_app("auth").state.sessionmaker() as session:
            assert await OutboxRepository(session, AuthOutboxEvent).count_undelivered() == before
