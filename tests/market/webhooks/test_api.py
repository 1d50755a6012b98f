"""The /market/webhooks endpoints (both backends): who may do what, validation 422s, the secret shown once,
If-Match, pagination."""

from __future__ import annotations

import base64
from typing import Any

import httpx

from tests.market.webhooks.conftest import URL, Hooks
from tests.support.problems import assert_problem, error_fields


def secrets_in(response: httpx.Response) -> bool:
    return "secret" in response.text.replace("previous_secret_expires_at", "")


class TestCreate:
    async def test_created_with_a_secret_shown_once(self, hooks: Hooks) -> None:
        body = {
            "url": hooks.receiver.url,
            "event_types": ["proposal.received", "contract.registered", "proposal.received"],
            "description": "ERP 对接",
        }
        response = await hooks.api.post(URL, json=body, headers=hooks.admin.headers)
        assert response.status_code == 201, response.text
        created = response.json()
        assert response.headers["Location"] == f"/market/webhooks/{created['id']}"
        assert created["event_types"] == ["proposal.received", "contract.registered"]
        assert (created["enabled"], created["org_id"], created["description"]) == (
            True,
            str(hooks.admin.org_id),
            "ERP 对接",
        )
        secret = created["secret"]
        assert secret.startswith("whsec_")
        assert 24 <= len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) <= 32
        # Never again: not in the item, the list, a PATCH answer nor the deliveries.
        again = [
            await hooks.get(created["id"]),
            await hooks.api.get(URL, headers=hooks.admin.headers),
            await hooks.patch(created["id"], {"description": "改"}),
            await hooks.api.get(f"{URL}/{created['id']}/deliveries", headers=hooks.admin.headers),
            await hooks.get(created["id"], hooks.world.admin),
        ]
        for answer in again:
            assert answer.status_code == 200, answer.text
            assert secret not in answer.text
            assert not secrets_in(answer)

    async def test_an_unknown_event_type_is_a_422_naming_its_index(self, hooks: Hooks) -> None:
        body = {"url": hooks.receiver.url, "event_types": ["proposal.received", "proposal.exploded"]}
        problem = assert_problem(await hooks.api.post(URL, json=body, headers=hooks.admin.headers), 422)
        assert error_fields(problem) == ["event_types.1"]

    async def test_bad_urls_and_bodies_are_422s_naming_the_field(self, hooks: Hooks) -> None:
        cases: list[tuple[dict[str, Any], str]] = [
            ({"url": "http://example.com/hook"}, "url"),  # http only to loopback outside production
            ({"url": "http://10.0.0.8/hook"}, "url"),
            ({"url": "https://user:pw@example.com/hook"}, "url"),
            ({"url": "ftp://example.com/hook"}, "url"),
            ({"url": "not a url"}, "url"),
            ({"url": "https://example.com/" + "a" * 2100}, "url"),
            ({"event_types": []}, "event_types"),
            ({"event_types": "proposal.received"}, "event_types"),
            ({"description": "x" * 301}, "description"),
            ({"secret": "whsec_mine"}, "secret"),
        ]
        for change, field in cases:
            body = {"url": hooks.receiver.url, "event_types": ["proposal.received"], **change}
            response = await hooks.api.post(URL, json=body, headers=hooks.admin.headers)
            problem = assert_problem(response, 422)
            assert field in error_fields(problem), (change, problem)
        listed = await hooks.api.get(URL, headers=hooks.admin.headers)
        assert listed.json()["items"] == []  # nothing stored halfway

    async def test_https_anywhere_outside_production(self, hooks: Hooks) -> None:
        created = await hooks.create(url="https://hooks.example.com:8443/techmarket")
        assert created["url"] == "https://hooks.example.com:8443/techmarket"

    async def test_an_organization_has_at_most_20_endpoints(self, hooks: Hooks) -> None:
        made = [(await hooks.create())["id"] for _ in range(20)]
        body = {"url": hooks.receiver.url, "event_types": ["proposal.received"]}
        assert_problem(await hooks.api.post(URL, json=body, headers=hooks.admin.headers), 409)
        deleted = await hooks.api.delete(f"{URL}/{made[0]}", headers=hooks.admin.headers)
        assert deleted.status_code == 204
        assert (await hooks.api.post(URL, json=body, headers=hooks.admin.headers)).status_code == 201

    async def test_only_an_org_admin_creates(self, hooks: Hooks) -> None:
        body = {"url": hooks.receiver.url, "event_types": ["proposal.received"]}
        for actor in (hooks.world.seller, hooks.world.broker_member):  # members without org_admin
            assert_problem(await hooks.api.post(URL, json=body, headers=actor.headers), 403)
        assert_problem(await hooks.api.post(URL, json=body), 401)


