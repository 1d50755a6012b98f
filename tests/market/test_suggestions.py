"""Suggestions (/market/{kind}/{id}/suggestions): authorization, exclusions, reasons, score, paging, outages.

Two layers:
- scoring unit tests: the pure functions of services.market.matching.scoring, every reason kind and the formula;
- API tests on the full embedded stack (real auth, real market database on SQLite and PostgreSQL) where only the
  search service is faked (FakeSearch, an httpx.MockTransport speaking the search similarity contract), so a test
  can make search return what it should not (withdrawn, expired, same organization) and go down.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from services.market.listings.models import Achievement, Demand
from services.market.matching.client import SearchClient, SimilarHit
from services.market.matching.models import Amount, Side
from services.market.matching.scoring import FIT_WEIGHT, FIT_WEIGHTS, RELEVANCE_WEIGHT, assess, region_relation
from services.market.matching.service import MAX_DEPTH
from shared.clock import today_in_china
from shared.pagination import encode_cursor
from tests.conftest import Stack
from tests.market.helpers import achievement_body, create_listing, demand_body, transition
from tests.support.problems import assert_problem, error_fields

# -- scoring (no I/O) ------------------------------------------------------------------------------------------------


def side(**overrides: Any) -> Side:
    values: dict[str, Any] = {
        "technical_field": "advanced_manufacturing",
        "trl": 6,
        "amount": Amount("range", 50_000_000, 120_000_000),
        "region_code": "510104",
        "modes": ("transfer",),
        "ipc_codes": (),
    }
    values.update(overrides)
    return Side(**values)


def similar_hit(**overrides: Any) -> SimilarHit:
    values: dict[str, Any] = {"id": uuid.uuid4(), "score": 0.5, "snippet": "", "matched_terms": []}
    values.update(overrides)
    return SimilarHit.model_validate(values)


def reasons_by_kind(reasons: list[Any]) -> dict[str, dict[str, Any]]:
    dumped = [r if isinstance(r, dict) else r.model_dump(mode="json") for r in reasons]
    kinds = [r["kind"] for r in dumped]
    assert len(kinds) == len(set(kinds)), kinds
    return {r["kind"]: r for r in dumped}


class TestReasons:
    def test_text_reason_carries_terms_and_snippet(self) -> None:
        hit = similar_hit(matched_terms=["表面缺陷", "视觉检测"], snippet="用于<em>表面缺陷</em>的<em>视觉检测</em>")
        text = reasons_by_kind(assess(offer=side(), want=side(), hit=hit).reasons())["text"]
        assert text == {
            "kind": "text",
            "label": "共同关键词：表面缺陷、视觉检测",
            "terms": ["表面缺陷", "视觉检测"],
            "snippet": "用于<em>表面缺陷</em>的<em>视觉检测</em>",
        }

    def test_no_text_reason_without_shared_terms_and_no_semantic_without_a_score(self) -> None:
        kinds = reasons_by_kind(assess(offer=side(), want=side(), hit=similar_hit()).reasons())
        assert "text" not in kinds
        assert "semantic" not in kinds

    def test_semantic_reason(self) -> None:
        kinds = reasons_by_kind(assess(offer=side(), want=side(), hit=similar_hit(semantic_score=0.8123456)).reasons())
        assert kinds["semantic"] == {"kind": "semantic", "label": "语义相似度 0.81", "similarity": 0.8123}

    def test_technical_field_same_and_different(self) -> None:
        same = reasons_by_kind(assess(offer=side(), want=side(), hit=similar_hit()).reasons())["technical_field"]
        assert same == {
            "kind": "technical_field",
            "label": "同属“先进制造”领域",
            "same": True,
            "offered": "advanced_manufacturing",
            "wanted": "advanced_manufacturing",
        }
        offer = side(technical_field="electronic_information")
        different = reasons_by_kind(assess(offer=offer, want=side(), hit=similar_hit()).reasons())["technical_field"]
        assert different["same"] is False
        assert (different["offered"], different["wanted"]) == ("electronic_information", "advanced_manufacturing")
        assert different["label"] == "技术领域不同：成果属“电子信息”，需求属“先进制造”"

    def test_ipc_only_when_both_sides_have_codes(self) -> None:
        offer = side(ipc_codes=("G06T 7/00", "G01N 21/88", "B25J 9/16"))
        # Demands carry no IPC codes today: no ipc reason between a demand and an achievement.
        assert "ipc" not in reasons_by_kind(assess(offer=offer, want=side(), hit=similar_hit()).reasons())
        want = side(ipc_codes=("G06T 7/11", "G01N", "H04N 5/00"))
        ipc = reasons_by_kind(assess(offer=offer, want=want, hit=similar_hit()).reasons())["ipc"]
        assert ipc == {"kind": "ipc", "label": "共同IPC小类：G01N、G06T", "shared": ["G01N", "G06T"]}
        unrelated = side(ipc_codes=("A61K 36/00",))
        assert "ipc" not in reasons_by_kind(assess(offer=offer, want=unrelated, hit=similar_hit()).reasons())

    @pytest.mark.parametrize(
        ("offered", "desired", "fits", "label"),
        [
            (7, 6, True, "技术就绪水平 7 级，达到需求的 6 级"),
            (6, 6, True, "技术就绪水平 6 级，达到需求的 6 级"),
            (4, 6, False, "技术就绪水平 4 级，低于需求的 6 级"),
        ],
    )
    def test_trl(self, offered: int, desired: int, fits: bool, label: str) -> None:
        reasons = assess(offer=side(trl=offered), want=side(trl=desired), hit=similar_hit()).reasons()
        assert reasons_by_kind(reasons)["trl"] == {
            "kind": "trl",
            "label": label,
            "offered": offered,
            "desired": desired,
            "fits": fits,
        }

    def test_no_trl_reason_when_a_side_has_none(self) -> None:
        assert "trl" not in reasons_by_kind(assess(offer=side(trl=None), want=side(), hit=similar_hit()).reasons())
        assert "trl" not in reasons_by_kind(assess(offer=side(), want=side(trl=None), hit=similar_hit()).reasons())

    @pytest.mark.parametrize(
        ("price", "budget", "fits", "label"),
        [
            (Amount("range", 5_000_000, 12_000_000), Amount("fixed", 80_000_000, None), True, "报价 5–12万元，在预算 80万元 以内"),
            # Overlapping ranges fit: the lowest price is within the highest budget.
            (Amount("range", 50_000_000, 120_000_000), Amount("range", 10_000_000, 60_000_000), True, "报价 50–120万元，在预算 10–60万元 以内"),
            (Amount("fixed", 100_000_000, None), Amount("fixed", 80_000_000, None), False, "报价 100万元，超出预算 80万元"),
        ],
    )  # fmt: skip
    def test_price_against_budget(self, price: Amount, budget: Amount, fits: bool, label: str) -> None:
        reasons = assess(offer=side(amount=price), want=side(amount=budget), hit=similar_hit()).reasons()
        reason = reasons_by_kind(reasons)["price"]
        assert (reason["fits"], reason["label"]) == (fits, label)
        assert reason["price"] == {"kind": price.kind, "min_fen": price.min_fen, "max_fen": price.max_fen}
        assert reason["budget"] == {"kind": budget.kind, "min_fen": budget.min_fen, "max_fen": budget.max_fen}

    def test_no_price_reason_when_negotiable(self) -> None:
        negotiable = Amount("negotiable", None, None)
        assert "price" not in reasons_by_kind(
            assess(offer=side(amount=negotiable), want=side(), hit=similar_hit()).reasons()
        )
        assert "price" not in reasons_by_kind(
            assess(offer=side(), want=side(amount=negotiable), hit=similar_hit()).reasons()
        )

    @pytest.mark.parametrize(
        ("a", "b", "relation", "label"),
        [
            ("510104", "510107", "same_city", "同在成都市"),
            ("510104", "510100", "same_city", "同在成都市"),
            # Chongqing is a municipality: its districts (5001xx) and counties (5002xx) are one city.
            ("500103", "500229", "same_city", "同在重庆市"),
            ("510104", "510703", "same_province", "同在四川省"),
            ("510104", "500103", "sichuan_chongqing", "川渝合作：一方在四川，一方在重庆"),
            ("510104", "330106", "other", "双方不在同一省市"),
        ],
    )
    def test_region(self, a: str, b: str, relation: str, label: str) -> None:
        assert region_relation(a, b) == relation
        reasons = assess(offer=side(region_code=a), want=side(region_code=b), hit=similar_hit()).reasons()
        assert reasons_by_kind(reasons)["region"] == {"kind": "region", "label": label, "relation": relation}

    @pytest.mark.parametrize(
        ("offered", "wanted", "shared"),
        [
            (("transfer", "ordinary_license"), ("license", "consulting"), ["license"]),
            (("exclusive_license",), ("license",), ["license"]),
            (("co_development",), ("commissioned_development", "co_development"), ["commissioned_development", "co_development"]),
            (("equity",), ("equity",), ["equity"]),
            (("transfer",), ("commissioned_development",), []),
            (("other",), ("other",), []),
        ],
    )  # fmt: skip
    def test_mode(self, offered: tuple[str, ...], wanted: tuple[str, ...], shared: list[str]) -> None:
        reasons = assess(offer=side(modes=offered), want=side(modes=wanted), hit=similar_hit()).reasons()
        reason = reasons_by_kind(reasons)["mode"]
        assert reason["offered"] == list(offered)
        assert reason["wanted"] == list(wanted)
        assert reason["shared"] == shared
        assert reason["fits"] is bool(shared)
        assert reason["label"].startswith("合作方式匹配：" if shared else "合作方式不匹配：")

    def test_mode_label_names_the_modes(self) -> None:
        reasons = assess(offer=side(modes=("transfer",)), want=side(modes=("license",)), hit=similar_hit()).reasons()
        assert reasons_by_kind(reasons)["mode"]["label"] == "合作方式不匹配：成果可转让，需求要技术许可"

    def test_no_mode_reason_when_a_side_has_none(self) -> None:
        assert "mode" not in reasons_by_kind(assess(offer=side(modes=()), want=side(), hit=similar_hit()).reasons())


class TestScore:
    def test_weights_sum_to_one(self) -> None:
        assert abs(RELEVANCE_WEIGHT + FIT_WEIGHT - 1) < 1e-9
        assert abs(sum(FIT_WEIGHTS.values()) - 1) < 1e-9

    def test_everything_fits(self) -> None:
        assessed = assess(offer=side(), want=side(), hit=similar_hit(score=0.6))
        assert (assessed.relevance, assessed.fit) == (0.6, 1.0)
        assert assessed.score == pytest.approx(0.7 * 0.6 + 0.3 * 1.0)

    def test_misfits_lower_the_fit_by_their_weights(self) -> None:
        # Field differs (0), TRL 2 levels short (1/3), price over budget (budget covers 80 of 100),
        # same province (0.75), modes do not fit (0).
        offer = side(
            technical_field="electronic_information",
            trl=4,
            amount=Amount("fixed", 100_000_000, None),
            region_code="510104",
            modes=("transfer",),
        )
        want = side(trl=6, amount=Amount("fixed", 80_000_000, None), region_code="510703", modes=("license",))
        assessed = assess(offer=offer, want=want, hit=similar_hit(score=0.9))
        fit = 0.4 * 0 + 0.2 * (1 / 3) + 0.2 * 0.8 + 0.1 * 0.75 + 0.1 * 0
        assert assessed.fit == pytest.approx(fit, abs=1e-4)
        assert assessed.score == pytest.approx(0.7 * 0.9 + 0.3 * fit, abs=1e-4)
        kinds = reasons_by_kind(assessed.reasons())
        assert [kinds[k]["fits"] for k in ("trl", "price", "mode")] == [False, False, False]

    def test_components_that_cannot_be_computed_leave_the_mean(self) -> None:
        # No TRL, negotiable price, no modes: the fit is the weighted mean of field (1) and region (0.5).
        offer = side(trl=None, amount=Amount("negotiable", None, None), modes=(), region_code="510104")
        want = side(region_code="500103")
        assessed = assess(offer=offer, want=want, hit=similar_hit(score=None))
        assert assessed.fit == pytest.approx((0.4 * 1 + 0.1 * 0.5) / 0.5, abs=1e-4)
        assert assessed.relevance == 0
        assert [r.kind for r in assessed.reasons()] == ["technical_field", "region"]


# -- the API, with search faked --------------------------------------------------------------------------------------


class FakeSearch:
    """The search service's similarity endpoint as market sees it: returns ``hits`` as given, records requests."""

    def __init__(self) -> None:
        self.hits: list[dict[str, Any]] = []
        self.semantic = False
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.failure: str | None = None  # refuse | timeout | 500 | garbage | 422 | no_words

    def hit(self, listing: dict[str, Any], *, score: float = 0.5, **extra: Any) -> dict[str, Any]:
        """A hit for a listing as the search contract shapes it (extra fields override)."""
        found = {
            "id": listing["id"],
            "title": listing["title"],
            "snippet": listing["title"],
            "score": score,
            "keywords": listing.get("keywords", []),
            "technical_field": listing["technical_field"],
            "region_code": listing["region_code"],
            "owner_org_id": listing["owner_org_id"],
            "owner_org_name": "某组织",
            "status": "published",
            "published_at": listing.get("published_at"),
            "matched_terms": [],
            "semantic_score": None,
        }
        found.update(extra)
        return found

    async def handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.requests.append((request.url.path, body))
        if self.failure == "refuse":
            raise httpx.ConnectError("connection refused", request=request)
        if self.failure == "timeout":
            raise httpx.ReadTimeout("timed out", request=request)
        if self.failure == "500":
            return httpx.Response(500, json={"title": "Internal server error"})
        if self.failure == "garbage":
            return httpx.Response(200, json={"results": []})
        if self.failure in ("no_words", "422"):
            error = {"field": "text", "message": "has no searchable word", "type": "no_words"}
            if self.failure == "422":
                error = {"field": "limit", "message": "too large", "type": "less_than_equal"}
            problem = {"type": "urn:techmarket:problem:validation-failed", "status": 422, "errors": [error]}
            return httpx.Response(422, json=problem, headers={"content-type": "application/problem+json"})
        hits = self.hits[body.get("offset", 0) : body.get("offset", 0) + body.get("limit", 50)]
        return httpx.Response(
            200,
            json={
                "hits": hits,
                "total": len(self.hits),
                "total_is_exact": True,
                "query_words": [],
                "semantic": self.semantic,
                "engine": "fake",
                "processing_time_ms": 0.1,
            },
        )


