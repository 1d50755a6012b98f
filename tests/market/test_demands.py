"""/market/demands: who may post, lifecycle, visibility and bad input (the rules shared with achievements are
covered in test_achievements; these are the demand-specific ones and the authorization cases again)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.conftest import Stack
from tests.market.helpers import create_listing, demand_body, transition
from tests.support.problems import assert_problem, error_fields

URL = "/market/demands"


class TestCreateDemand:
    @pytest.mark.parametrize("kind", ["enterprise", "research_institute", "university"])
    async def test_allowed_organization_kinds(self, stack: Stack, actors: Any, kind: str) -> None:
        actor = await actors.org_member(kind=kind, region_code="500103")
        response = await stack.client.post(URL, json=demand_body(), headers=actor.headers)
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["status"] == "draft"
        assert body["region_code"] == "500103"
        assert body["budget"] == {"kind": "fixed", "min_fen": 80_000_000, "max_fen": None}
        assert response.headers["etag"] == '"v1"'
        assert response.headers["location"] == f"{URL}/{body['id']}"

    @pytest.mark.parametrize("kind", ["transfer_institution", "government", "center"])
    async def test_other_kinds_are_403(self, stack: Stack, actors: Any, kind: str) -> None:
        actor = await actors.org_member(kind=kind)
        assert_problem(await stack.client.post(URL, json=demand_body(), headers=actor.headers), 403)

    @pytest.mark.parametrize(
        ("overrides", "field"),
        [
            ({"title": ""}, "title"),
            ({"technical_field": None}, "technical_field"),
            ({"desired_trl": 0}, "desired_trl"),
            ({"cooperation_modes": ["barter"]}, "cooperation_modes.0"),
            ({"budget": {"kind": "range", "min_fen": 5}}, "budget.max_fen"),
            ({"budget": {"kind": "fixed", "min_fen": "lots"}}, "budget.min_fen"),
            ({"deadline": "2000-02-02"}, "deadline"),
            ({"region_code": "51010x"}, "region_code"),
            ({"status": "published"}, "status"),
            ({"owner_org_id": str(uuid.uuid4())}, "owner_org_id"),
            ({"matched_at": "2026-01-01T00:00:00Z"}, "matched_at"),
        ],
    )
    async def test_bad_input_is_422(self, stack: Stack, actors: Any, overrides: dict[str, Any], field: str) -> None:
        company = await actors.org_member(kind="enterprise")
        response = await stack.client.post(URL, json=demand_body(**overrides), headers=company.headers)
        assert field in error_fields(assert_problem(response, 422))
        listed = await stack.client.get(URL, headers=company.headers)
        assert listed.json()["items"] == []

    async def test_idempotent_retry(self, stack: Stack, actors: Any) -> None:
        company = await actors.org_member(kind="enterprise")
        headers = {**company.headers, "Idempotency-Key": "demand-1"}
        first = await stack.client.post(URL, json=demand_body(), headers=headers)
        retry = await stack.client.post(URL, json=demand_body(), headers=headers)
        assert retry.json() == first.json()
        assert len((await stack.client.get(URL, headers=company.headers)).json()["items"]) == 1


class TestDemandLifecycle:
    async def test_draft_published_matched_closed(self, stack: Stack, actors: Any) -> None:
        company = await actors.org_member(kind="enterprise")
        demand = await create_listing(stack, company, "demands", demand_body())
        for action, status in (("publish", "published"), ("match", "matched"), ("close", "closed")):
            response = await transition(stack, company, "demands", demand["id"], action)
            assert response.json()["status"] == status
        # Closed is a public state: still readable by anyone, without contact.
        public = await stack.client.get(f"{URL}/{demand['id']}")
        assert public.json()["status"] == "closed"
        assert public.json()["contact"] is None

    @pytest.mark.parametrize("path", [["publish"], ["publish", "match"]])
    async def test_a_met_need_is_fulfilled_from_published_or_matched(
        self, stack: Stack, actors: Any, path: list[str]
    ) -> None:
        company = await actors.org_member(kind="enterprise")
        demand = await create_listing(stack, company, "demands", demand_body())
        for step in path:
            assert (await transition(stack, company, "demands", demand["id"], step)).status_code == 200
        response = await transition(stack, company, "demands", demand["id"], "fulfill")
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "fulfilled"
        # Fulfilled (已满足) is public and final.
        public = await stack.client.get(f"{URL}/{demand['id']}")
        assert (public.json()["status"], public.json()["contact"]) == ("fulfilled", None)
        listed = await stack.client.get(URL, params={"status": "fulfilled"})
        assert [d["id"] for d in listed.json()["items"]] == [demand["id"]]

    @pytest.mark.parametrize(
        ("path", "action"),
        [
            ([], "match"),
            ([], "close"),
            (["publish"], "close"),
            (["withdraw"], "match"),
            ([], "fulfill"),
            (["publish", "match", "close"], "fulfill"),
            (["publish", "fulfill"], "fulfill"),
            (["publish", "fulfill"], "withdraw"),
        ],
    )
    async def test_illegal_transitions_are_409(self, stack: Stack, actors: Any, path: list[str], action: str) -> None:
        company = await actors.org_member(kind="enterprise")
        demand = await create_listing(stack, company, "demands", demand_body())
        for step in path:
            await transition(stack, company, "demands", demand["id"], step)
        assert_problem(await transition(stack, company, "demands", demand["id"], action), 409)

    async def test_unverified_enterprise_cannot_publish(self, stack: Stack, actors: Any) -> None:
        company = await actors.org_member(kind="enterprise", verified=False)
        demand = await create_listing(stack, company, "demands", demand_body())
        assert_problem(await transition(stack, company, "demands", demand["id"], "publish"), 403)

    async def test_another_organization_cannot_see_edit_or_publish(self, stack: Stack, actors: Any) -> None:
        company = await actors.org_member(kind="enterprise")
        rival = await actors.org_member(kind="enterprise")
        draft = await create_listing(stack, company, "demands", demand_body())
        assert_problem(await stack.client.get(f"{URL}/{draft['id']}", headers=rival.headers), 404)
        headers = {**rival.headers, "If-Match": '"v1"'}
        assert_problem(await stack.client.post(f"{URL}/{draft['id']}/publish", headers=headers), 404)
        assert_problem(await stack.client.patch(f"{URL}/{draft['id']}", json={"title": "x"}, headers=headers), 404)
        published = await transition(stack, company, "demands", draft["id"], "publish")
        etag = published.headers["etag"]
        assert_problem(
            await stack.client.patch(
                f"{URL}/{draft['id']}", json={"title": "x"}, headers={**rival.headers, "If-Match": etag}
            ),
            403,
        )
        assert_problem(
            await stack.client.post(f"{URL}/{draft['id']}/withdraw", headers={**rival.headers, "If-Match": etag}), 403
        )
        seen = await stack.client.get(f"{URL}/{draft['id']}", headers=rival.headers)
        assert seen.json()["contact"] is None
        assert seen.json()["title"] == demand_body()["title"]

    async def test_update_requires_if_match_and_bumps_version(self, stack: Stack, actors: Any) -> None:
        company = await actors.org_member(kind="enterprise")
        demand = await create_listing(stack, company, "demands", demand_body())
        assert_problem(
            await stack.client.patch(f"{URL}/{demand['id']}", json={"desired_trl": 4}, headers=company.headers), 428
        )
        response = await stack.client.patch(
            f"{URL}/{demand['id']}",
            json={"desired_trl": 4, "budget": {"kind": "negotiable"}, "deadline": None},
            headers={**company.headers, "If-Match": '"v1"'},
        )
        assert response.status_code == 200, response.text
        assert response.json()["budget"] == {"kind": "negotiable", "min_fen": None, "max_fen": None}
        assert response.headers["etag"] == '"v2"'
        events = await stack.client.get(f"{URL}/{demand['id']}/events", headers=company.headers)
        assert events.json()["items"][-1]["details"] == {"fields": ["desired_trl", "budget"]}
        # /history is the deprecated alias of /events: the same answer.
        history = await stack.client.get(f"{URL}/{demand['id']}/history", headers=company.headers)
        assert history.status_code == 200
        assert history.json() == events.json()
        paths = (await stack.client.get("/market/openapi.json")).json()["paths"]
        assert paths["/demands/{listing_id}/history"]["get"]["deprecated"] is True


class TestListDemands:
    async def test_public_list_and_filters(self, stack: Stack, actors: Any) -> None:
        company = await actors.org_member(kind="enterprise", region_code="510104")
        demand = await create_listing(stack, company, "demands", demand_body())
        await create_listing(stack, company, "demands", demand_body(title="草稿需求"))
        await transition(stack, company, "demands", demand["id"], "publish")
        public = (await stack.client.get(URL, params={"region": "5101"})).json()
        assert [i["id"] for i in public["items"]] == [demand["id"]]
        assert (await stack.client.get(URL, params={"technical_field": "agriculture"})).json()["items"] == []
        assert_problem(await stack.client.get(URL, params={"status": "negotiating"}), 422)
