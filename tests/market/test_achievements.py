"""/market/achievements: create, read, list, update, lifecycle, history — rules, authorization and bad input."""

from __future__ import annotations

import unicodedata
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from services.market.audit.models import AuditEvent
from services.market.listings.models import Achievement
from services.market.outbox.models import OutboxEvent
from tests.conftest import Stack
from tests.market.helpers import achievement_body, create_listing, transition
from tests.support.problems import assert_problem, error_fields

URL = "/market/achievements"


async def count(stack: Stack, model: Any) -> int:
    async with stack.service_app("market").state.sessionmaker() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def published(stack: Stack, actor: Any, **overrides: Any) -> dict[str, Any]:
    created = await create_listing(stack, actor, **overrides)
    response = await transition(stack, actor, "achievements", created["id"], "publish")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


class TestCreateAchievement:
    async def test_university_creates_a_draft_with_location_and_etag(self, stack: Stack, actors: Any) -> None:
        uni = await actors.org_member(kind="university", region_code="510104")
        response = await stack.client.post(URL, json=achievement_body(), headers=uni.headers)
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["status"] == "draft"
        assert body["version"] == 1
        assert body["owner_org_id"] == str(uni.org_id)
        assert body["region_code"] == "510104"  # defaults to the owner's region
        assert body["contact"]["name"] == "王老师"
        assert response.headers["location"] == f"{URL}/{body['id']}"
        assert response.headers["etag"] == '"v1"'
        assert uuid.UUID(body["id"]).version == 7

    async def test_research_institute_may_list(self, stack: Stack, actors: Any) -> None:
        institute = await actors.org_member(kind="research_institute")
        await create_listing(stack, institute)

    @pytest.mark.parametrize("kind", ["enterprise", "transfer_institution", "registration_office"])
    async def test_other_organization_kinds_are_403(self, stack: Stack, actors: Any, kind: str) -> None:
        actor = await actors.org_member(kind=kind)
        assert_problem(await stack.client.post(URL, json=achievement_body(), headers=actor.headers), 403)
        assert await count(stack, Achievement) == 0

    async def test_anonymous_is_401_and_service_client_is_403(self, stack: Stack, actors: Any) -> None:
        assert_problem(await stack.client.post(URL, json=achievement_body()), 401)
        client = await actors.service_client(scopes=["market:read"])
        assert_problem(await stack.client.post(URL, json=achievement_body(), headers=client.headers), 403)

    async def test_text_is_nfc_trimmed_and_codes_half_width(self, stack: Stack, actors: Any) -> None:
        uni = await actors.org_member(kind="university")
        decomposed = unicodedata.normalize("NFD", "Café 检测")
        body = await create_listing(
            stack,
            uni,
            title=f"  {decomposed}  ",
            keywords=[" 无人机 ", "无人机"],
            ipc_codes=["ｂ６４ｕ２０/８０", "g06f16/33"],
            patents=[{"application_no": "ＣＮ２０２２２３２２０６６５．２", "publication_no": "ｃｎ218751475ｕ"}],
            technical_field="ＡＥＲＯＳＰＡＣＥ",
        )
        assert body["title"] == unicodedata.normalize("NFC", "Café 检测")
        assert body["keywords"] == ["无人机"]
        assert body["ipc_codes"] == ["B64U 20/80", "G06F 16/33"]
        assert body["patents"] == [{"application_no": "202223220665.2", "publication_no": "CN218751475U"}]
        assert body["technical_field"] == "aerospace"

    @pytest.mark.parametrize(
        "field",
        [
            "status",
            "owner_org_id",
            "id",
            "version",
            "created_at",
            "updated_at",
            "published_at",
            "org_verified",
            "natural_key",
        ],
    )
    async def test_mass_assignment_is_422_naming_the_field(self, stack: Stack, actors: Any, field: str) -> None:
        uni = await actors.org_member(kind="university")
        response = await stack.client.post(URL, json=achievement_body(**{field: "published"}), headers=uni.headers)
        body = assert_problem(response, 422)
        assert error_fields(body) == [field]
        assert await count(stack, Achievement) == 0

    @pytest.mark.parametrize(
        ("overrides", "field"),
        [
            ({"title": "   "}, "title"),
            ({"title": "x" * 201}, "title"),
            ({"technical_field": "space_opera"}, "technical_field"),
            ({"ip_type": "trademark"}, "ip_type"),
            ({"trl": 0}, "trl"),
            ({"trl": 10}, "trl"),
            ({"transfer_modes": ["rent"]}, "transfer_modes.0"),
            ({"ipc_codes": ["G06F16"]}, "ipc_codes"),
            ({"ipc_codes": ["Z99Z 1/00"]}, "ipc_codes"),
            ({"patents": [{"application_no": "202223220665.3"}]}, "patents.0.application_no"),
            ({"patents": [{"application_no": "202243220665.2"}]}, "patents.0.application_no"),
            ({"patents": [{"application_no": "20222322066.2"}]}, "patents.0.application_no"),
            (
                {"patents": [{"application_no": "202223220665.2", "publication_no": "CN21875147U"}]},
                "patents.0.publication_no",
            ),
            ({"patents": [{"application_no": "202223220665.2"}, {"application_no": "202223220665.2"}]}, "patents"),
            ({"price": {"kind": "fixed"}}, "price.min_fen"),
            ({"price": {"kind": "range", "min_fen": 10, "max_fen": 5}}, "price.max_fen"),
            ({"price": {"kind": "negotiable", "min_fen": 10}}, "price.min_fen"),
            ({"price": {"kind": "fixed", "min_fen": -1}}, "price.min_fen"),
            ({"price": {"kind": "fixed", "min_fen": 1.5}}, "price.min_fen"),
            ({"price": {"kind": "barter"}}, "price.kind"),
            ({"region_code": "990000"}, "region_code"),
            ({"region_code": "5101"}, "region_code"),
            ({"contact": {"name": "王"}}, "contact.email"),
            ({"contact": {"name": "王", "email": "not-an-email"}}, "contact.email"),
            ({"contact": {"name": "王", "phone": "call me"}}, "contact.phone"),
            ({"contact": {"name": "王", "phone": "13800000000", "wechat": "x"}}, "contact.wechat"),
            ({"valid_until": "2020-01-01"}, "valid_until"),
            ({"valid_until": "someday"}, "valid_until"),
            ({"keywords": ["x"] * 21}, "keywords"),
            ({"inventors": [""]}, "inventors.0"),
        ],
    )
    async def test_bad_input_is_422_naming_the_field(
        self, stack: Stack, actors: Any, overrides: dict[str, Any], field: str
    ) -> None:
        uni = await actors.org_member(kind="university")
        response = await stack.client.post(URL, json=achievement_body(**overrides), headers=uni.headers)
        body = assert_problem(response, 422)
        assert field in error_fields(body), body
        assert await count(stack, Achievement) == 0
        assert await count(stack, OutboxEvent) == 0

    async def test_missing_required_fields_are_named(self, stack: Stack, actors: Any) -> None:
        uni = await actors.org_member(kind="university")
        body = assert_problem(await stack.client.post(URL, json={}, headers=uni.headers), 422)
        assert set(error_fields(body)) == {"title", "technical_field", "ip_type"}

    async def test_malformed_json_is_400(self, stack: Stack, actors: Any) -> None:
        uni = await actors.org_member(kind="university")
        response = await stack.client.post(
            URL, content=b'{"title": ', headers={**uni.headers, "content-type": "application/json"}
        )
        assert_problem(response, 400)

    async def test_same_patent_twice_is_409_with_existing_id(self, stack: Stack, actors: Any) -> None:
        uni = await actors.org_member(kind="university")
        first = await create_listing(stack, uni)
        response = await stack.client.post(URL, json=achievement_body(title="另一个标题"), headers=uni.headers)
        body = assert_problem(response, 409)
        assert body["existing_id"] == first["id"]
        # Another organization may list the same patent number (e.g. a co-owner).
        other = await actors.org_member(kind="university")
        await create_listing(stack, other)

    async def test_same_title_without_patents_is_409(self, stack: Stack, actors: Any) -> None:
        uni = await actors.org_member(kind="university")
        await create_listing(stack, uni, patents=[], title="Know-how 甲")
        response = await stack.client.post(
            URL, json=achievement_body(patents=[], title="know-how 甲 "), headers=uni.headers
        )
        assert_problem(response, 409)