@pytest.fixture
async def search(stack: Stack) -> AsyncIterator[FakeSearch]:
    """Market's search client replaced by one on a MockTransport to FakeSearch (another service: fair to fake)."""
    market = stack.service_app("market")
    fake = FakeSearch()
    real = market.state.search_client
    async with httpx.AsyncClient(transport=httpx.MockTransport(fake.handle)) as http:
        market.state.search_client = SearchClient(http, search_url=stack.market_settings.search_url)
        try:
            yield fake
        finally:
            market.state.search_client = real


async def published(stack: Stack, actor: Any, kind: str, body: dict[str, Any]) -> dict[str, Any]:
    created = await create_listing(stack, actor, kind, body)
    response = await transition(stack, actor, kind, created["id"], "publish")
    assert response.status_code == 200, response.text
    listing: dict[str, Any] = response.json()
    return listing


def ach(title: str, **overrides: Any) -> dict[str, Any]:
    return achievement_body(title=title, patents=[], **overrides)


async def set_columns(stack: Stack, model: Any, listing_id: str, **values: Any) -> None:
    # What the API cannot do (a last day in the past) is set in the database, as time passing would.
    async with stack.service_app("market").state.sessionmaker() as session:
        await session.execute(update(model).where(model.id == uuid.UUID(listing_id)).values(values))
        await session.commit()


