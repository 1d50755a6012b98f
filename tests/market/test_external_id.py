"""An achievement's external_id (the transfer office's own reference) and the natural key on create and PATCH."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from services.market.listings.models import Achievement
from services.market.outbox.models import OutboxEvent
from tests.conftest import Stack
from tests.market.helpers import achievement_body, create_listing, transition
from tests.support.problems import assert_problem, error_fields

URL = "/market/achievements"
REFERENCE = "SCU-TT-2024-017"
BAD_REFERENCES = [
    ("X" * 101, "too_long"),
    ("", "too_short"),
    ("   ", "too_short"),
    ("SCU\x00TT", "text_invalid"),
    ("SCU\nTT", "text_invalid"),
    ("SCU\tTT", "text_invalid"),  # the kernel text rule (docs/errors.md)
    ("SCU\u200bTT", "value_error"),  # zero-width space: invisible
    (17, "string_type"),
]


async def count(stack: Stack, model: Any) -> int:
    async with stack.service_app("market").state.sessionmaker() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def patch(stack: Stack, actor: Any, listing: dict[str, Any], body: dict[str, Any]) -> Any:
    etag = f'"v{listing["version"]}"'
    return await stack.client.patch(f"{URL}/{listing['id']}", json=body, headers={**actor.headers, "If-Match": etag})


class TestExternalIdOnCreate:
    async def test_stored_and_seen_only_by_the_owner(self, stack: Stack, actors: Any) -> None:
        uni = await actors.org_member(kind="university")
        listing = await create_listing(stack, uni, external_id=f"  {REFERENCE} ")
        assert listing["external_id"] == REFERENCE  # trimmed, as every text
        assert (await transition(stack, uni, "achievements", listing["id"], "publish")).status_code == 200
        anonymous = (await stack.client.get(f"{URL}/{listing['id']}")).json()
        assert anonymous["status"] == "published"
        assert anonymous["external_id"] is None
        stranger = await actors.org_member(kind="enterprise")
        assert (await stack.client.get(f"{URL}/{listing['id']}", headers=stranger.headers)).json()[
            "external_id"
        ] is None
        listed = (await stack.client.get(URL)).json()["items"]
        assert [item["external_id"] for item in listed] == [None]
        admin = await actors.platform_admin()
        assert (await stack.client.get(f"{URL}/{listing['id']}", headers=admin.headers)).json()["external_id"] == (
            REFERENCE
        )
        # Search never receives it.
        async with stack.service_app("market").state.sessionmaker() as session:
            events = list((await session.execute(select(OutboxEvent))).scalars())
        assert [e.op for e in events] == ["delete", "upsert"]
        assert all("external_id" not in e.payload and REFERENCE not in str(e.payload) for e in events)

    async def test_a_reference_is_unique_per_organization(self, stack: Stack, actors: Any) -> None:
        uni = await actors.org_member(kind="university")
        first = await create_listing(stack, uni, external_id=REFERENCE)
        other_patent = [{"application_no": "202122975192.6"}]
        response = await stack.client.post(
            URL,
            json=achievement_body(title="另一项成果", patents=other_patent, external_id=REFERENCE),
            headers=uni.headers,
        )
        body = assert_problem(response, 409)
        assert error_fields(body) == ["external_id"]
        assert body["existing_id"] == first["id"]
        assert body["type"].endswith("duplicate-external-id")
        assert await count(stack, Achievement) == 1
        # Another organization may use the same reference (its office numbers its own files).
        other = await actors.org_member(kind="university")
        assert (await create_listing(stack, other, external_id=REFERENCE))["external_id"] == REFERENCE

    async def test_the_reference_keys_an_achievement_without_patents(self, stack: Stack, actors: Any) -> None:
        uni = await actors.org_member(kind="university")
        await create_listing(stack, uni, patents=[], title="技术秘密甲", external_id="SCU-1")
        # The same title and summary under another reference is another achievement ...
        await create_listing(stack, uni, patents=[], title="技术秘密甲", external_id="SCU-2")
        # ... and the same reference is the same one, whatever the title: the 409 names the key's field.
        response = await stack.client.post(
            URL, json=achievement_body(patents=[], title="别的标题", external_id="SCU-1"), headers=uni.headers
        )
        assert error_fields(assert_problem(response, 409)) == ["external_id"]
        assert await count(stack, Achievement) == 2

    async def test_same_title_and_summary_without_patent_or_reference_is_409(self, stack: Stack, actors: Any) -> None:
        uni = await actors.org_member(kind="university")
        first = await create_listing(stack, uni, patents=[], title="吸收性物品", summary="具有孔部的吸收性物品")
        second = await create_listing(stack, uni, patents=[], title="吸收性物品", summary="凹槽控制尿的流动方向")
        assert second["id"] != first["id"]
        response = await stack.client.post(
            URL,
            json=achievement_body(patents=[], title="吸收性物品", summary="具有孔部的吸收性物品"),
            headers=uni.headers,
        )
        body = assert_problem(response, 409)
        assert (error_fields(body), body["existing_id"]) == (["title", "summary"], first["id"])
        assert await count(stack, Achievement) == 2

    @pytest.mark.parametrize(("value", "error_type"), BAD_REFERENCES)
    async def test_bad_reference_is_422_and_stores_nothing(
        self, stack: Stack, actors: Any, value: Any, error_type: str
    ) -> None:
        uni = await actors.org_member(kind="university")
        response = await stack.client.post(URL, json=achievement_body(external_id=value), headers=uni.headers)
        body = assert_problem(response, 422)
        assert error_fields(body) == ["external_id"]
        assert body["errors"][0]["type"] == error_type
        assert await count(stack, Achievement) == 0

    async def test_100_characters_are_accepted(self, stack: Stack, actors: Any) -> None:
        uni = await actors.org_member(kind="university")
        reference = "四川大学技术转移中心-" + "7" * 89
        assert (await create_listing(stack, uni, external_id=reference))["external_id"] == reference


class TestExternalIdOnPatch:
    async def test_set_change_and_clear(self, stack: Stack, actors: Any) -> None:
        uni = await actors.org_member(kind="university")
        listing = await create_listing(stack, uni)
        response = await patch(stack, uni, listing, {"external_id": REFERENCE})
        assert response.status_code == 200, response.text
        assert (response.json()["external_id"], response.json()["version"]) == (REFERENCE, 2)
        cleared = await patch(stack, uni, response.json(), {"external_id": None})
        assert cleared.status_code == 200, cleared.text
        assert cleared.json()["external_id"] is None

    async def test_a_reference_of_another_listing_is_409_and_changes_nothing(self, stack: Stack, actors: Any) -> None:
        uni = await actors.org_member(kind="university")
        first = await create_listing(stack, uni, external_id=REFERENCE)
        second = await create_listing(stack, uni, patents=[], title="第二项成果")
        body = assert_problem(await patch(stack, uni, second, {"external_id": REFERENCE, "trl": 3}), 409)
        assert (error_fields(body), body["existing_id"]) == (["external_id"], first["id"])
        assert (await stack.client.get(f"{URL}/{second['id']}", headers=uni.headers)).json() == second
        assert await count(stack, OutboxEvent) == 2

    async def test_a_summary_onto_another_listings_title_and_summary_is_409(self, stack: Stack, actors: Any) -> None:
        uni = await actors.org_member(kind="university")
        first = await create_listing(stack, uni, patents=[], title="吸收性物品", summary="甲")
        second = await create_listing(stack, uni, patents=[], title="吸收性物品", summary="乙")
        body = assert_problem(await patch(stack, uni, second, {"summary": "甲"}), 409)
        assert (error_fields(body), body["existing_id"]) == (["title", "summary"], first["id"])
        # Dropping the reference of a listing keyed by it re-keys it by title and summary.
        keyed = await create_listing(stack, uni, patents=[], title="吸收性物品", summary="甲", external_id="R-1")
        assert error_fields(assert_problem(await patch(stack, uni, keyed, {"external_id": None}), 409)) == [
            "title",
            "summary",
        ]
        assert (await stack.client.get(f"{URL}/{keyed['id']}", headers=uni.headers)).json() == keyed

    @pytest.mark.parametrize(("value", "error_type"), BAD_REFERENCES)
    async def test_bad_reference_is_422_and_changes_nothing(
        self, stack: Stack, actors: Any, value: Any, error_type: str
    ) -> None:
        uni = await actors.org_member(kind="university")
        listing = await create_listing(stack, uni)
        body = assert_problem(await patch(stack, uni, listing, {"external_id": value}), 422)
        assert error_fields(body) == ["external_id"]
        assert body["errors"][0]["type"] == error_type
        assert (await stack.client.get(f"{URL}/{listing['id']}", headers=uni.headers)).json() == listing
