"""Contracts only in one's own name (issue 13): a seller submits its own contracts, a broker names verified or
declared-unverified parties, each party records how it was verified, and the import applies the same rule."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Stack
from tests.market.contracts.factories import payload, seller
from tests.market.contracts.test_contracts import count_contracts
from tests.market.contracts.test_import import import_row, post_import, to_csv
from tests.support.actors import Actor, Actors
from tests.support.codes import credit_code
from tests.support.problems import assert_problem


@pytest.fixture
async def broker(actors: Actors) -> Actor:
    sub_center = await actors.org_member(kind="sub_center")
    return await actors.org_member(kind="transfer_institution", roles=("broker", "member"), parent=sub_center)


def party(of: Actor, **extra: Any) -> dict[str, Any]:
    """``of``'s organization as a contract party, credit code as the directory has it."""
    return {
        "name": of.org_name,
        "credit_code": of.credit_code,
        "region_code": of.region_code,
        "entity_type": "enterprise" if of.org_kind == "enterprise" else "university",
        **({"ownership": "private"} if of.org_kind == "enterprise" else {}),
        **extra,
    }


async def post(stack: Stack, by: Actor, body: dict[str, Any]) -> Any:
    return await stack.client.post("/market/contracts", json=body, headers=by.headers)


class TestAsSeller:
    async def test_another_organizations_credit_code_is_403_and_nothing_is_stored(
        self, stack: Stack, actors: Actors, office: Actor
    ) -> None:
        university_a = await seller(actors)
        university_b = await seller(actors)
        before = await count_contracts(stack)
        # B names A as the seller, exactly as the public directory shows A (and even A's org id).
        for seller_party in (party(university_a), party(university_a, org_id=str(university_a.org_id))):
            response = await post(stack, university_b, payload(university_b, seller=seller_party))
            problem = assert_problem(response, 403, "seller.credit_code")
            assert problem["type"] == "urn:techmarket:problem:not-own-contract"
        assert await count_contracts(stack) == before
        # A's office queue does not show it either.
        queue = (await stack.client.get("/market/contracts?status=submitted", headers=office.headers)).json()
        assert queue["items"] == []

    async def test_own_credit_code_is_201_with_verification_self(
        self, stack: Stack, actors: Actors, office: Actor
    ) -> None:
        university = await seller(actors)
        buyer_org = await actors.org_member(kind="enterprise", region_code="500103")
        response = await post(stack, university, payload(university, buyer=party(buyer_org)))
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["seller"]["verification"] == "self"
        assert body["seller"]["org_id"] == str(university.org_id)
        # A buyer that is a verified organization is recognized (its members see the contract).
        assert body["buyer"]["verification"] == "directory"
        assert body["buyer"]["org_id"] == str(buyer_org.org_id)
        seen = await stack.client.get(f"/market/contracts/{body['id']}", headers=buyer_org.headers)
        assert seen.status_code == 200
        # A buyer the directory does not know is recorded unverified, not refused: the seller answers for it.
        other = (await post(stack, university, payload(university))).json()
        assert other["buyer"]["verification"] == "unverified"
        assert other["buyer"]["org_id"] is None

    async def test_a_party_org_id_must_be_the_organization_of_its_credit_code(
        self, stack: Stack, actors: Actors, office: Actor
    ) -> None:
        university = await seller(actors)
        stranger = await actors.org_member(kind="enterprise")
        body = payload(university)
        body["buyer"] = {**body["buyer"], "org_id": str(stranger.org_id)}
        assert_problem(await post(stack, university, body), 422, "buyer.org_id")
        assert await count_contracts(stack) == 0

    async def test_a_correction_cannot_name_another_seller(self, stack: Stack, actors: Actors, office: Actor) -> None:
        university_a = await seller(actors)
        university_b = await seller(actors)
        created = (await post(stack, university_b, payload(university_b))).json()
        url = f"/market/contracts/{created['id']}"
        response = await stack.client.patch(
            url, json={"seller": party(university_a)}, headers={**university_b.headers, "If-Match": '"v1"'}
        )
        assert_problem(response, 403, "seller.credit_code")
        after = (await stack.client.get(url, headers=university_b.headers)).json()
        assert (after["seller"]["credit_code"], after["version"]) == (university_b.credit_code, 1)
        # Correcting its own seller data (a new name) keeps verification self.
        renamed = await stack.client.patch(
            url,
            json={"seller": party(university_b, name="四川某大学（更名）")},
            headers={**university_b.headers, "If-Match": '"v1"'},
        )
        assert renamed.status_code == 200, renamed.text
        assert renamed.json()["seller"]["verification"] == "self"