def suggestions_url(kind: str, listing_id: str) -> str:
    return f"/market/{kind}/{listing_id}/suggestions"


class TestAuthorization:
    async def test_published_demand_matrix(self, stack: Stack, actors: Any, search: FakeSearch) -> None:
        owner_admin = await actors.org_member(kind="enterprise", roles=("org_admin",))
        owner_member = await actors.colleague(owner_admin, roles=("member",))
        demand = await published(stack, owner_admin, "demands", demand_body())
        url = suggestions_url("demands", demand["id"])
        allowed = {
            "owner admin": owner_admin,
            "owner member": owner_member,
            "broker of a transfer institution": await actors.org_member(kind="transfer_institution", roles=("broker",)),
            "broker of a sub-center": await actors.org_member(kind="sub_center", roles=("broker", "member")),
            "broker of the center": await actors.org_member(kind="center", roles=("broker",)),
            "platform admin": await actors.platform_admin(),
        }
        for who, actor in allowed.items():
            response = await stack.client.get(url, headers=actor.headers)
            assert response.status_code == 200, (who, response.text)
        refused = {
            "member of another enterprise": await actors.org_member(kind="enterprise"),
            "member of a transfer institution without the broker role": await actors.org_member(
                kind="transfer_institution", roles=("member",)
            ),
            "member of a university": await actors.org_member(kind="university"),
        }
        for who, actor in refused.items():
            body = assert_problem(await stack.client.get(url, headers=actor.headers), 403)
            assert body["type"].endswith("suggestions-not-allowed"), who
        assert_problem(await stack.client.get(url), 401)
        assert_problem(await stack.client.get(url, headers={"Authorization": "Bearer not-a-token"}), 401)
        # Search is asked only for the allowed callers.
        assert len(search.requests) == len(allowed)

    async def test_unpublished_listing_is_404_for_everyone_but_its_organization_and_admins(
        self, stack: Stack, actors: Any, search: FakeSearch
    ) -> None:
        owner = await actors.org_member(kind="university")
        draft = await create_listing(stack, owner, "achievements", ach("一种表面缺陷视觉检测装置"))
        withdrawn = await published(stack, owner, "achievements", ach("一种焊缝视觉检测方法"))
        assert (await transition(stack, owner, "achievements", withdrawn["id"], "withdraw")).status_code == 200
        broker = await actors.org_member(kind="transfer_institution", roles=("broker",))
        stranger = await actors.org_member(kind="enterprise")
        admin = await actors.platform_admin()
        for listing in (draft, withdrawn):
            url = suggestions_url("achievements", listing["id"])
            assert (await stack.client.get(url, headers=owner.headers)).status_code == 200
            assert (await stack.client.get(url, headers=admin.headers)).status_code == 200
            assert_problem(await stack.client.get(url, headers=broker.headers), 404)
            assert_problem(await stack.client.get(url, headers=stranger.headers), 404)
            assert_problem(await stack.client.get(url), 401)

    async def test_published_listing_past_its_last_day_counts_as_expired(
        self, stack: Stack, actors: Any, search: FakeSearch
    ) -> None:
        owner = await actors.org_member(kind="enterprise")
        demand = await published(stack, owner, "demands", demand_body(deadline=today_in_china().isoformat()))
        await set_columns(stack, Demand, demand["id"], deadline=today_in_china() - dt.timedelta(days=1))
        broker = await actors.org_member(kind="transfer_institution", roles=("broker",))
        url = suggestions_url("demands", demand["id"])
        assert_problem(await stack.client.get(url, headers=broker.headers), 404)
        assert (await stack.client.get(url, headers=owner.headers)).status_code == 200

    async def test_unknown_and_malformed_ids(self, stack: Stack, actors: Any, search: FakeSearch) -> None:
        admin = await actors.platform_admin()
        assert_problem(
            await stack.client.get(suggestions_url("demands", str(uuid.uuid4())), headers=admin.headers), 404
        )
        body = assert_problem(await stack.client.get(suggestions_url("demands", "nope"), headers=admin.headers), 422)
        assert "listing_id" in error_fields(body)
        # An achievement id is not a demand.
        owner = await actors.org_member(kind="university")
        achievement = await published(stack, owner, "achievements", ach("一种表面缺陷视觉检测装置"))
        assert_problem(
            await stack.client.get(suggestions_url("demands", achievement["id"]), headers=admin.headers), 404
        )
        assert search.requests == []