class TestIdempotentCreate:
    async def test_retry_returns_first_response_and_creates_once(self, stack: Stack, actors: Any) -> None:
        uni = await actors.org_member(kind="university")
        headers = {**uni.headers, "Idempotency-Key": "import-2026-11-26-001"}
        first = await stack.client.post(URL, json=achievement_body(), headers=headers)
        retry = await stack.client.post(URL, json=achievement_body(), headers=headers)
        assert first.status_code == retry.status_code == 201
        assert retry.json() == first.json()
        assert retry.headers["location"] == first.headers["location"]
        assert retry.headers["etag"] == first.headers["etag"]
        assert retry.headers["idempotent-replayed"] == "true"
        assert await count(stack, Achievement) == 1
        assert await count(stack, OutboxEvent) == 1

    async def test_same_key_different_body_is_422(self, stack: Stack, actors: Any) -> None:
        uni = await actors.org_member(kind="university")
        headers = {**uni.headers, "Idempotency-Key": "k-1"}
        await stack.client.post(URL, json=achievement_body(), headers=headers)
        response = await stack.client.post(URL, json=achievement_body(title="别的"), headers=headers)
        body = assert_problem(response, 422)
        assert error_fields(body) == ["Idempotency-Key"]
        assert await count(stack, Achievement) == 1

    async def test_key_is_scoped_to_the_caller(self, stack: Stack, actors: Any) -> None:
        uni = await actors.org_member(kind="university")
        colleague = await actors.colleague(uni)
        await stack.client.post(URL, json=achievement_body(), headers={**uni.headers, "Idempotency-Key": "same"})
        response = await stack.client.post(
            URL,
            json=achievement_body(patents=[], title="同事的成果"),
            headers={**colleague.headers, "Idempotency-Key": "same"},
        )
        assert response.status_code == 201
        assert await count(stack, Achievement) == 2


