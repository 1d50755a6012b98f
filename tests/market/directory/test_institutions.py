"""Broker certificates (issuer, last valid day) and demonstration institutions in market: the certificate's end in
the token and on the organization's card, a broker action refused once it has expired and allowed again after a
renewal and a new sign-in, the count functions and GET /market/stats/institutions."""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
from typing import Any

import pytest

from services.market.directory import service as directory
from shared.clock import today_in_china
from shared.security import BrokerCertificateExpired, Principal, acts_as_broker
from tests.auth.helpers import login
from tests.conftest import Stack
from tests.market.directory.factories import add_broker, stored
from tests.market.proposals.world import World, make_world
from tests.support.actors import Actor, Actors
from tests.support.problems import assert_problem

EXPIRED = "urn:techmarket:problem:broker-certificate-expired"


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return decoded


async def token_of(stack: Stack, broker: dict[str, Any]) -> dict[str, str]:
    response = await login(stack.client, broker["email"], broker["password"])
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


class TestTheOneCheck:
    def principal(self, **claims: Any) -> Principal:
        return Principal.from_claims({"sub": "u", "roles": ["broker"], **claims})

    def test_valid_through_its_last_day(self) -> None:
        day = dt.date(2026, 6, 30)
        principal = self.principal(broker_certificate_valid_until="2026-06-30")
        assert acts_as_broker(principal, today=day) is True
        with pytest.raises(BrokerCertificateExpired) as raised:
            acts_as_broker(principal, today=day + dt.timedelta(days=1))
        assert raised.value.status == 403
        assert "expired on 2026-06-30" in str(raised.value.detail)
        assert "renew it" in str(raised.value.detail)

    def test_no_recorded_end_and_no_role(self) -> None:
        assert acts_as_broker(self.principal(), today=dt.date(2099, 1, 1)) is True
        no_role = Principal.from_claims(
            {"sub": "u", "roles": ["member"], "broker_certificate_valid_until": "2000-01-01"}
        )
        assert acts_as_broker(no_role, today=dt.date(2026, 1, 1)) is False


class TestCertificates:
    async def test_certificate_fields_token_claim_and_card(self, stack: Stack, actors: Actors) -> None:
        org = await actors.org_member(kind="transfer_institution")
        until = today_in_china() + dt.timedelta(days=100)
        broker = await add_broker(stack, actors, org.org_id, valid_until=until)
        assert broker["member"]["broker_certificate_issuer"] == "四川省科学技术厅"
        assert broker["member"]["broker_certificate_valid_until"] == until.isoformat()
        headers = await token_of(stack, broker)
        assert claims_of(headers["Authorization"].split()[1])["broker_certificate_valid_until"] == until.isoformat()
        me = (await stack.client.get("/auth/me", headers=headers)).json()
        assert me["memberships"][0]["broker_certificate_valid_until"] == until.isoformat()

        admin = await actors.platform_admin()
        shown = (await stack.client.get(f"/auth/organizations/{org.org_id}", headers=admin.headers)).json()
        assert shown["broker_certificates_valid_until"] == [until.isoformat()]
        await actors.sync_directory()
        card = await stored(stack, str(org.org_id))
        assert card is not None
        assert card.broker_certificates_valid_until == (until,)
        assert card.version == shown["version"]

        # A renewal re-publishes the card; removing the member empties it.
        later = until + dt.timedelta(days=365)
        renewed = await stack.client.patch(
            f"/auth/organizations/{org.org_id}/members/{broker['user_id']}",
            json={"broker_certificate_valid_until": later.isoformat()},
            headers=admin.headers,
        )
        assert renewed.status_code == 200, renewed.text
        await actors.sync_directory()
        assert (await stored(stack, str(org.org_id))).broker_certificates_valid_until == (later,)  # type: ignore[union-attr]
        removed = await stack.client.delete(
            f"/auth/organizations/{org.org_id}/members/{broker['user_id']}", headers=admin.headers
        )
        assert removed.status_code == 204
        await actors.sync_directory()
        assert (await stored(stack, str(org.org_id))).broker_certificates_valid_until == ()  # type: ignore[union-attr]

    async def test_a_member_without_broker_role_carries_no_claim(self, stack: Stack, actors: Actors) -> None:
        org = await actors.org_member(kind="transfer_institution")
        broker = await add_broker(stack, actors, org.org_id, valid_until=dt.date(2030, 1, 1), roles=["member"])
        headers = await token_of(stack, broker)
        assert "broker_certificate_valid_until" not in claims_of(headers["Authorization"].split()[1])
        admin = await actors.platform_admin()
        shown = (await stack.client.get(f"/auth/organizations/{org.org_id}", headers=admin.headers)).json()
        assert shown["broker_certificates_valid_until"] == []

    @pytest.mark.parametrize(
        ("changes", "field"),
        [
            ({"broker_certificate_valid_until": "2026-13-01"}, "broker_certificate_valid_until"),
            ({"broker_certificate_valid_until": "1999-12-31"}, "broker_certificate_valid_until"),
            ({"broker_certificate_issuer": "   "}, "broker_certificate_issuer"),
            ({"broker_certificate_no": None, "roles": ["member"]}, "broker_certificate_issuer"),
        ],
    )
    async def test_bad_certificate_input_names_the_field(
        self, stack: Stack, actors: Actors, changes: dict[str, Any], field: str
    ) -> None:
        org = await actors.org_member(kind="transfer_institution")
        admin = await actors.platform_admin()
        email = f"bad-{secrets.token_hex(4)}@certs.test"
        body: dict[str, Any] = {
            "email": email,
            "name": "经纪人",
            "password": f"broker-pass-{secrets.token_hex(6)}",
            "roles": ["broker"],
            "broker_certificate_no": "JJR-0001",
            "broker_certificate_issuer": "四川省科学技术厅",
            **changes,
        }
        response = await stack.client.post(
            f"/auth/organizations/{org.org_id}/members", json=body, headers=admin.headers
        )
        assert_problem(response, 422, field=field)
        members = (await stack.client.get(f"/auth/organizations/{org.org_id}/members", headers=admin.headers)).json()
        assert email not in [m["email"] for m in members["items"]]