class TestSuggestions:
    async def test_demand_gets_achievements_with_cards_reasons_and_scores(
        self, stack: Stack, actors: Any, search: FakeSearch
    ) -> None:
        company = await actors.org_member(kind="enterprise", region_code="510104")
        demand = await published(
            stack,
            company,
            "demands",
            demand_body(
                title="寻求图像识别方面的技术合作",
                description="用于工业产品表面缺陷检测，要求在线检测。",
                keywords=["图像识别", "表面缺陷"],
                technical_field="advanced_manufacturing",
                desired_trl=6,
                cooperation_modes=["license", "co_development"],
                budget={"kind": "range", "min_fen": 10_000_000, "max_fen": 60_000_000},
            ),
        )
        uni = await actors.org_member(kind="university", region_code="510107")
        good = await published(
            stack,
            uni,
            "achievements",
            ach(
                "一种表面缺陷视觉检测装置",
                summary="基于机器视觉的工业产品表面缺陷检测",
                technical_field="advanced_manufacturing",
                trl=7,
                transfer_modes=["ordinary_license"],
                price={"kind": "range", "min_fen": 50_000_000, "max_fen": 120_000_000},
            ),
        )
        far = await actors.org_member(kind="university", region_code="330106")
        misfit = await published(
            stack,
            far,
            "achievements",
            ach(
                "一种图像识别芯片",
                technical_field="electronic_information",
                trl=3,
                transfer_modes=["transfer"],
                price={"kind": "fixed", "min_fen": 200_000_000},
            ),
        )
        search.semantic = True
        search.hits = [
            # The misfit is the most relevant text; its misfits rank it below the good one and are shown.
            search.hit(misfit, score=0.8, matched_terms=["图像识别"], snippet="一种<em>图像识别</em>芯片"),
            # Search's copy of the structured fields is ignored: market's rows are the truth.
            search.hit(good, score=0.7, matched_terms=["表面缺陷"], semantic_score=0.9, trl=1, technical_field="x"),
        ]
        response = await stack.client.get(suggestions_url("demands", demand["id"]), headers=company.headers)
        assert response.status_code == 200, response.text
        page = response.json()
        assert page["next_cursor"] is None
        assert page["semantic"] is True
        assert [item["listing"]["id"] for item in page["items"]] == [good["id"], misfit["id"]]

        first = page["items"][0]
        assert first["listing"] == {
            "id": good["id"],
            "title": "一种表面缺陷视觉检测装置",
            "summary": "基于机器视觉的工业产品表面缺陷检测",
            "owner_org_id": str(uni.org_id),
            "owner_org_name": uni.org_name,  # the directory's name, not search's copy ("某组织")
            "technical_field": "advanced_manufacturing",
            "region_code": "510107",
            "published_at": good["published_at"],
            "trl": 7,
            "price": {"kind": "range", "min_fen": 50_000_000, "max_fen": 120_000_000},
        }
        reasons = reasons_by_kind(first["reasons"])
        assert list(reasons) == ["text", "semantic", "technical_field", "trl", "price", "region", "mode"]
        assert reasons["text"]["terms"] == ["表面缺陷"]
        assert reasons["semantic"]["similarity"] == 0.9
        assert reasons["technical_field"]["same"] is True
        assert (reasons["trl"]["offered"], reasons["trl"]["desired"], reasons["trl"]["fits"]) == (7, 6, True)
        assert reasons["price"]["fits"] is True
        assert reasons["region"]["relation"] == "same_city"
        assert (reasons["mode"]["shared"], reasons["mode"]["fits"]) == (["license"], True)
        assert (first["relevance"], first["fit"]) == (0.7, 1.0)
        assert first["score"] == pytest.approx(0.7 * 0.7 + 0.3 * 1.0)

        second = page["items"][1]
        reasons = reasons_by_kind(second["reasons"])
        assert reasons["technical_field"]["same"] is False
        assert reasons["trl"]["fits"] is False
        assert reasons["price"]["fits"] is False
        assert reasons["region"]["relation"] == "other"
        assert reasons["mode"]["fits"] is False
        assert second["score"] < first["score"]
        # Never private fields on a card.
        for item in page["items"]:
            assert not {"contact", "inventors", "patents", "natural_key", "created_by"} & set(item["listing"])

        path, sent = search.requests[-1]
        assert path == "/search/achievements/similar"
        assert sent["text"].startswith("寻求图像识别方面的技术合作\n图像识别 表面缺陷\n用于工业产品表面缺陷检测")
        assert sent["exclude_owner_org"] == str(company.org_id)
        assert sent["exclude_ids"] == [demand["id"]]
        assert (sent["limit"], sent["offset"]) == (MAX_DEPTH, 0)

    async def test_achievement_gets_demands(self, stack: Stack, actors: Any, search: FakeSearch) -> None:
        uni = await actors.org_member(kind="university", region_code="510104")
        achievement = await published(
            stack, uni, "achievements", ach("一种表面缺陷视觉检测装置", keywords=["机器视觉"], trl=5)
        )
        company = await actors.org_member(kind="enterprise", region_code="500103")
        demand = await published(
            stack, company, "demands", demand_body(description="x" * 300, desired_trl=6, deadline="2099-12-31")
        )
        search.hits = [search.hit(demand, score=0.4, matched_terms=["机器视觉"])]
        broker = await actors.org_member(kind="transfer_institution", roles=("broker",))
        response = await stack.client.get(suggestions_url("achievements", achievement["id"]), headers=broker.headers)
        assert response.status_code == 200, response.text
        (item,) = response.json()["items"]
        assert item["listing"] == {
            "id": demand["id"],
            "title": demand["title"],
            "summary": "x" * 200,
            "owner_org_id": str(company.org_id),
            "owner_org_name": company.org_name,
            "technical_field": demand["technical_field"],
            "region_code": "500103",
            "published_at": demand["published_at"],
            "desired_trl": 6,
            "budget": demand["budget"],
            "deadline": "2099-12-31",
        }
        reasons = reasons_by_kind(item["reasons"])
        # The achievement is the offer whichever side asks: TRL 5 offered against 6 desired.
        assert (reasons["trl"]["offered"], reasons["trl"]["desired"], reasons["trl"]["fits"]) == (5, 6, False)
        assert reasons["region"]["relation"] == "sichuan_chongqing"
        assert "ipc" not in reasons  # demands carry no IPC codes
        path, sent = search.requests[-1]
        assert path == "/search/demands/similar"
        assert sent["text"].startswith("一种表面缺陷视觉检测装置\n机器视觉\n")

    async def test_never_self_same_organization_or_unpublished_even_when_search_returns_them(
        self, stack: Stack, actors: Any, search: FakeSearch
    ) -> None:
        company = await actors.org_member(kind="enterprise")
        demand = await published(stack, company, "demands", demand_body())
        uni = await actors.org_member(kind="university")
        ok = await published(stack, uni, "achievements", ach("可推荐的成果"))
        draft = await create_listing(stack, uni, "achievements", ach("草稿成果"))
        withdrawn = await published(stack, uni, "achievements", ach("已撤回的成果"))
        assert (await transition(stack, uni, "achievements", withdrawn["id"], "withdraw")).status_code == 200
        negotiating = await published(stack, uni, "achievements", ach("洽谈中的成果"))
        assert (await transition(stack, uni, "achievements", negotiating["id"], "negotiate")).status_code == 200
        due = await published(stack, uni, "achievements", ach("已过期未清扫", valid_until=today_in_china().isoformat()))
        await set_columns(stack, Achievement, due["id"], valid_until=today_in_china() - dt.timedelta(days=1))
        expired = await published(stack, uni, "achievements", ach("已过期", valid_until=today_in_china().isoformat()))
        await set_columns(stack, Achievement, expired["id"], status="expired")
        # A research institute lists achievements and posts demands: its own achievement is never suggested.
        institute = await actors.org_member(kind="research_institute")
        own_demand = await published(stack, institute, "demands", demand_body(title="研究所的需求"))
        own_achievement = await published(stack, institute, "achievements", ach("研究所的成果"))
        search.hits = [
            search.hit(listing) for listing in (draft, withdrawn, negotiating, due, expired, ok, own_achievement, ok)
        ] + [search.hit({**ok, "id": str(uuid.uuid4())})]  # unknown to market

        response = await stack.client.get(suggestions_url("demands", demand["id"]), headers=company.headers)
        assert [item["listing"]["id"] for item in response.json()["items"]] == [ok["id"], own_achievement["id"]]
        response = await stack.client.get(suggestions_url("demands", own_demand["id"]), headers=institute.headers)
        assert [item["listing"]["id"] for item in response.json()["items"]] == [ok["id"]]

    async def test_nothing_similar_is_an_empty_page(self, stack: Stack, actors: Any, search: FakeSearch) -> None:
        company = await actors.org_member(kind="enterprise")
        demand = await published(stack, company, "demands", demand_body())
        response = await stack.client.get(suggestions_url("demands", demand["id"]), headers=company.headers)
        assert response.json() == {"items": [], "next_cursor": None, "semantic": False}