class TestAsBroker:
    async def test_verified_parties_are_201_with_verification_directory(
        self, stack: Stack, actors: Actors, office: Actor, broker: Actor
    ) -> None:
        university = await seller(actors)
        buyer_org = await actors.org_member(kind="enterprise", region_code="500103")
        body = payload(university, submitted_as="broker", buyer=party(buyer_org))
        response = await post(stack, broker, body)
        assert response.status_code == 201, response.text
        created = response.json()
        assert created["broker_org_id"] == str(broker.org_id)
        assert (created["seller"]["verification"], created["buyer"]["verification"]) == ("directory", "directory")
        assert (created["seller"]["org_id"], created["buyer"]["org_id"]) == (
            str(university.org_id),
            str(buyer_org.org_id),
        )

    async def test_unknown_credit_code_not_declared_unverified_is_403(
        self, stack: Stack, actors: Actors, office: Actor, broker: Actor
    ) -> None:
        university = await seller(actors)
        pending = await actors.org_member(kind="enterprise", verified=False)
        for buyer_party in (
            payload(university)["buyer"],  # a credit code the directory does not know
            party(pending),  # known, but not verified
        ):
            response = await post(stack, broker, payload(university, submitted_as="broker", buyer=buyer_party))
            problem = assert_problem(response, 403, "buyer.credit_code")
            assert problem["type"] == "urn:techmarket:problem:party-not-verified"
        unknown_seller = {**party(university), "credit_code": credit_code(), "name": "某某研究所"}
        response = await post(stack, broker, payload(university, submitted_as="broker", seller=unknown_seller))
        assert_problem(response, 403, "seller.credit_code")
        assert await count_contracts(stack) == 0

    async def test_declared_unverified_is_201_for_the_registrar_to_check(
        self, stack: Stack, actors: Actors, office: Actor, broker: Actor
    ) -> None:
        university = await seller(actors)
        body = payload(university, submitted_as="broker")
        body["seller"] = {**body["seller"], "credit_code": credit_code(), "unverified": True}
        body["buyer"] = {**body["buyer"], "unverified": True}
        response = await post(stack, broker, body)
        assert response.status_code == 201, response.text
        created = response.json()
        assert (created["seller"]["verification"], created["buyer"]["verification"]) == ("unverified", "unverified")
        assert (created["seller"]["org_id"], created["buyer"]["org_id"]) == (None, None)
        # The registrar's view and queue show it.
        seen = (await stack.client.get(f"/market/contracts/{created['id']}", headers=office.headers)).json()
        assert seen["seller"]["verification"] == "unverified"
        queue = (await stack.client.get("/market/contracts?status=submitted", headers=office.headers)).json()
        assert [(c["seller"]["verification"], c["buyer"]["verification"]) for c in queue["items"]] == [
            ("unverified", "unverified")
        ]

    async def test_unverified_flag_must_be_a_boolean(
        self, stack: Stack, actors: Actors, office: Actor, broker: Actor
    ) -> None:
        university = await seller(actors)
        body = payload(university, submitted_as="broker")
        body["buyer"] = {**body["buyer"], "unverified": "yes"}
        assert_problem(await post(stack, broker, body), 422, "buyer.unverified")

    @pytest.mark.parametrize(
        ("kind", "roles", "slug"),
        [
            # Auth gives the broker role only in a transfer institution, sub-center or the center (the kind check of
            # authorize_broker backs that up); a member without the role is no broker even there.
            ("university", ("member",), "broker-role-required"),
            ("enterprise", ("org_admin", "member"), "broker-role-required"),
            ("transfer_institution", ("member",), "broker-role-required"),
        ],
    )
    async def test_a_non_broker_organization_submitting_as_broker_is_403(
        self, stack: Stack, actors: Actors, office: Actor, kind: str, roles: tuple[str, ...], slug: str
    ) -> None:
        university = await seller(actors)
        caller = await actors.org_member(kind=kind, roles=roles)
        body = payload(university, submitted_as="broker")
        body["buyer"] = {**body["buyer"], "unverified": True}
        problem = assert_problem(await post(stack, caller, body), 403)
        assert problem["type"] == f"urn:techmarket:problem:{slug}"
        assert await count_contracts(stack) == 0


class TestRegistrarView:
    async def test_the_registrar_sees_how_each_party_was_verified(
        self, stack: Stack, actors: Actors, office: Actor, broker: Actor
    ) -> None:
        university = await seller(actors)
        own = (await post(stack, university, payload(university))).json()
        brokered = payload(university, submitted_as="broker")
        brokered["buyer"] = {**brokered["buyer"], "unverified": True}
        by_broker = (await post(stack, broker, brokered)).json()
        expected = {
            own["id"]: ("self", "unverified"),
            by_broker["id"]: ("directory", "unverified"),
        }
        for contract_id, verification in expected.items():
            seen = (await stack.client.get(f"/market/contracts/{contract_id}", headers=office.headers)).json()
            assert (seen["seller"]["verification"], seen["buyer"]["verification"]) == verification
        queue = (await stack.client.get("/market/contracts?status=submitted", headers=office.headers)).json()
        assert {c["id"]: (c["seller"]["verification"], c["buyer"]["verification"]) for c in queue["items"]} == expected


class TestImport:
    async def test_each_row_applies_the_rule(self, stack: Stack, actors: Actors, office: Actor) -> None:
        member = await seller(actors, region_code="510107")
        rows = [
            # Verified organization of the directory: imported, recognized.
            import_row(seller_credit_code=member.credit_code, seller_unverified="", buyer_unverified="true"),
            # Unknown credit code not declared unverified: the row fails, naming the party.
            import_row(seller_unverified="false"),
            # Declared unverified: imported for the registrar to check.
            import_row(),
            import_row(buyer_unverified="maybe"),
        ]
        response = await post_import(stack, office, to_csv(rows))
        assert response.status_code == 200, response.text
        report = response.json()
        assert (report["imported"], report["failed"]) == (2, 2)
        by_row = {r["row"]: r for r in report["rows"]}
        assert [e["field"] for e in by_row[3]["errors"]] == ["seller.credit_code"]
        assert by_row[3]["errors"][0]["type"] == "party_not_verified"
        assert [e["field"] for e in by_row[5]["errors"]] == ["buyer_unverified"]
        recognized = (
            await stack.client.get(f"/market/contracts/{by_row[2]['contract_id']}", headers=office.headers)
        ).json()
        assert (recognized["seller"]["verification"], recognized["seller"]["org_id"]) == (
            "directory",
            str(member.org_id),
        )
        declared = (
            await stack.client.get(f"/market/contracts/{by_row[4]['contract_id']}", headers=office.headers)
        ).json()
        assert (declared["seller"]["verification"], declared["buyer"]["verification"]) == ("unverified", "unverified")