class TestExpiry:
    @pytest.fixture
    async def world(self, stack: Stack, actors: Actors) -> World:
        return await make_world(stack, actors)

    async def test_expired_is_403_until_renewed_and_signed_in_again(self, world: World) -> None:
        stack, actors = world.stack, world.actors
        yesterday = today_in_china() - dt.timedelta(days=1)
        broker = await add_broker(stack, actors, world.broker.org_id, valid_until=yesterday)
        old = await token_of(stack, broker)

        refused = assert_problem(
            await stack.client.post("/market/proposals", json=world.proposal_body(), headers=old), 403
        )
        assert refused["type"] == EXPIRED
        assert f"expired on {yesterday.isoformat()}" in refused["detail"]
        assert "renew it" in refused["detail"]
        suggestions = await stack.client.get(f"/market/demands/{world.demand['id']}/suggestions", headers=old)
        assert assert_problem(suggestions, 403)["type"] == EXPIRED

        admin = await actors.platform_admin()
        renewed = await stack.client.patch(
            f"/auth/organizations/{world.broker.org_id}/members/{broker['user_id']}",
            json={"broker_certificate_valid_until": (today_in_china() + dt.timedelta(days=365)).isoformat()},
            headers=admin.headers,
        )
        assert renewed.status_code == 200, renewed.text
        # The old token still carries the old date.
        still = await stack.client.post("/market/proposals", json=world.proposal_body(), headers=old)
        assert assert_problem(still, 403)["type"] == EXPIRED
        fresh = await token_of(stack, broker)
        created = await stack.client.post("/market/proposals", json=world.proposal_body(), headers=fresh)
        assert created.status_code == 201, created.text

    async def test_valid_today_is_allowed(self, world: World) -> None:
        broker = await add_broker(world.stack, world.actors, world.broker.org_id, valid_until=today_in_china())
        headers = await token_of(world.stack, broker)
        created = await world.client.post("/market/proposals", json=world.proposal_body(), headers=headers)
        assert created.status_code == 201, created.text


async def designate(stack: Stack, actors: Actors, org: Actor, level: str, year: int) -> None:
    admin = await actors.platform_admin()
    response = await stack.client.put(
        f"/auth/organizations/{org.org_id}/designation", json={"level": level, "year": year}, headers=admin.headers
    )
    assert response.status_code == 200, response.text


