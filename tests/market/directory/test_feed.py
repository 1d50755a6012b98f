"""POST /market/directory/organizations (auth's feed) and GET .../{id}, and what an applied change does to offices,
listings and search.

Everything runs on the full embedded stack: real auth tokens, market's database, the market→search relay drained
by hand and the embedded search engine answering queries.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from services.market.listings import service as listings_service
from tests.conftest import Stack
from tests.market.contracts.factories import payload, seller, submit
from tests.market.directory.factories import (
    auth_organization,
    document,
    feed,
    outbox_of,
    stored,
    unsynced_member,
)
from tests.market.helpers import achievement_body, create_listing, demand_body, transition
from tests.support.actors import Actor, Actors
from tests.support.problems import assert_problem, error_fields

FEED_URL = "/market/directory/organizations"


async def published(stack: Stack, actor: Actor, kind: str = "achievements", **overrides: Any) -> dict[str, Any]:
    created = await create_listing(stack, actor, kind, **overrides)
    response = await transition(stack, actor, kind, created["id"], "publish")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def next_version(stack: Stack, org_id: uuid.UUID | str) -> int:
    card = await stored(stack, org_id)
    assert card is not None
    return card.version + 1


async def drain(stack: Stack) -> int:
    delivered: int = await stack.service_app("market").state.relay.drain()
    return delivered


async def search_hits(stack: Stack, kind: str, q: str) -> list[dict[str, Any]]:
    response = await stack.client.get(f"/search/{kind}", params={"q": q})
    assert response.status_code == 200, response.text
    hits: list[dict[str, Any]] = response.json()["hits"]
    return hits


class TestEndpoint:
    async def test_needs_a_token_with_the_directory_scope(self, stack: Stack, actors: Actors) -> None:
        org = await auth_organization(stack, actors, (await actors.org_member()).org_id)  # type: ignore[arg-type]
        body = {"documents": [document(org, version=10_000, name="改名后的大学")]}
        assert_problem(await stack.client.post(FEED_URL, json=body), 401)
        ingest = await actors.service_client(scopes=["search:ingest"], client_id="not-the-relay")
        assert_problem(await stack.client.post(FEED_URL, json=body, headers=ingest.headers), 403)
        admin = await actors.platform_admin()
        assert_problem(await stack.client.post(FEED_URL, json=body, headers=admin.headers), 403)
        assert (await stored(stack, org["id"])).name == org["name"]  # type: ignore[union-attr]
        assert await feed(stack, actors, *body["documents"]) == {"applied": 1, "stale": 0}
        assert (await stored(stack, org["id"])).name == "改名后的大学"  # type: ignore[union-attr]

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"fields": {"name": None}}, "documents.1.fields.name"),
            ({"fields": {"name": ""}}, "documents.1.fields.name"),
            ({"fields": {"status": "frozen"}}, "documents.1.fields.status"),
            ({"fields": {"region_code": "5101"}}, "documents.1.fields.region_code"),
            ({"fields": {"path": "not-a-path"}}, "documents.1.fields.path"),
            ({"fields": {"id": "01900000-0000-7000-8000-000000000009"}}, "documents.1.fields.id"),
            ({"fields": {"version": 3}}, "documents.1.fields.version"),
            ({"op": "delete"}, "documents.1.op"),
            ({"kind": "achievement"}, "documents.1.kind"),
            ({"version": 0}, "documents.1.version"),
            ({"id": "not-a-uuid"}, "documents.1.id"),
            ({"secret": "x"}, "documents.1.secret"),
        ],
    )
    async def test_a_malformed_document_is_422_naming_its_field_and_nothing_is_applied(
        self, stack: Stack, actors: Actors, change: dict[str, Any], field: str
    ) -> None:
        member = await actors.org_member()
        org = await auth_organization(stack, actors, member.org_id)  # type: ignore[arg-type]
        version = await next_version(stack, org["id"])
        good = document(org, version=version, name="第一份文档")
        bad = document(org, version=version + 1)
        for key, value in change.items():
            if key == "fields":
                bad["fields"] |= value
            else:
                bad[key] = value
        relay = await actors.service_client(scopes=["market:directory"], client_id="auth-relay-test")
        response = await stack.client.post(FEED_URL, json={"documents": [good, bad]}, headers=relay.headers)
        assert field in error_fields(assert_problem(response, 422))
        assert (await stored(stack, org["id"])).name == org["name"]  # type: ignore[union-attr]

    async def test_a_body_that_is_not_a_batch_is_refused(self, stack: Stack, actors: Actors) -> None:
        relay = await actors.service_client(scopes=["market:directory"], client_id="auth-relay-test")
        missing = await stack.client.post(FEED_URL, json={}, headers=relay.headers)
        assert "documents" in error_fields(assert_problem(missing, 422))
        not_json = await stack.client.post(
            FEED_URL, content=b"{", headers={**relay.headers, "Content-Type": "application/json"}
        )
        assert_problem(not_json, 400)  # malformed JSON is a bad request, as everywhere
        assert await feed(stack, actors) == {"applied": 0, "stale": 0}

    async def test_public_card_of_verified_organizations_only(self, stack: Stack, actors: Actors) -> None:
        member = await actors.org_member(kind="enterprise", region_code="500103", name="重庆某某科技有限公司")
        response = await stack.client.get(f"{FEED_URL}/{member.org_id}")  # no token needed
        assert response.status_code == 200, response.text
        assert response.json() == {
            "id": str(member.org_id),
            "name": "重庆某某科技有限公司",
            "kind": "enterprise",
            "region_code": "500103",
            "verified": True,
        }
        pending = await actors.org_member(verified=False)
        assert_problem(await stack.client.get(f"{FEED_URL}/{pending.org_id}"), 404)
        org = await auth_organization(stack, actors, member.org_id)  # type: ignore[arg-type]
        version = await next_version(stack, org["id"])
        await feed(stack, actors, document(org, version=version, status="suspended"))
        assert_problem(await stack.client.get(f"{FEED_URL}/{member.org_id}"), 404)
        await feed(stack, actors, document(org, version=version + 1, status="rejected"))
        assert_problem(await stack.client.get(f"{FEED_URL}/{member.org_id}"), 404)
        assert_problem(await stack.client.get(f"{FEED_URL}/{uuid.uuid4()}"), 404)
        bad = assert_problem(await stack.client.get(f"{FEED_URL}/not-a-uuid"), 422)
        assert error_fields(bad) == ["organization_id"]


class TestReplays:
    async def test_replayed_and_out_of_order_documents_change_nothing(self, stack: Stack, actors: Actors) -> None:
        uni = await actors.org_member(kind="university", name="四川大学")
        listing = await published(stack, uni)
        org = await auth_organization(stack, actors, uni.org_id)  # type: ignore[arg-type]
        v = await next_version(stack, org["id"])
        renamed, suspended = (
            document(org, version=v, name="四川大学（新）"),
            document(org, version=v + 1, name="四川大学（新）", status="suspended"),
        )
        # Out of order inside one batch: the later version first, the earlier one is then stale.
        assert await feed(stack, actors, suspended, renamed) == {"applied": 1, "stale": 1}
        events = [(e.version, e.op, e.event_type) for e in await outbox_of(stack, "achievement", listing["id"])]
        assert events[-1] == (listing["version"] + 1, "delete", "achievement.owner_suspended")
        # Replays, alone or together, and an older version arriving late: nothing changes, no event is added.
        assert await feed(stack, actors, suspended) == {"applied": 0, "stale": 1}
        assert await feed(stack, actors, renamed, suspended, document(org, version=v - 1)) == {"applied": 0, "stale": 3}
        assert [(e.version, e.op, e.event_type) for e in await outbox_of(stack, "achievement", listing["id"])] == events
        card = await stored(stack, org["id"])
        assert card is not None
        assert (card.name, card.status, card.version) == ("四川大学（新）", "suspended", v + 1)
        now = (await stack.client.get(f"/market/achievements/{listing['id']}")).json()
        assert now["version"] == listing["version"] + 1
        assert now["owner"]["name"] == "四川大学（新）"


class TestOffices:
    async def test_a_verified_office_is_routable_without_any_registrar_call(self, stack: Stack, actors: Actors) -> None:
        # A registration office signs up: pending in auth, so the directory gives it no office yet.
        reg = await actors.org_member(
            kind="registration_office", roles=("registrar", "member"), region_code="511100", verified=False
        )
        s = await seller(actors, region_code="511102")
        no_office = await stack.client.post("/market/contracts", json=payload(s), headers=s.headers)
        assert "seller.region_code" in error_fields(assert_problem(no_office, 422))
        # Its registrar cannot act before market knows the office.
        unknown = assert_problem(await stack.client.get("/market/contracts", headers=reg.headers), 403)
        assert "not known to the market" in unknown["detail"]
        # Auth verifies it and publishes the change: the office exists and serves its region at once.
        admin = await actors.platform_admin()
        verified = await stack.client.post(f"/auth/organizations/{reg.org_id}/verify", headers=admin.headers)
        assert verified.status_code == 200, verified.text
        await actors.sync_directory(reg.org_id)  # type: ignore[arg-type]
        office = (await stack.client.get(f"/market/offices/{reg.org_id}", headers=admin.headers)).json()
        assert (office["name"], office["region_code"], office["active"]) == (reg.org_name, "511100", True)
        contract = await submit(stack, s)
        assert contract["office_id"] == str(reg.org_id)

    async def test_offices_follow_renames_suspension_and_reinstatement(self, stack: Stack, actors: Actors) -> None:
        reg = await actors.org_member(kind="registration_office", roles=("registrar", "member"), region_code="511300")
        s = await seller(actors, region_code="511302")
        admin = await actors.platform_admin()
        org = await auth_organization(stack, actors, reg.org_id)  # type: ignore[arg-type]
        v = await next_version(stack, org["id"])
        url = f"/market/offices/{reg.org_id}"

        await feed(stack, actors, document(org, version=v, name="南充市技术合同登记处", region_code="511302"))
        office = (await stack.client.get(url, headers=admin.headers)).json()
        assert (office["name"], office["region_code"], office["active"]) == ("南充市技术合同登记处", "511302", True)

        await feed(stack, actors, document(org, version=v + 1, name="南充市技术合同登记处", status="suspended"))
        assert (await stack.client.get(url, headers=admin.headers)).json()["active"] is False
        refused = await stack.client.post("/market/contracts", json=payload(s), headers=s.headers)
        assert "seller.region_code" in error_fields(assert_problem(refused, 422))

        await feed(stack, actors, document(org, version=v + 2, name="南充市技术合同登记处", status="verified"))
        assert (await stack.client.get(url, headers=admin.headers)).json()["active"] is True
        assert (await submit(stack, s))["office_id"] == str(reg.org_id)

        # A platform admin's deactivation survives a mere rename; only becoming verified again reactivates.
        patched = await stack.client.patch(url, json={"active": False}, headers=admin.headers)
        assert patched.status_code == 200, patched.text
        await feed(stack, actors, document(org, version=v + 3, name="南充市登记处"))
        office = (await stack.client.get(url, headers=admin.headers)).json()
        assert (office["name"], office["active"]) == ("南充市登记处", False)

        await feed(stack, actors, document(org, version=v + 4, name="南充市登记处", status="rejected"))
        assert (await stack.client.get(url, headers=admin.headers)).json()["active"] is False

    async def test_an_office_the_directory_knows_as_pending_gets_no_row(self, stack: Stack, actors: Actors) -> None:
        reg = await actors.org_member(
            kind="registration_office", roles=("registrar", "member"), region_code="511400", verified=False
        )
        admin = await actors.platform_admin()
        assert_problem(await stack.client.get(f"/market/offices/{reg.org_id}", headers=admin.headers), 404)
        org = await auth_organization(stack, actors, reg.org_id)  # type: ignore[arg-type]
        await feed(stack, actors, document(org, version=await next_version(stack, org["id"]), name="改名"))
        assert_problem(await stack.client.get(f"/market/offices/{reg.org_id}", headers=admin.headers), 404)


class TestListingsFollowTheirOwner:
    async def test_listings_name_their_owner_from_the_directory(self, stack: Stack, actors: Actors) -> None:
        uni = await actors.org_member(kind="university", region_code="510104", name="西南交通大学")
        draft = await create_listing(stack, uni, "achievements")
        public = await published(stack, uni, "achievements", title="一种轨道检测装置", patents=[])
        owner = {"id": str(uni.org_id), "name": "西南交通大学", "kind": "university", "region_code": "510104"}
        assert draft["owner"] == owner
        assert (await stack.client.get(f"/market/achievements/{public['id']}")).json()["owner"] == owner
        page = (await stack.client.get("/market/achievements", params={"owner_org_id": str(uni.org_id)})).json()
        assert [item["owner"] for item in page["items"]] == [owner]
        mine = (await stack.client.get("/market/achievements", headers=uni.headers)).json()
        assert [item["owner"] for item in mine["items"]] == [owner, owner]
        # Never members or contacts of the organization.
        assert set(page["items"][0]["owner"]) == {"id", "name", "kind", "region_code"}

    async def test_an_owner_the_directory_does_not_know_yet(self, stack: Stack, actors: Actors) -> None:
        uni = await unsynced_member(stack, actors, region_code="510107")
        listing = await published(stack, uni, "achievements", title="一种新型储能材料")
        assert listing["owner"] == {"id": str(uni.org_id), "name": None, "kind": "university", "region_code": None}
        (event,) = [e for e in await outbox_of(stack, "achievement", listing["id"]) if e.op == "upsert"]
        assert (event.payload["owner_org_name"], event.payload["owner_org_kind"]) == (None, "university")
        # The organization arrives: its public listing is re-sent with the name.
        await actors.sync_directory(uni.org_id)  # type: ignore[arg-type]
        now = (await stack.client.get(f"/market/achievements/{listing['id']}")).json()
        assert (now["owner"]["name"], now["version"]) == (uni.org_name, listing["version"] + 1)
        last = (await outbox_of(stack, "achievement", listing["id"]))[-1]
        assert (last.op, last.event_type, last.payload["owner_org_name"]) == (
            "upsert",
            "achievement.owner_updated",
            uni.org_name,
        )

    async def test_a_renamed_university_shows_its_new_name_in_get_and_search(
        self, stack: Stack, actors: Actors
    ) -> None:
        uni = await actors.org_member(kind="university", region_code="510104", name="成都理工学院")
        achievement = await published(stack, uni, "achievements", title="一种页岩气压裂监测装置")
        demand = await published(stack, uni, "demands", title="页岩气压裂液回收处理")
        draft = await create_listing(stack, uni, "achievements", body=achievement_body(title="草稿成果", patents=[]))
        await drain(stack)
        (hit,) = await search_hits(stack, "achievements", "页岩气压裂监测")
        assert (hit["owner_org_name"], hit["owner_org_kind"]) == ("成都理工学院", "university")

        org = await auth_organization(stack, actors, uni.org_id)  # type: ignore[arg-type]
        await feed(stack, actors, document(org, version=await next_version(stack, org["id"]), name="成都理工大学"))

        for kind, listing in (("achievements", achievement), ("demands", demand)):
            now = (await stack.client.get(f"/market/{kind}/{listing['id']}")).json()
            assert (now["owner"]["name"], now["version"]) == ("成都理工大学", listing["version"] + 1)
            assert now["updated_at"] == listing["updated_at"]  # the owner did not edit it
        history = (
            await stack.client.get(f"/market/achievements/{achievement['id']}/events", headers=uni.headers)
        ).json()
        last = history["items"][-1]
        assert (last["action"], last["actor_subject"]) == ("owner_updated", "system")
        # A draft is not public: untouched, no event.
        assert (await stack.client.get(f"/market/achievements/{draft['id']}", headers=uni.headers)).json()[
            "version"
        ] == draft["version"]
        assert len(await outbox_of(stack, "achievement", draft["id"])) == 1

        assert await drain(stack) == 2
        (hit,) = await search_hits(stack, "achievements", "页岩气压裂监测")
        assert (hit["owner_org_name"], hit["owner_org_kind"]) == ("成都理工大学", "university")
        (hit,) = await search_hits(stack, "demands", "压裂液回收")
        assert hit["owner_org_name"] == "成都理工大学"
        # The new name is searchable too.
        assert [h["id"] for h in await search_hits(stack, "achievements", "成都理工大学")] == [achievement["id"]]

    async def test_a_suspended_owner_leaves_search_and_comes_back_when_reinstated(
        self, stack: Stack, actors: Actors
    ) -> None:
        company = await actors.org_member(kind="enterprise", region_code="500103")
        demand = await published(stack, company, "demands", body=demand_body(title="氢燃料电池电堆寿命测试"))
        await drain(stack)
        assert [h["id"] for h in await search_hits(stack, "demands", "氢燃料电池")] == [demand["id"]]
        org = await auth_organization(stack, actors, company.org_id)  # type: ignore[arg-type]
        v = await next_version(stack, org["id"])

        await feed(stack, actors, document(org, version=v, status="suspended"))
        assert await drain(stack) == 1
        assert await search_hits(stack, "demands", "氢燃料电池") == []
        # While suspended, a change of the listing keeps it out of search.
        current = await stack.client.get(f"/market/demands/{demand['id']}", headers=company.headers)
        patched = await stack.client.patch(
            f"/market/demands/{demand['id']}",
            json={"title": "氢燃料电池电堆寿命加速测试"},
            headers={**company.headers, "If-Match": current.headers["etag"]},
        )
        assert patched.status_code == 200, patched.text
        assert (await outbox_of(stack, "demand", demand["id"]))[-1].op == "delete"
        await drain(stack)
        assert await search_hits(stack, "demands", "氢燃料电池") == []

        await feed(stack, actors, document(org, version=v + 1, status="verified"))
        last = (await outbox_of(stack, "demand", demand["id"]))[-1]
        assert (last.op, last.event_type) == ("upsert", "demand.owner_reinstated")
        assert await drain(stack) == 1
        (hit,) = await search_hits(stack, "demands", "氢燃料电池")
        assert (hit["id"], hit["title"]) == (demand["id"], "氢燃料电池电堆寿命加速测试")

    async def test_an_owner_of_many_listings_is_followed_in_batches(
        self, stack: Stack, actors: Actors, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(listings_service, "OWNER_CHANGE_BATCH", 2)
        uni = await actors.org_member(kind="research_institute")
        listings = [
            await published(stack, uni, "achievements", body=achievement_body(title=f"成果{i}", patents=[]))
            for i in range(5)
        ]
        org = await auth_organization(stack, actors, uni.org_id)  # type: ignore[arg-type]
        await feed(stack, actors, document(org, version=await next_version(stack, org["id"]), region_code="510700"))
        for listing in listings:
            now = (await stack.client.get(f"/market/achievements/{listing['id']}")).json()
            assert (now["version"], now["owner"]["region_code"]) == (listing["version"] + 1, "510700")
            assert (await outbox_of(stack, "achievement", listing["id"]))[-1].event_type == "achievement.owner_updated"
        # Nothing of the owner changed for listings: a replayed identical version is stale, a newer identical one
        # changes no listing.
        await feed(stack, actors, document(org, version=await next_version(stack, org["id"]), region_code="510700"))
        assert (await stack.client.get(f"/market/achievements/{listings[0]['id']}")).json()["version"] == listings[0][
            "version"
        ] + 1