class TestGetAchievement:
    async def test_public_view_hides_contact_owner_sees_it(self, stack: Stack, actors: Any) -> None:
        uni = await actors.org_member(kind="university")
        listing = await published(stack, uni)
        anonymous = await stack.client.get(f"{URL}/{listing['id']}")
        assert anonymous.status_code == 200
        assert anonymous.json()["contact"] is None
        assert anonymous.headers["etag"] == '"v2"'
        enterprise = await actors.org_member(kind="enterprise")
        other = await stack.client.get(f"{URL}/{listing['id']}", headers=enterprise.headers)
        assert other.json()["contact"] is None
        owner = await stack.client.get(f"{URL}/{listing['id']}", headers=uni.headers)
        assert owner.json()["contact"]["phone"] == "028-85400000"
        colleague = await actors.colleague(uni)
        assert (await stack.client.get(f"{URL}/{listing['id']}", headers=colleague.headers)).json()["contact"]
        admin = await actors.platform_admin()
        assert (await stack.client.get(f"{URL}/{listing['id']}", headers=admin.headers)).json()["contact"]

    async def test_drafts_of_others_are_404(self, stack: Stack, actors: Any) -> None:
        uni = await actors.org_member(kind="university")
        draft = await create_listing(stack, uni)
        assert_problem(await stack.client.get(f"{URL}/{draft['id']}"), 404)
        other = await actors.org_member(kind="university")
        assert_problem(await stack.client.get(f"{URL}/{draft['id']}", headers=other.headers), 404)
        owner = await stack.client.get(f"{URL}/{draft['id']}", headers=uni.headers)
        assert owner.status_code == 200
        assert owner.headers["etag"] == '"v1"'

    async def test_withdrawn_of_others_is_404(self, stack: Stack, actors: Any) -> None:
        uni = await actors.org_member(kind="university")
        listing = await published(stack, uni)
        assert (await transition(stack, uni, "achievements", listing["id"], "withdraw")).status_code == 200
        assert_problem(await stack.client.get(f"{URL}/{listing['id']}"), 404)
        assert (await stack.client.get(f"{URL}/{listing['id']}", headers=uni.headers)).status_code == 200

    async def test_unknown_and_malformed_ids(self, stack: Stack) -> None:
        assert_problem(await stack.client.get(f"{URL}/{uuid.uuid4()}"), 404)
        body = assert_problem(await stack.client.get(f"{URL}/not-a-uuid"), 422)
        assert error_fields(body) == ["listing_id"]

    async def test_invalid_token_is_401(self, stack: Stack) -> None:
        assert_problem(await stack.client.get(f"{URL}/{uuid.uuid4()}", headers={"Authorization": "Bearer nope"}), 401)