class TestCounts:
    @pytest.fixture
    async def tree(self, stack: Stack, actors: Actors) -> dict[str, Actor]:
        admin = await actors.platform_admin()
        a = await actors.org_member(kind="sub_center", region_code="510100", name="成都分中心")
        b = await actors.org_member(kind="sub_center", region_code="500103", name="重庆分中心")
        ti = "transfer_institution"
        i1 = await actors.org_member(kind=ti, parent=a, region_code="510100")
        i2 = await actors.org_member(kind=ti, parent=a, region_code="510104")
        i3 = await actors.org_member(kind=ti, parent=b, region_code="500103")
        i4 = await actors.org_member(kind=ti, region_code="510700")
        i5 = await actors.org_member(kind=ti, parent=a, region_code="510100", verified=False)
        i6 = await actors.org_member(kind=ti, parent=b, region_code="500103")
        await designate(stack, actors, i1, "national", 2021)
        await designate(stack, actors, i2, "provincial", 2023)
        await designate(stack, actors, i3, "provincial", 2022)
        await designate(stack, actors, i4, "national", 2025)
        revoked = await stack.client.delete(f"/auth/organizations/{i4.org_id}/designation", headers=admin.headers)
        assert revoked.status_code == 200
        await designate(stack, actors, i5, "national", 2021)
        await designate(stack, actors, i6, "provincial", today_in_china().year + 1)
        for org, until in (
            (i1, dt.date(2026, 12, 31)),
            (i1, dt.date(2025, 12, 31)),
            (a, dt.date(2027, 6, 30)),
            (i3, dt.date(2026, 6, 30)),
            (i5, dt.date(2030, 1, 1)),
            (i2, None),
        ):
            await add_broker(stack, actors, org.org_id, valid_until=until)
        await actors.sync_directory()
        return {"a": a, "b": b, "i1": i1, "i2": i2, "i3": i3, "i6": i6}

    async def test_count_functions(self, stack: Stack, tree: dict[str, Actor]) -> None:
        june = dt.date(2026, 6, 30)
        next_year = dt.date(today_in_china().year + 1, 1, 1)
        async with stack.service_app("market").state.sessionmaker() as session:

            async def institutions(on: dt.date, regions: list[str] | None = None, path: str | None = None) -> int:
                return await directory.count_demonstration_institutions(
                    session=session, on=on, region_prefixes=regions, org_path=path
                )

            async def brokers(on: dt.date, regions: list[str] | None = None, path: str | None = None) -> int:
                return await directory.count_certified_brokers(
                    session=session, on=on, region_prefixes=regions, org_path=path
                )

            assert await institutions(june) == 3
            assert await institutions(dt.date(2022, 1, 1)) == 2
            assert await institutions(dt.date(2020, 12, 31)) == 0
            assert await institutions(june, ["51"]) == 2
            assert await institutions(june, ["50"]) == 1
            assert await institutions(june, ["5101"]) == 2
            assert await institutions(june, ["50", "51"]) == 3
            assert await institutions(june, []) == 0
            assert await institutions(june, path=tree["a"].org_path) == 2
            assert await institutions(june, path=tree["i3"].org_path) == 1
            assert await institutions(next_year) == 4

            assert await brokers(june) == 3
            assert await brokers(dt.date(2026, 7, 1)) == 2
            assert await brokers(dt.date(2025, 12, 31)) == 4
            assert await brokers(dt.date(2027, 7, 1)) == 0
            assert await brokers(june, ["50"]) == 1
            assert await brokers(june, ["51"]) == 2
            assert await brokers(june, []) == 0
            assert await brokers(june, path=tree["a"].org_path) == 2
            assert await brokers(june, path=tree["i1"].org_path) == 1

    async def test_summary_endpoint(self, stack: Stack, tree: dict[str, Actor]) -> None:
        response = await stack.client.get("/market/stats/institutions", params={"on": "2026-06-30"})
        assert response.status_code == 200, response.text
        a = {"id": str(tree["a"].org_id), "name": "成都分中心"}
        b = {"id": str(tree["b"].org_id), "name": "重庆分中心"}
        assert response.json() == {
            "on": "2026-06-30",
            "demonstration_institutions": {
                "total": 3,
                "by_level": {"national": 1, "provincial": 2},
                "by_sub_center": [{"sub_center": a, "count": 2}, {"sub_center": b, "count": 1}],
                "by_year": [{"year": 2021, "count": 1}, {"year": 2022, "count": 1}, {"year": 2023, "count": 1}],
            },
            "certified_brokers": {
                "total": 3,
                "by_sub_center": [{"sub_center": a, "count": 2}, {"sub_center": b, "count": 1}],
            },
        }
        today = await stack.client.get("/market/stats/institutions")
        assert today.status_code == 200
        assert today.json()["on"] == today_in_china().isoformat()

    @pytest.mark.parametrize("day", ["2026-13-01", "0", "1700000000", "2026-6-30"])
    async def test_bad_day_is_422(self, stack: Stack, day: str) -> None:
        # Only YYYY-MM-DD: a bare number would otherwise be read as a Unix timestamp (schemathesis found on=0).
        assert_problem(await stack.client.get("/market/stats/institutions", params={"on": day}), 422, field="on")
