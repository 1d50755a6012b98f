"""/market/saved-searches: create, read, list, change, delete; validation; ownership (both backends)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Stack
from tests.support.actors import Actor, Actors
from tests.support.problems import assert_problem, error_fields

URL = "/market/saved-searches"


def body(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"name": "锂电池检测", "q": "锂电池 检测", "technical_field": "new_energy"}
    values.update(overrides)
    return values


async def create(stack: Stack, actor: Actor, **overrides: Any) -> dict[str, Any]:
    response = await stack.client.post(URL, json=body(**overrides), headers=actor.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


class TestCreate:
    async def test_created_with_defaults_location_and_etag(self, stack: Stack, actors: Actors) -> None:
        company = await actors.org_member(kind="enterprise")
        response = await stack.client.post(URL, json=body(trl_min=5, price_max_fen=10_000_000), headers=company.headers)
        assert response.status_code == 201, response.text
        saved = response.json()
        assert response.headers["location"] == f"{URL}/{saved['id']}"
        assert response.headers["etag"]
        assert {k: saved[k] for k in ("name", "kind", "q", "technical_field", "trl_min", "price_max_fen")} == {
            "name": "锂电池检测",
            "kind": "achievement",
            "q": "锂电池 检测",
            "technical_field": "new_energy",
            "trl_min": 5,
            "price_max_fen": 10_000_000,
        }
        assert (saved["matching"], saved["channel"], saved["frequency"], saved["active"]) == (
            "last",
            "inbox",
            "instant",
            True,
        )
        assert (saved["alerts_sent"], saved["last_alert_at"], saved["budget_min_fen"]) == (0, None, None)
        fetched = await stack.client.get(response.headers["location"], headers=company.headers)
        assert fetched.status_code == 200
        assert fetched.json() == saved

    async def test_demand_search_uses_the_demand_filter_names(self, stack: Stack, actors: Actors) -> None:
        uni = await actors.org_member(kind="university")
        saved = await create(
            stack,
            uni,
            kind="demand",
            budget_min_fen=1_000_000,
            cooperation_mode="license",
            matching="all",
            channel="webhook",
            frequency="daily",
        )
        assert (saved["kind"], saved["budget_min_fen"], saved["cooperation_mode"]) == ("demand", 1_000_000, "license")
        assert (saved["matching"], saved["channel"], saved["frequency"]) == ("all", "webhook", "daily")

    @pytest.mark.parametrize(
        ("overrides", "field"),
        [
            ({"q": "", "technical_field": None}, "q"),
            ({"trl_min": 7, "trl_max": 5}, "trl_min"),
            ({"price_min_fen": 500, "price_max_fen": 100}, "price_min_fen"),
            ({"kind": "demand", "budget_min_fen": 500, "budget_max_fen": 100}, "budget_min_fen"),
            ({"budget_min_fen": 100}, "budget_min_fen"),
            ({"kind": "demand", "transfer_mode": "transfer"}, "transfer_mode"),
            ({"kind": "demand", "ip_type": "utility_model"}, "ip_type"),
            ({"matching": "frequency"}, "matching"),
            ({"technical_field": "astrology"}, "technical_field"),
            ({"region": "999999"}, "region"),
            ({"trl_min": 10}, "trl_min"),
            ({"trl_min": "5"}, "trl_min"),
            ({"price_min_fen": -1}, "price_min_fen"),
            ({"name": ""}, "name"),
            ({"channel": "email"}, "channel"),
            ({"frequency": "hourly"}, "frequency"),
            ({"kind": "patent"}, "kind"),
            ({"active": "yes"}, "active"),
            ({"q": "x" * 201}, "q"),
            ({"ip_type": "Not A Code"}, "ip_type"),
            ({"owner_user_id": "someone"}, "owner_user_id"),
        ],
    )
    async def test_bad_input_is_422_naming_the_field_and_stores_nothing(
        self, stack: Stack, actors: Actors, overrides: dict[str, Any], field: str
    ) -> None:
        company = await actors.org_member(kind="enterprise")
        response = await stack.client.post(URL, json=body(**overrides), headers=company.headers)
        problem = assert_problem(response, 422)
        assert any(name.endswith(field) for name in error_fields(problem)), problem
        listed = await stack.client.get(URL, headers=company.headers)
        assert listed.json()["items"] == []

    async def test_idempotency_key_replays_the_first_answer(self, stack: Stack, actors: Actors) -> None:
        company = await actors.org_member(kind="enterprise")
        headers = {**company.headers, "Idempotency-Key": "3f1c2a9e-saved-search"}
        first = await stack.client.post(URL, json=body(), headers=headers)
        again = await stack.client.post(URL, json=body(), headers=headers)
        assert (first.status_code, again.status_code) == (201, 201)
        assert again.json() == first.json()
        assert again.headers["location"] == first.headers["location"]
        assert len((await stack.client.get(URL, headers=company.headers)).json()["items"]) == 1

    async def test_needs_a_token(self, stack: Stack) -> None:
        assert_problem(await stack.client.post(URL, json=body()), 401)
        assert_problem(await stack.client.get(URL), 401)

    async def test_cap_per_user(self, stack: Stack, actors: Actors) -> None:
        market = stack.service_app("market")
        market.state.settings = market.state.settings.model_copy(update={"saved_searches_per_user": 2})
        company = await actors.org_member(kind="enterprise")
        colleague = await actors.colleague(company)
        await create(stack, company, name="一")
        await create(stack, company, name="二")
        problem = assert_problem(await stack.client.post(URL, json=body(), headers=company.headers), 409)
        assert problem["limit"] == 2
        # The cap is per user: a colleague still has room.
        await create(stack, colleague, name="三")


class TestOwnership:
    async def test_others_get_404_everywhere(self, stack: Stack, actors: Actors) -> None:
        company = await actors.org_member(kind="enterprise")
        saved = await create(stack, company)
        colleague = await actors.colleague(company)  # same organization, another user
        stranger = await actors.org_member(kind="enterprise")
        admin = await actors.platform_admin()
        url = f"{URL}/{saved['id']}"
        for other in (colleague, stranger, admin):
            assert_problem(await stack.client.get(url, headers=other.headers), 404)
            assert_problem(await stack.client.patch(url, json={"name": "x"}, headers=other.headers), 404)
            assert_problem(await stack.client.delete(url, headers=other.headers), 404)
            listed = await stack.client.get(URL, headers=other.headers)
            assert saved["id"] not in [item["id"] for item in listed.json()["items"]]
        assert (await stack.client.get(url, headers=company.headers)).status_code == 200


class TestList:
    async def test_pages_cover_every_search_once_newest_first(self, stack: Stack, actors: Actors) -> None:
        company = await actors.org_member(kind="enterprise")
        ids = [(await create(stack, company, name=f"搜索{i}"))["id"] for i in range(5)]
        seen: list[str] = []
        cursor: str | None = None
        while True:
            params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
            response = await stack.client.get(URL, params=params, headers=company.headers)
            assert response.status_code == 200, response.text
            page = response.json()
            assert len(page["items"]) <= 2
            seen += [item["id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == list(reversed(ids))

    async def test_bad_cursor_is_422(self, stack: Stack, actors: Actors) -> None:
        company = await actors.org_member(kind="enterprise")
        response = await stack.client.get(URL, params={"cursor": "bm90LWEtY3Vyc29y"}, headers=company.headers)
        assert "cursor" in error_fields(assert_problem(response, 422))


class TestUpdateAndDelete:
    async def test_patch_changes_only_what_is_sent_and_null_clears_a_filter(self, stack: Stack, actors: Actors) -> None:
        company = await actors.org_member(kind="enterprise")
        saved = await create(stack, company, region="510100")
        url = f"{URL}/{saved['id']}"
        response = await stack.client.patch(
            url, json={"q": "固态电池", "region": None, "active": False}, headers=company.headers
        )
        assert response.status_code == 200, response.text
        changed = response.json()
        assert (changed["q"], changed["region"], changed["active"]) == ("固态电池", None, False)
        assert (changed["name"], changed["technical_field"]) == (saved["name"], saved["technical_field"])
        assert changed["version"] == saved["version"] + 1
        assert response.headers["etag"] == (await stack.client.get(url, headers=company.headers)).headers["etag"]

    @pytest.mark.parametrize(
        ("patch", "field"),
        [
            ({"q": "", "technical_field": None}, "q"),
            ({"trl_min": 9, "trl_max": 2}, "trl_min"),
            ({"kind": "demand"}, "kind"),
            ({"name": None}, "name"),
            ({"matching": "frequency"}, "matching"),
            ({"cooperation_mode": "license"}, "cooperation_mode"),
        ],
    )
    async def test_bad_patch_is_422_and_changes_nothing(
        self, stack: Stack, actors: Actors, patch: dict[str, Any], field: str
    ) -> None:
        company = await actors.org_member(kind="enterprise")
        saved = await create(stack, company)
        url = f"{URL}/{saved['id']}"
        problem = assert_problem(await stack.client.patch(url, json=patch, headers=company.headers), 422)
        assert any(name.endswith(field) for name in error_fields(problem)), problem
        assert (await stack.client.get(url, headers=company.headers)).json() == saved

    async def test_stale_if_match_is_412(self, stack: Stack, actors: Actors) -> None:
        company = await actors.org_member(kind="enterprise")
        saved = await create(stack, company)
        url = f"{URL}/{saved['id']}"
        etag = (await stack.client.get(url, headers=company.headers)).headers["etag"]
        ok = await stack.client.patch(url, json={"name": "新名"}, headers={**company.headers, "If-Match": etag})
        assert ok.status_code == 200, ok.text
        stale = await stack.client.patch(url, json={"name": "又一名"}, headers={**company.headers, "If-Match": etag})
        assert_problem(stale, 412)
        assert_problem(await stack.client.delete(url, headers={**company.headers, "If-Match": etag}), 412)

    async def test_delete(self, stack: Stack, actors: Actors) -> None:
        company = await actors.org_member(kind="enterprise")
        saved = await create(stack, company)
        url = f"{URL}/{saved['id']}"
        response = await stack.client.delete(url, headers=company.headers)
        assert response.status_code == 204, response.text
        assert_problem(await stack.client.get(url, headers=company.headers), 404)
        assert_problem(await stack.client.delete(url, headers=company.headers), 404)
