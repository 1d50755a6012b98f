"""`techmarket market directory-rebuild`: the directory rebuilt from auth's API, in-process against the embedded
stack (auth reached through the stack's ASGI transport, the relay client's real client_credentials token with
`auth:directory`, under which auth lists every organization whatever its status).
"""

from __future__ import annotations

import datetime as dt

import pytest
from authlib.integrations.base_client.errors import OAuthError
from pydantic import SecretStr

from services.market.directory.schemas import Designation
from services.market.directory_feed.rebuild import run_directory_rebuild
from services.market.settings import MarketSettings
from tests.conftest import Stack
from tests.market.contracts.factories import seller, submit
from tests.market.directory.factories import add_broker, stored, unsynced_member
from tests.market.helpers import create_listing, transition
from tests.support.actors import Actors


async def test_rebuild_applies_what_auth_lists_through_the_feed_path(stack: Stack, actors: Actors) -> None:
    # Organizations market has never heard of: a registration office, a university with a public listing, and an
    # enterprise still pending in auth.
    office = await unsynced_member(stack, actors, kind="registration_office", region_code="510600")
    pending = await unsynced_member(stack, actors, kind="enterprise", region_code="510603", verified=False)
    uni = await unsynced_member(stack, actors, kind="university", region_code="510603")
    created = await create_listing(stack, uni, "achievements")
    listing = (await transition(stack, uni, "achievements", created["id"], "publish")).json()
    assert listing["owner"]["name"] is None
    assert await stored(stack, office.org_id) is None  # type: ignore[arg-type]

    market = stack.service_app("market")
    settings: MarketSettings = market.state.settings
    report = await run_directory_rebuild(settings, transport=market.state.outbound_transport)

    assert report.invalid == 0
    assert report.listed >= 4  # the center, the office, the university, the pending enterprise (and any other)
    assert report.applied == report.listed - report.stale >= 3
    assert (report.offices, report.listings) == (1, 1)
    for actor in (office, uni):
        card = await stored(stack, actor.org_id)  # type: ignore[arg-type]
        assert card is not None
        assert (card.name, card.kind, card.status) == (actor.org_name, actor.org_kind, "verified")
        public = (await stack.client.get(f"/market/directory/organizations/{actor.org_id}")).json()
        assert public["name"] == actor.org_name
    card = await stored(stack, pending.org_id)  # type: ignore[arg-type]
    assert card is not None
    assert (card.kind, card.status) == ("enterprise", "pending")
    assert (await stack.client.get(f"/market/directory/organizations/{pending.org_id}")).status_code == 404
    # The office routes submissions; the listing names its owner.
    s = await seller(actors, region_code="510604")
    assert (await submit(stack, s))["office_id"] == str(office.org_id)
    now = (await stack.client.get(f"/market/achievements/{listing['id']}")).json()
    assert (now["owner"]["name"], now["version"]) == (uni.org_name, listing["version"] + 1)

    # A second run finds nothing newer: nothing changes.
    again = await run_directory_rebuild(settings, transport=market.state.outbound_transport)
    assert (again.applied, again.stale, again.offices, again.listings) == (0, again.listed, 0, 0)
    assert (await stack.client.get(f"/market/achievements/{listing['id']}")).json()["version"] == now["version"]


async def test_rebuild_without_the_scope_fails_and_changes_nothing(stack: Stack, actors: Actors) -> None:
    # market-relay is built in (its scopes do not change through the API): the rebuild runs as a client without
    # auth:directory instead.
    admin = await actors.platform_admin()
    narrow = await stack.client.post(
        "/auth/clients",
        json={"client_id": "narrow-relay", "name": "relay without auth:directory", "scopes": ["search:ingest"]},
        headers=admin.headers,
    )
    assert narrow.status_code == 201, narrow.text
    office = await unsynced_member(stack, actors, kind="registration_office", region_code="510800")
    market = stack.service_app("market")
    settings: MarketSettings = market.state.settings.model_copy(
        update={"relay_client_id": "narrow-relay", "relay_client_secret": SecretStr(narrow.json()["client_secret"])}
    )
    with pytest.raises(OAuthError, match="invalid_scope"):
        await run_directory_rebuild(settings, transport=market.state.outbound_transport)
    assert await stored(stack, office.org_id) is None  # type: ignore[arg-type]


async def test_rebuild_carries_designations_and_broker_certificates(stack: Stack, actors: Actors) -> None:
    institution = await actors.org_member(kind="transfer_institution")  # market knows it, undesignated
    admin = await actors.platform_admin()
    designated = await stack.client.put(
        f"/auth/organizations/{institution.org_id}/designation",
        json={"level": "provincial", "year": 2024},
        headers=admin.headers,
    )
    assert designated.status_code == 200, designated.text
    await add_broker(stack, actors, institution.org_id, valid_until=dt.date(2027, 3, 31))
    before = await stored(stack, institution.org_id)  # type: ignore[arg-type]
    assert before is not None
    assert (before.designation, before.broker_certificates_valid_until) == (None, ())

    market = stack.service_app("market")
    await run_directory_rebuild(market.state.settings, transport=market.state.outbound_transport)
    card = await stored(stack, institution.org_id)  # type: ignore[arg-type]
    assert card is not None
    assert card.designation == Designation(level="provincial", year=2024, revoked=False)
    assert card.broker_certificates_valid_until == (dt.date(2027, 3, 31),)