class TestPaging:
    async def test_pages_cover_the_ranking_once(self, stack: Stack, actors: Any, search: FakeSearch) -> None:
        company = await actors.org_member(kind="enterprise")
        demand = await published(stack, company, "demands", demand_body())
        uni = await actors.org_member(kind="university")
        listings = [await published(stack, uni, "achievements", ach(f"成果 {n}")) for n in range(23)]
        search.hits = [search.hit(listing, score=round(1 - n / 50, 3)) for n, listing in enumerate(listings)]
        url = suggestions_url("demands", demand["id"])
        whole = (await stack.client.get(url, params={"limit": 50}, headers=company.headers)).json()
        assert whole["next_cursor"] is None
        assert len(whole["items"]) == 23
        seen: list[str] = []
        cursor: str | None = None
        pages = 0
        while True:
            params: dict[str, Any] = {"limit": 10}
            if cursor is not None:
                params["cursor"] = cursor
            page = (await stack.client.get(url, params=params, headers=company.headers)).json()
            pages += 1
            seen += [item["listing"]["id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert pages == 3
        assert seen == [item["listing"]["id"] for item in whole["items"]]
        assert len(set(seen)) == 23

    async def test_exact_last_page_has_no_next_cursor(self, stack: Stack, actors: Any, search: FakeSearch) -> None:
        company = await actors.org_member(kind="enterprise")
        demand = await published(stack, company, "demands", demand_body())
        uni = await actors.org_member(kind="university")
        listings = [await published(stack, uni, "achievements", ach(f"成果 {n}")) for n in range(4)]
        search.hits = [search.hit(listing) for listing in listings]
        url = suggestions_url("demands", demand["id"])
        first = (await stack.client.get(url, params={"limit": 2}, headers=company.headers)).json()
        assert first["next_cursor"] is not None
        second = (
            await stack.client.get(url, params={"limit": 2, "cursor": first["next_cursor"]}, headers=company.headers)
        ).json()
        assert len(second["items"]) == 2
        assert second["next_cursor"] is None

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"limit": 0}, "limit"),
            ({"limit": 51}, "limit"),
            ({"limit": "ten"}, "limit"),
            ({"cursor": "not-a-cursor!"}, "cursor"),
            ({"cursor": encode_cursor("x")}, "cursor"),
            ({"cursor": "x" * 600}, "cursor"),
        ],
    )
    async def test_bad_limit_or_cursor_is_422(
        self, stack: Stack, actors: Any, search: FakeSearch, params: dict[str, Any], field: str
    ) -> None:
        company = await actors.org_member(kind="enterprise")
        demand = await published(stack, company, "demands", demand_body())
        response = await stack.client.get(
            suggestions_url("demands", demand["id"]), params=params, headers=company.headers
        )
        assert field in error_fields(assert_problem(response, 422))

    async def test_cursor_of_another_listing_or_past_the_depth_is_422(
        self, stack: Stack, actors: Any, search: FakeSearch
    ) -> None:
        company = await actors.org_member(kind="enterprise")
        demand = await published(stack, company, "demands", demand_body())
        url = suggestions_url("demands", demand["id"])
        for cursor in (
            encode_cursor(str(uuid.uuid4()), 10),
            encode_cursor(demand["id"], MAX_DEPTH),
            encode_cursor(demand["id"], -1),
            encode_cursor(demand["id"], "10"),
        ):
            response = await stack.client.get(url, params={"cursor": cursor}, headers=company.headers)
            assert "cursor" in error_fields(assert_problem(response, 422))
        assert search.requests == []