class TestListAchievements:
    async def test_anonymous_sees_only_public_without_contacts(self, stack: Stack, actors: Any) -> None:
        uni = await actors.org_member(kind="university")
        public = await published(stack, uni)
        await create_listing(stack, uni, patents=[], title="草稿")
        page = (await stack.client.get(URL)).json()
        assert [i["id"] for i in page["items"]] == [public["id"]]
        assert page["items"][0]["contact"] is None
        owner_page = (await stack.client.get(URL, headers=uni.headers)).json()
        assert len(owner_page["items"]) == 2
        assert all(i["contact"] for i in owner_page["items"])
        other = await actors.org_member(kind="university")
        other_page = (await stack.client.get(URL, params={"status": "draft"}, headers=other.headers)).json()
        assert other_page["items"] == []

    async def test_the_list_shows_drafts_only_to_whom_get_shows_them(self, stack: Stack, actors: Any) -> None:
        # A statistician of the owner university (no member role) gets 404 on the draft: the list must not show
        # it either (the list once matched the caller's organization whatever its roles).
        uni = await actors.org_member(kind="university")
        draft = await create_listing(stack, uni, patents=[], title="草稿")
        statistician = await actors.colleague(uni, roles=("statistician",))
        assert_problem(await stack.client.get(f"{URL}/{draft['id']}", headers=statistician.headers), 404)
        page = (await stack.client.get(URL, params={"status": "draft"}, headers=statistician.headers)).json()
        assert page["items"] == []

    async def test_filters(self, stack: Stack, actors: Any) -> None:
        chengdu = await actors.org_member(kind="university", region_code="510104")
        chongqing = await actors.org_member(kind="university", region_code="500103")
        a = await published(stack, chengdu)
        b = await published(stack, chongqing, technical_field="new_materials", patents=[], title="石墨烯")

        async def ids(**params: Any) -> set[str]:
            response = await stack.client.get(URL, params=params)
            assert response.status_code == 200, response.text
            return {i["id"] for i in response.json()["items"]}

        assert await ids(technical_field="aerospace") == {a["id"]}
        assert await ids(region="51") == {a["id"]}
        assert await ids(region="510000") == {a["id"]}
        assert await ids(region="510100") == {a["id"]}
        assert await ids(region="500000") == {b["id"]}
        assert await ids(owner_org_id=str(chongqing.org_id)) == {b["id"]}
        assert await ids(status="published") == {a["id"], b["id"]}
        assert await ids(status="draft") == set()
        assert await ids(updated_since="2000-01-01T00:00:00+08:00") == {a["id"], b["id"]}
        assert await ids(updated_since="2999-01-01T00:00:00Z") == set()

    async def test_cursor_pagination_newest_first(self, stack: Stack, actors: Any) -> None:
        uni = await actors.org_member(kind="university")
        made = [(await create_listing(stack, uni, patents=[], title=f"成果 {i}"))["id"] for i in range(5)]
        seen: list[str] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 2}
            if cursor:
                params["cursor"] = cursor
            page = (await stack.client.get(URL, params=params, headers=uni.headers)).json()
            seen += [i["id"] for i in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == list(reversed(made))

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"status": "sold"}, "status"),
            ({"technical_field": "magic"}, "technical_field"),
            ({"region": "5"}, "region"),
            ({"region": "51a"}, "region"),
            ({"owner_org_id": "acme"}, "owner_org_id"),
            ({"updated_since": "2026-01-01T00:00:00"}, "updated_since"),
            ({"updated_since": "yesterday"}, "updated_since"),
            # Found by schemathesis: a number is no instant (pydantic alone reads it as seconds since 1970).
            ({"updated_since": "0.5"}, "updated_since"),
            ({"updated_since": "1700000000"}, "updated_since"),
            ({"limit": 0}, "limit"),
            ({"limit": 101}, "limit"),
            ({"cursor": "!!!"}, "cursor"),
            ({"cursor": "WyJ4Il0"}, "cursor"),
        ],
    )
    async def test_bad_filters_are_422(self, stack: Stack, params: dict[str, Any], field: str) -> None:
        body = assert_problem(await stack.client.get(URL, params=params), 422)
        assert field in error_fields(body)


