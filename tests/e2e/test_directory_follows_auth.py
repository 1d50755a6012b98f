"""End to end: what auth changes about an organization reaches market's directory, its listings and search.

Nothing is simulated: auth writes each change to its outbox, auth's relay takes a client_credentials token of
auth-relay and POSTs to market's /market/directory/organizations, market's relay carries the consequences to
search. The relays run by hand (tests have them off), which stands for "within the relay's usual delay".
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from services.auth.outbox.models import AuthOutboxEvent
from services.market.directory import service as directory
from services.market.directory.schemas import OrganizationCard
from tests.conftest import Stack
from tests.market.helpers import achievement_body, create_listing, transition
from tests.support.actors import Actor, Actors


async def _drain_auth(stack: Stack) -> int:
    delivered: int = await stack.service_app("auth").state.relay.drain()
    return delivered


async def _drain_market(stack: Stack) -> int:
    delivered: int = await stack.service_app("market").state.relay.drain()
    return delivered


async def _card(stack: Stack, org_id: uuid.UUID | None) -> OrganizationCard:
    assert org_id is not None
    async with stack.service_app("market").state.sessionmaker() as session:
        card = await directory.get(session=session, org_id=org_id)
    assert card is not None
    return card


async def _published_achievement(stack: Stack, owner: Actor, title: str) -> dict[str, Any]:
    created = await create_listing(stack, owner, "achievements", body=achievement_body(title=title))
    published = await transition(stack, owner, "achievements", created["id"], "publish")
    assert published.status_code == 200, published.text
    body: dict[str, Any] = published.json()
    return body


async def _search_owner_names(stack: Stack, q: str) -> list[str]:
    response = await stack.client.get("/search/achievements", params={"q": q})
    assert response.status_code == 200, response.text
    return [hit["owner_org_name"] for hit in response.json()["hits"]]


async def test_a_university_renamed_in_auth_is_renamed_on_its_listings_and_in_search(
    stack: Stack, actors: Actors
) -> None:
    uni = await actors.org_member(kind="university", region_code="510104", name="西南石油学院")
    achievement = await _published_achievement(stack, uni, "一种钻井液循环降温装置")
    await _drain_market(stack)
    assert await _search_owner_names(stack, "钻井液降温") == ["西南石油学院"]

    current = await stack.client.get(f"/auth/organizations/{uni.org_id}", headers=uni.headers)
    renamed = await stack.client.patch(
        f"/auth/organizations/{uni.org_id}",
        json={"name": "西南石油大学"},
        headers={**uni.headers, "If-Match": current.headers["etag"]},
    )
    assert renamed.status_code == 200, renamed.text
    assert await _drain_auth(stack) == 1
    card = await _card(stack, uni.org_id)
    assert (card.name, card.version) == ("西南石油大学", renamed.json()["version"])
    listing = (await stack.client.get(f"/market/achievements/{achievement['id']}")).json()
    assert listing["owner"] == {
        "id": str(uni.org_id),
        "name": "西南石油大学",
        "kind": "university",
        "region_code": "510104",
    }

    assert await _drain_market(stack) == 1
    assert await _search_owner_names(stack, "钻井液降温") == ["西南石油大学"]


async def test_replayed_deliveries_change_nothing(stack: Stack, actors: Actors) -> None:
    uni = await actors.org_member(kind="university", name="重庆邮电学院")
    achievement = await _published_achievement(stack, uni, "一种低轨卫星信号捕获方法")
    admin = await actors.platform_admin()
    for name in ("重庆邮电大学", "重庆邮电大学（两江校区）"):
        response = await stack.client.patch(
            f"/auth/organizations/{uni.org_id}", json={"name": name}, headers=admin.headers
        )
        assert response.status_code == 200, response.text
    await _drain_auth(stack)
    await _drain_market(stack)
    before = await _card(stack, uni.org_id)
    listing_before = (await stack.client.get(f"/market/achievements/{achievement['id']}")).json()

    # At least once: every event of the organization is delivered again, oldest first (the relay's own order).
    auth = stack.service_app("auth")
    async with auth.state.sessionmaker() as session, session.begin():
        await session.execute(
            sa.update(AuthOutboxEvent)
            .where(AuthOutboxEvent.entity_id == uni.org_id)  # type: ignore[arg-type]
            .values(delivered_at=None, next_attempt_at=AuthOutboxEvent.created_at)
        )
    assert await _drain_auth(stack) == 4  # created, verified and the two renames, all sent again
    assert await _card(stack, uni.org_id) == before
    assert (await stack.client.get(f"/market/achievements/{achievement['id']}")).json() == listing_before
    assert await _drain_market(stack) == 0  # no consequence was re-sent to search


async def test_a_suspended_university_leaves_search_and_returns_when_reinstated(stack: Stack, actors: Actors) -> None:
    uni = await actors.org_member(kind="university", name="川北医学院")
    await _published_achievement(stack, uni, "一种骨科术后康复监测护具")
    await _drain_market(stack)
    assert await _search_owner_names(stack, "康复监测护具") == ["川北医学院"]
    admin = await actors.platform_admin()

    suspended = await stack.client.post(
        f"/auth/organizations/{uni.org_id}/suspend", json={"reason": "资质复核"}, headers=admin.headers
    )
    assert suspended.status_code == 200, suspended.text
    await _drain_auth(stack)
    await _drain_market(stack)
    assert await _search_owner_names(stack, "康复监测护具") == []

    reinstated = await stack.client.post(f"/auth/organizations/{uni.org_id}/reinstate", headers=admin.headers)
    assert reinstated.status_code == 200, reinstated.text
    await _drain_auth(stack)
    await _drain_market(stack)
    assert await _search_owner_names(stack, "康复监测护具") == ["川北医学院"]