class TestSearchOutage:
    @pytest.mark.parametrize("failure", ["refuse", "timeout", "500", "garbage", "422"])
    async def test_search_down_is_503(self, stack: Stack, actors: Any, search: FakeSearch, failure: str) -> None:
        company = await actors.org_member(kind="enterprise")
        demand = await published(stack, company, "demands", demand_body())
        search.failure = failure
        response = await stack.client.get(suggestions_url("demands", demand["id"]), headers=company.headers)
        body = assert_problem(response, 503)
        assert body["title"] == "Search service unavailable"
        assert body["type"] == "urn:techmarket:problem:search-unavailable"
        assert response.headers["retry-after"] == "5"
        # Market itself keeps working.
        assert (await stack.client.get(f"/market/demands/{demand['id']}")).status_code == 200

    async def test_a_text_without_searchable_words_has_no_suggestions(
        self, stack: Stack, actors: Any, search: FakeSearch
    ) -> None:
        company = await actors.org_member(kind="enterprise")
        demand = await published(
            stack, company, "demands", demand_body(title="寻求合作", description=None, keywords=[])
        )
        search.failure = "no_words"
        response = await stack.client.get(suggestions_url("demands", demand["id"]), headers=company.headers)
        assert response.status_code == 200, response.text
        assert response.json() == {"items": [], "next_cursor": None, "semantic": False}