class TestUpdateAchievement:
    async def test_partial_update_bumps_version_and_etag(self, stack: Stack, actors: Any) -> None:
        uni = await actors.org_member(kind="university")
        listing = await create_listing(stack, uni)
        response = await stack.client.patch(
            f"{URL}/{listing['id']}",
            json={"title": " 新标题 ", "summary": None, "trl": 7},
            headers={**uni.headers, "If-Match": '"v1"'},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["title"] == "新标题"
        assert body["summary"] is None
        assert body["trl"] == 7
        assert body["description"] == listing["description"]
        assert body["version"] == 2
        assert response.headers["etag"] == '"v2"'

    async def test_without_if_match_is_428_and_stale_is_412(self, stack: Stack, actors: Any) -> None:
        uni = await actors.org_member(kind="university")
        listing = await create_listing(stack, uni)
        body = assert_problem(
            await stack.client.patch(f"{URL}/{listing['id']}", json={"trl": 3}, headers=uni.headers), 428
        )
        assert error_fields(body) == ["If-Match"]
        ok = await stack.client.patch(
            f"{URL}/{listing['id']}", json={"trl": 3}, headers={**uni.headers, "If-Match": '"v1"'}
        )
        assert ok.status_code == 200
        stale = await stack.client.patch(
            f"{URL}/{listing['id']}", json={"trl": 4}, headers={**uni.headers, "If-Match": '"v1"'}
        )
        assert assert_problem(stale, 412)["current_etag"] == '"v2"'
        current = (await stack.client.get(f"{URL}/{listing['id']}", headers=uni.headers)).json()
        assert current["trl"] == 3

    async def test_another_organization_cannot_edit(self, stack: Stack, actors: Any) -> None:
        uni = await actors.org_member(kind="university")
        draft = await create_listing(stack, uni)
        public = await published(stack, uni, patents=[], title="已发布")
        other = await actors.org_member(kind="university")
        headers = {**other.headers, "If-Match": '"v1"'}
        assert_problem(await stack.client.patch(f"{URL}/{draft['id']}", json={"trl": 1}, headers=headers), 404)
        assert_problem(
            await stack.client.patch(
                f"{URL}/{public['id']}", json={"trl": 1}, headers={**other.headers, "If-Match": '"v2"'}
            ),
            403,
        )
        admin = await actors.platform_admin()
        assert_problem(
            await stack.client.patch(
                f"{URL}/{public['id']}", json={"trl": 1}, headers={**admin.headers, "If-Match": '"v2"'}
            ),
            403,
        )
        assert (await stack.client.get(f"{URL}/{public['id']}")).json()["trl"] == 6

    @pytest.mark.parametrize(
        ("patch", "field"),
        [
            ({"status": "published"}, "status"),
            ({"owner_org_id": str(uuid.uuid4())}, "owner_org_id"),
            ({"version": 9}, "version"),
            ({"title": None}, "title"),
            ({"price": None}, "price"),
            ({"ip_type": None}, "ip_type"),
            ({"trl": 12}, "trl"),
            ({"ipc_codes": ["nope"]}, "ipc_codes"),
            ({"valid_until": "2001-01-01"}, "valid_until"),
        ],
    )
    async def test_bad_patch_is_422_and_changes_nothing(
        self, stack: Stack, actors: Any, patch: dict[str, Any], field: str
    ) -> None:
        uni = await actors.org_member(kind="university")
        listing = await create_listing(stack, uni)
        response = await stack.client.patch(
            f"{URL}/{listing['id']}", json=patch, headers={**uni.headers, "If-Match": '"v1"'}
        )
        assert field in error_fields(assert_problem(response, 422))
        after = (await stack.client.get(f"{URL}/{listing['id']}", headers=uni.headers)).json()
        assert after == listing

    async def test_closed_states_are_409(self, stack: Stack, actors: Any) -> None:
        uni = await actors.org_member(kind="university")
        listing = await create_listing(stack, uni)
        withdrawn = await transition(stack, uni, "achievements", listing["id"], "withdraw")
        response = await stack.client.patch(
            f"{URL}/{listing['id']}", json={"trl": 2}, headers={**uni.headers, "If-Match": withdrawn.headers["etag"]}
        )
        assert assert_problem(response, 409)["status"] == 409

    async def test_noop_patch_changes_no_version(self, stack: Stack, actors: Any) -> None:
        uni = await actors.org_member(kind="university")
        listing = await create_listing(stack, uni)
        response = await stack.client.patch(
            f"{URL}/{listing['id']}", json={"trl": listing["trl"]}, headers={**uni.headers, "If-Match": '"v1"'}
        )
        assert response.json()["version"] == 1
        assert await count(stack, OutboxEvent) == 1

    async def test_changing_title_onto_another_listing_is_409(self, stack: Stack, actors: Any) -> None:
        uni = await actors.org_member(kind="university")
        await create_listing(stack, uni, patents=[], title="甲")
        second = await create_listing(stack, uni, patents=[], title="乙")
        response = await stack.client.patch(
            f"{URL}/{second['id']}", json={"title": "甲"}, headers={**uni.headers, "If-Match": '"v1"'}
        )
        assert_problem(response, 409)


class TestAchievementLifecycle:
    async def test_full_path_draft_to_transferred(self, stack: Stack, actors: Any) -> None:
        uni = await actors.org_member(kind="university")
        listing = await create_listing(stack, uni)
        statuses = []
        for action in ("publish", "negotiate", "transfer"):
            response = await transition(stack, uni, "achievements", listing["id"], action)
            assert response.status_code == 200, response.text
            statuses.append(response.json()["status"])
        assert statuses == ["published", "negotiating", "transferred"]
        final = (await stack.client.get(f"{URL}/{listing['id']}")).json()
        assert final["version"] == 4
        assert final["published_at"] is not None

    async def test_a_published_achievement_may_be_transferred_without_negotiation(
        self, stack: Stack, actors: Any
    ) -> None:
        # A brokered deal concludes by a registered contract; the owner records it from published directly.
        uni = await actors.org_member(kind="university")
        listing = await create_listing(stack, uni)
        await transition(stack, uni, "achievements", listing["id"], "publish")
        response = await transition(stack, uni, "achievements", listing["id"], "transfer")
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "transferred"

    @pytest.mark.parametrize(
        ("path", "action"),
        [
            ([], "negotiate"),
            ([], "transfer"),
            (["publish"], "publish"),
            (["publish", "transfer"], "transfer"),
            (["publish", "transfer"], "negotiate"),
            (["publish", "negotiate", "transfer"], "withdraw"),
            (["withdraw"], "publish"),
            (["withdraw"], "withdraw"),
        ],
    )
    async def test_illegal_transitions_are_409(self, stack: Stack, actors: Any, path: list[str], action: str) -> None:
        uni = await actors.org_member(kind="university")
        listing = await create_listing(stack, uni)
        for step in path:
            assert (await transition(stack, uni, "achievements", listing["id"], step)).status_code == 200
        before = (await stack.client.get(f"{URL}/{listing['id']}", headers=uni.headers)).json()
        body = assert_problem(await transition(stack, uni, "achievements", listing["id"], action), 409)
        assert body["status"] == 409
        after = (await stack.client.get(f"{URL}/{listing['id']}", headers=uni.headers)).json()
        assert after == before

    @pytest.mark.parametrize("source", ["draft", "published", "negotiating"])
    async def test_withdraw_from_any_open_state(self, stack: Stack, actors: Any, source: str) -> None:
        uni = await actors.org_member(kind="university")
        listing = await create_listing(stack, uni)
        steps = {"draft": [], "published": ["publish"], "negotiating": ["publish", "negotiate"]}[source]
        for step in steps:
            await transition(stack, uni, "achievements", listing["id"], step)
        response = await transition(stack, uni, "achievements", listing["id"], "withdraw")
        assert response.json()["status"] == "withdrawn"

    async def test_publishing_needs_a_verified_organization(self, stack: Stack, actors: Any) -> None:
        unverified = await actors.org_member(kind="university", verified=False)
        listing = await create_listing(stack, unverified)
        body = assert_problem(await transition(stack, unverified, "achievements", listing["id"], "publish"), 403)
        assert body["type"].endswith("organization-not-verified")
        assert (await stack.client.get(f"{URL}/{listing['id']}", headers=unverified.headers)).json()[
            "status"
        ] == "draft"

    async def test_another_organization_cannot_publish_or_withdraw(self, stack: Stack, actors: Any) -> None:
        uni = await actors.org_member(kind="university")
        draft = await create_listing(stack, uni)
        public = await published(stack, uni, patents=[], title="公开的")
        other = await actors.org_member(kind="university")
        assert_problem(
            await stack.client.post(f"{URL}/{draft['id']}/publish", headers={**other.headers, "If-Match": '"v1"'}), 404
        )
        assert_problem(
            await stack.client.post(f"{URL}/{public['id']}/withdraw", headers={**other.headers, "If-Match": '"v2"'}),
            403,
        )
        assert_problem(await stack.client.post(f"{URL}/{public['id']}/withdraw", headers={"If-Match": '"v2"'}), 401)

    async def test_transitions_need_if_match(self, stack: Stack, actors: Any) -> None:
        uni = await actors.org_member(kind="university")
        listing = await create_listing(stack, uni)
        assert_problem(await stack.client.post(f"{URL}/{listing['id']}/publish", headers=uni.headers), 428)
        assert_problem(
            await stack.client.post(f"{URL}/{listing['id']}/publish", headers={**uni.headers, "If-Match": '"v7"'}), 412
        )
        assert_problem(
            await stack.client.post(f"{URL}/{uuid.uuid4()}/publish", headers={**uni.headers, "If-Match": '"v1"'}), 404
        )

    async def test_never_hard_deleted(self, stack: Stack, actors: Any) -> None:
        uni = await actors.org_member(kind="university")
        listing = await create_listing(stack, uni)
        response = await stack.client.delete(f"{URL}/{listing['id']}", headers=uni.headers)
        assert response.status_code == 405
        assert await count(stack, Achievement) == 1


class TestAchievementHistory:
    async def test_every_change_is_audited_with_actor_org_and_request_id(self, stack: Stack, actors: Any) -> None:
        uni = await actors.org_member(kind="university")
        colleague = await actors.colleague(uni)
        listing = await create_listing(stack, uni)
        await stack.client.patch(
            f"{URL}/{listing['id']}", json={"trl": 8}, headers={**colleague.headers, "If-Match": '"v1"'}
        )
        await stack.client.post(
            f"{URL}/{listing['id']}/publish", headers={**uni.headers, "If-Match": '"v2"', "X-Request-ID": "pub-1"}
        )
        response = await stack.client.get(f"{URL}/{listing['id']}/events", headers=uni.headers)
        assert response.status_code == 200
        items = response.json()["items"]
        assert [(i["action"], i["from_status"], i["to_status"]) for i in items] == [
            ("created", None, "draft"),
            ("updated", "draft", "draft"),
            ("published", "draft", "published"),
        ]
        assert items[1]["actor_subject"] == colleague.subject
        assert items[1]["details"] == {"fields": ["trl"]}
        assert items[2]["actor_org_id"] == str(uni.org_id)
        assert items[2]["request_id"] == "pub-1"
        admin = await actors.platform_admin()
        assert (await stack.client.get(f"{URL}/{listing['id']}/events", headers=admin.headers)).status_code == 200

    async def test_events_are_for_owner_and_admins_only(self, stack: Stack, actors: Any) -> None:
        uni = await actors.org_member(kind="university")
        draft = await create_listing(stack, uni)
        public = await published(stack, uni, patents=[], title="公开")
        other = await actors.org_member(kind="enterprise")
        assert_problem(await stack.client.get(f"{URL}/{public['id']}/events"), 401)
        assert_problem(await stack.client.get(f"{URL}/{public['id']}/events", headers=other.headers), 403)
        assert_problem(await stack.client.get(f"{URL}/{draft['id']}/events", headers=other.headers), 404)
        assert_problem(
            await stack.client.get(f"{URL}/{draft['id']}/events", headers={**uni.headers}, params={"limit": 0}), 422
        )

    async def test_history_is_the_deprecated_alias_of_events(self, stack: Stack, actors: Any) -> None:
        uni = await actors.org_member(kind="university")
        listing = await create_listing(stack, uni)
        await transition(stack, uni, "achievements", listing["id"], "publish")
        events = await stack.client.get(f"{URL}/{listing['id']}/events", headers=uni.headers, params={"limit": 1})
        history = await stack.client.get(f"{URL}/{listing['id']}/history", headers=uni.headers, params={"limit": 1})
        assert history.status_code == events.status_code == 200
        assert history.json() == events.json()
        assert_problem(await stack.client.get(f"{URL}/{listing['id']}/history"), 401)
        paths = (await stack.client.get("/market/openapi.json")).json()["paths"]
        alias = paths["/achievements/{listing_id}/history"]["get"]
        assert alias["deprecated"] is True
        assert "/events" in alias["description"]
        assert "deprecated" not in paths["/achievements/{listing_id}/events"]["get"]

    async def test_failed_writes_leave_no_audit_or_outbox_rows(self, stack: Stack, actors: Any) -> None:
        uni = await actors.org_member(kind="university")
        listing = await create_listing(stack, uni)
        await stack.client.post(f"{URL}/{listing['id']}/transfer", headers={**uni.headers, "If-Match": '"v1"'})
        await stack.client.patch(
            f"{URL}/{listing['id']}", json={"trl": 99}, headers={**uni.headers, "If-Match": '"v1"'}
        )
        assert await count(stack, AuditEvent) == 1
        assert await count(stack, OutboxEvent) == 1