class TestAccess:
    async def test_other_organizations_get_404_members_403_platform_admin_reads(self, hooks: Hooks) -> None:
        hook = await hooks.create()
        world = hooks.world
        other_admin = await world.actors.colleague(world.buyer, roles=("org_admin", "member"))
        item = f"{URL}/{hook['id']}"
        stale = {"If-Match": '"v1"'}
        calls = [
            ("GET", item, None),
            ("PATCH", item, {"description": "x"}),
            ("DELETE", item, None),
            ("POST", f"{item}/rotate-secret", None),
            ("POST", f"{item}/test", None),
            ("GET", f"{item}/deliveries", None),
        ]
        for method, path, body in calls:
            outside = await world.client.request(method, path, json=body, headers={**other_admin.headers, **stale})
            assert_problem(outside, 404)
            member = await world.client.request(method, path, json=body, headers={**world.seller.headers, **stale})
            assert_problem(member, 403)
            platform = await world.client.request(method, path, json=body, headers={**world.admin.headers, **stale})
            if method == "GET":
                assert platform.status_code == 200, platform.text
            else:
                assert_problem(platform, 403)
        assert (await hooks.get(hook["id"])).status_code == 200  # still there, unchanged
        assert (await hooks.get(hook["id"])).json()["version"] == 1
        # The list is the caller's organization's only.
        other_list = await world.client.get(URL, headers=other_admin.headers)
        assert other_list.json()["items"] == []
        assert_problem(await world.client.get(URL, headers=world.seller.headers), 403)

    async def test_list_is_cursor_paginated(self, hooks: Hooks) -> None:
        made = [(await hooks.create(description=f"#{i}"))["id"] for i in range(3)]
        first = await hooks.api.get(URL, params={"limit": "2"}, headers=hooks.admin.headers)
        assert [w["id"] for w in first.json()["items"]] == made[:2]
        second = await hooks.api.get(
            URL, params={"limit": "2", "cursor": first.json()["next_cursor"]}, headers=hooks.admin.headers
        )
        assert [w["id"] for w in second.json()["items"]] == made[2:]
        assert second.json()["next_cursor"] is None
        bad = await hooks.api.get(URL, params={"cursor": "bm90LWEtY3Vyc29y"}, headers=hooks.admin.headers)
        assert error_fields(assert_problem(bad, 422)) == ["cursor"]


class TestUpdate:
    async def test_patch_needs_if_match_and_changes_only_what_is_sent(self, hooks: Hooks) -> None:
        hook = await hooks.create(description="原")
        path = f"{URL}/{hook['id']}"
        assert_problem(await hooks.api.patch(path, json={"description": "x"}, headers=hooks.admin.headers), 428)
        stale = {**hooks.admin.headers, "If-Match": '"v9"'}
        assert_problem(await hooks.api.patch(path, json={"description": "x"}, headers=stale), 412)
        response = await hooks.patch(hook["id"], {"event_types": ["contract.rejected"]})
        assert response.status_code == 200, response.text
        changed = response.json()
        assert changed["event_types"] == ["contract.rejected"]
        assert (changed["description"], changed["url"], changed["version"]) == ("原", hook["url"], 2)
        assert response.headers["ETag"] == '"v2"'

    async def test_patch_validates_like_create(self, hooks: Hooks) -> None:
        hook = await hooks.create()
        for body, field in [
            ({"url": "http://example.com/"}, "url"),
            ({"url": None}, "url"),
            ({"event_types": ["nope"]}, "event_types.0"),
            ({"enabled": "yes"}, "enabled"),
            ({"enabled": None}, "enabled"),
            ({"org_id": str(hooks.world.buyer.org_id)}, "org_id"),
        ]:
            response = await hooks.patch(hook["id"], body)
            assert field in error_fields(assert_problem(response, 422)), (body, response.text)
        assert (await hooks.get(hook["id"])).json()["version"] == 1

    async def test_disable_then_re_enable(self, hooks: Hooks) -> None:
        hook = await hooks.create()
        off = (await hooks.patch(hook["id"], {"enabled": False})).json()
        assert off["enabled"] is False
        assert off["disabled_reason"] == "disabled by an org admin"
        on = (await hooks.patch(hook["id"], {"enabled": True})).json()
        assert (on["enabled"], on["disabled_at"], on["disabled_reason"]) == (True, None, None)

    async def test_rotation_shows_the_new_secret_once_and_the_expiry(self, hooks: Hooks) -> None:
        hook = await hooks.create()
        response = await hooks.api.post(f"{URL}/{hook['id']}/rotate-secret", headers=hooks.admin.headers)
        assert response.status_code == 200, response.text
        rotated = response.json()
        shown = (await hooks.get(hook["id"])).json()
        assert shown["previous_secret_expires_at"] == rotated["previous_secret_expires_at"]
        assert rotated["secret"] not in (await hooks.get(hook["id"])).text


class TestTestEvent:
    async def test_202_with_a_delivery_listed_as_pending(self, hooks: Hooks) -> None:
        hook = await hooks.create()
        response = await hooks.api.post(f"{URL}/{hook['id']}/test", headers=hooks.admin.headers)
        assert response.status_code == 202, response.text
        [delivery] = await hooks.deliveries(hook["id"])
        assert (delivery["id"], delivery["event_type"], delivery["status"], delivery["attempts"]) == (
            response.json()["delivery_id"],
            "webhook.test",
            "pending",
            [],
        )