class TestOpenApi:
    async def test_endpoints_are_documented(self, stack: Stack) -> None:
        schema = (await stack.client.get("/market/openapi.json")).json()
        for kind in ("achievements", "demands"):
            operation = schema["paths"][f"/{kind}/{{listing_id}}/suggestions"]["get"]
            assert f"{MAX_DEPTH} deep" in operation["description"]
            assert {"401", "403", "404", "422", "503"} <= set(operation["responses"])
            limit = next(p for p in operation["parameters"] if p["name"] == "limit")
            assert (limit["schema"]["minimum"], limit["schema"]["maximum"], limit["schema"]["default"]) == (1, 50, 10)
        reason = schema["components"]["schemas"]["TextReason"]
        assert reason["properties"]["kind"]["const"] == "text"


# -- end to end: the real search service, no fakes -------------------------------------------------------------------


async def deliver(stack: Stack) -> None:
    """One relay drain: what market published reaches the real search service (as the background relay does)."""
    assert await stack.service_app("market").state.relay.drain() > 0


class TestEndToEnd:
    """Market asks the embedded search service's POST /search/{kind}/similar through the in-process transport,
    with the documents the outbox relay delivered: nothing is faked."""

    async def test_a_demand_in_sentences_finds_the_achievement_about_it(self, stack: Stack, actors: Any) -> None:
        company = await actors.org_member(kind="enterprise", region_code="510104")
        demand = await published(
            stack,
            company,
            "demands",
            demand_body(
                title="寻求图像识别方面的技术合作，用于工业产品表面缺陷检测",
                description=None,
                keywords=[],
                desired_trl=6,
                cooperation_modes=["license"],
            ),
        )
        uni = await actors.org_member(kind="university", region_code="510107")
        defects = await published(
            stack,
            uni,
            "achievements",
            ach(
                "一种基于机器视觉的产品表面缺陷检测方法",
                summary="采用视觉检测与图像识别技术，在线识别工业产品的表面缺陷",
                keywords=["表面缺陷", "视觉检测"],
                technical_field="advanced_manufacturing",
                trl=7,
                transfer_modes=["ordinary_license"],
            ),
        )
        drone = await published(stack, uni, "achievements", ach("一种无人机机载多功能盒", keywords=["无人机"]))
        await deliver(stack)

        response = await stack.client.get(suggestions_url("demands", demand["id"]), headers=company.headers)
        assert response.status_code == 200, response.text
        page = response.json()
        ids = [item["listing"]["id"] for item in page["items"]]
        assert ids[0] == defects["id"]
        assert drone["id"] not in ids
        first = page["items"][0]
        reasons = reasons_by_kind(first["reasons"])
        assert "text" in reasons
        assert {"表面缺陷", "图像识别"} & set(reasons["text"]["terms"])
        assert "<em>" in reasons["text"]["snippet"]
        assert reasons["technical_field"]["same"] is True
        assert reasons["trl"]["fits"] is True
        assert reasons["mode"]["shared"] == ["license"]
        assert reasons["region"]["relation"] == "same_city"
        assert 0 < first["score"] <= 1
        assert first["listing"]["title"] == "一种基于机器视觉的产品表面缺陷检测方法"

        # And the other way: the achievement's suggestions hold the demand, for a broker.
        broker = await actors.org_member(kind="transfer_institution", roles=("broker",))
        response = await stack.client.get(suggestions_url("achievements", defects["id"]), headers=broker.headers)
        assert response.status_code == 200, response.text
        assert [item["listing"]["id"] for item in response.json()["items"]] == [demand["id"]]

    async def test_market_drops_what_search_has_not_heard_of_yet(self, stack: Stack, actors: Any) -> None:
        # A research institute both posts demands and lists achievements: its own never come back.
        company = await actors.org_member(kind="research_institute")
        demand = await published(stack, company, "demands", demand_body(title="寻求表面缺陷视觉检测技术"))
        await published(stack, company, "achievements", ach("一种表面缺陷视觉检测系统"))
        uni = await actors.org_member(kind="university")
        first = await published(stack, uni, "achievements", ach("一种表面缺陷视觉检测装置"))
        second = await published(stack, uni, "achievements", ach("一种表面缺陷视觉检测方法"))
        await deliver(stack)
        url = suggestions_url("demands", demand["id"])
        before = [
            item["listing"]["id"] for item in (await stack.client.get(url, headers=company.headers)).json()["items"]
        ]
        assert set(before) == {first["id"], second["id"]}
        # Withdrawn in market; search still holds it until the relay runs: market does not suggest it.
        assert (await transition(stack, uni, "achievements", first["id"], "withdraw")).status_code == 200
        after = [
            item["listing"]["id"] for item in (await stack.client.get(url, headers=company.headers)).json()["items"]
        ]
        assert after == [second["id"]]
        await deliver(stack)
        after = [
            item["listing"]["id"] for item in (await stack.client.get(url, headers=company.headers)).json()["items"]
        ]
        assert after == [second["id"]]

    async def test_search_refusing_connections_is_503(self, stack: Stack, actors: Any) -> None:
        """The lifespan's own client, pointed at a search URL nothing answers on: 503, never a 500."""
        company = await actors.org_member(kind="enterprise")
        demand = await published(stack, company, "demands", demand_body())
        market = stack.service_app("market")
        real = market.state.search_client
        market.state.search_client = SearchClient(real.http, search_url="http://techmarket.internal/nothing-here")
        try:
            response = await stack.client.get(suggestions_url("demands", demand["id"]), headers=company.headers)
        finally:
            market.state.search_client = real
        assert assert_problem(response, 503)["title"] == "Search service unavailable"
