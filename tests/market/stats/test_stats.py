"""Contract statistics: breakdowns, filters, scopes, edge days, exports, cumulative progress, the public headline."""

from __future__ import annotations

import io
from typing import Any

import pytest
from openpyxl import load_workbook

from services.market.stats.schemas import BreakdownPublic
from services.market.stats.targets.service import SEED_CONTRACT_AMOUNT_ID
from shared.clock import today_in_china
from tests.conftest import Stack
from tests.market.contracts.factories import ensure_office, register, registrar, submit
from tests.market.contracts.test_import import import_row, post_import, to_csv
from tests.support.actors import Actor, Actors
from tests.support.problems import assert_problem

HISTORY = [
    # registered_on, seller region, buyer region, kind/subkind, field, contract fen, technology fen
    ("2021-03-05", "510104", "500103", "development", "commissioned_development", "new_energy", 100_00, 90_00),
    ("2021-03-20", "510107", "510104", "transfer", "patent_right_transfer", "new_materials", 250_00, 250_00),
    ("2022-07-01", "510703", "330100", "license", "patent_license", "agriculture", 1_000_00, 800_00),
    ("2023-06-15", "510104", "US", "service", "technical_service", "new_energy", 40_00, 40_00),
    ("2023-06-30", "510104", "500103", "development", "cooperative_development", "new_energy", 7_00, 3_00),
    ("2025-12-31", "510107", "510107", "consulting", "technical_consulting", "urban_social", 12_345_67, 12_000_00),
]


def history_rows() -> list[dict[str, str]]:
    rows = []
    for day, seller, buyer, kind, subkind, field, amount, technology in HISTORY:
        abroad = len(buyer) == 2
        rows.append(
            import_row(
                registered_on=day,
                signed_on=day,
                seller_region_code=seller,
                buyer_region_code=buyer,
                buyer_credit_code="" if abroad else import_row()["buyer_credit_code"],
                buyer_ownership="foreign_invested" if abroad else "private",
                kind=kind,
                subkind=subkind,
                technical_field=field,
                contract_amount_fen=str(amount),
                technology_amount_fen=str(technology),
                valid_from="",
                valid_to="",
            )
        )
    return rows


@pytest.fixture
async def office(stack: Stack, actors: Actors) -> Actor:
    reg = await registrar(actors, region_code="510000")
    await ensure_office(stack, reg)
    response = await post_import(stack, reg, to_csv(history_rows()))
    assert response.json()["imported"] == len(HISTORY), response.text
    return reg


@pytest.fixture
async def center(actors: Actors) -> Actor:
    return await actors.org_member(kind="center", roles=("statistician",))


def triples(body: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (*r["key"].values(), r["count"], r["contract_amount_fen"], r["technology_amount_fen"]) for r in body["rows"]
    ]


async def stats(stack: Stack, who: Actor, query: str) -> dict[str, Any]:
    response = await stack.client.get(f"/market/stats/contracts?{query}", headers=who.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    # The endpoint writes its JSON by hand: every answer must match the documented schema, field for field.
    documented = BreakdownPublic.model_validate(body).model_dump(mode="json", by_alias=True)
    assert documented == body
    return body


class TestBreakdown:
    async def test_group_by_year_and_kind(self, stack: Stack, office: Actor, center: Actor) -> None:
        body = await stats(stack, center, "group_by=year,kind")
        assert body["source"] == "rollup"
        assert triples(body) == [
            (2021, "development", 1, 100_00, 90_00),
            (2021, "transfer", 1, 250_00, 250_00),
            (2022, "license", 1, 1_000_00, 800_00),
            (2023, "development", 1, 7_00, 3_00),
            (2023, "service", 1, 40_00, 40_00),
            (2025, "consulting", 1, 12_345_67, 12_000_00),
        ]
        assert body["total"]["contract_amount_fen"] == 13_742_67
        assert body["total"]["contract_amount_wan_yuan"] == "1.374267"
        assert body["total"]["contract_amount_yi_yuan"] == "0.0001374267"
        assert body["rows"][0]["labels"] == {"kind": "技术开发"}

    async def test_regions_flows_quarters_and_months(self, stack: Stack, office: Actor, center: Actor) -> None:
        cities = await stats(stack, center, "group_by=seller_city")
        assert [(r["key"]["seller_city"], r["labels"]["seller_city"], r["count"]) for r in cities["rows"]] == [
            ("510100", "成都市", 5),
            ("510700", "绵阳市", 1),
        ]
        flows = await stats(stack, center, "group_by=flow")
        assert {r["key"]["flow"]: r["count"] for r in flows["rows"]} == {
            "to_chongqing": 2,
            "local": 2,
            "other_province": 1,
            "abroad": 1,
        }
        buyers = await stats(stack, center, "group_by=buyer_province&seller_region=510104")
        assert {r["key"]["buyer_province"]: r["count"] for r in buyers["rows"]} == {"500000": 2, "US": 1}
        quarters = await stats(stack, center, "group_by=quarter&technical_field=new_energy")
        assert [(r["key"]["quarter"], r["count"]) for r in quarters["rows"]] == [("2021-Q1", 1), ("2023-Q2", 2)]
        months = await stats(stack, center, "group_by=month&from=2023-01-01&to=2023-12-31")
        assert [(r["key"]["month"], r["count"]) for r in months["rows"]] == [("2023-06", 2)]

    async def test_edge_days_come_from_the_ledger_and_stay_exact(
        self, stack: Stack, office: Actor, center: Actor
    ) -> None:
        body = await stats(stack, center, "from=2021-03-10&to=2023-06-20&group_by=year")
        assert body["source"] == "rollup+ledger"
        assert triples(body) == [(2021, 1, 250_00, 250_00), (2022, 1, 1_000_00, 800_00), (2023, 1, 40_00, 40_00)]
        one_day = await stats(stack, center, "from=2025-12-31&to=2025-12-31")
        assert one_day["total"]["count"] == 1

    async def test_three_dimensions_are_summed_from_the_ledger(
        self, stack: Stack, office: Actor, center: Actor
    ) -> None:
        body = await stats(stack, center, "group_by=seller_city,kind,technical_field&flow=to_chongqing")
        assert body["source"] == "ledger"
        assert triples(body) == [
            ("510100", "development", "new_energy", 2, 107_00, 93_00),
        ]
        by_office = await stats(stack, center, f"group_by=office&office={office.org_id}")
        assert triples(by_office) == [(str(office.org_id), 6, 13_742_67, 13_183_00)]

    async def test_broker_tree_dimensions_and_scopes(
        self, stack: Stack, actors: Actors, office: Actor, center: Actor
    ) -> None:
        sub_center = await actors.org_member(kind="sub_center", roles=("statistician",), parent=center)
        other_sub = await actors.org_member(kind="sub_center", roles=("statistician",), parent=center)
        broker = await actors.org_member(kind="transfer_institution", roles=("broker",), parent=sub_center)
        for amount in (1_000, 2_000):
            contract = await submit(
                stack, broker, submitted_as="broker", contract_amount_fen=amount, technology_amount_fen=amount
            )
            await register(stack, office, contract["id"])
        tree = await stats(stack, center, "group_by=broker_level1,broker_level2,broker_org")
        assert triples(tree) == [
            (None, None, None, 6, 13_742_67, 13_183_00),
            (str(center.org_id), str(sub_center.org_id), str(broker.org_id), 2, 3_000, 3_000),
        ]
        # Organization dimensions are labelled with the verified organization's name (the directory's card).
        assert tree["rows"][1]["labels"] == {
            "broker_level1": center.org_name,
            "broker_level2": sub_center.org_name,
            "broker_org": broker.org_name,
        }
        assert tree["rows"][0]["labels"] == {}
        subtree = await stats(stack, center, f"broker_org={sub_center.org_id}")
        assert subtree["total"]["count"] == 2
        scoped = await stats(stack, sub_center, "group_by=year")
        assert triples(scoped) == [(today_in_china().year, 2, 3_000, 3_000)]
        assert scoped["filters"] == {"scope.broker_subtree": sub_center.org_path}
        assert (await stats(stack, other_sub, ""))["total"]["count"] == 0
        other_office = await registrar(actors, region_code="500000")
        mine = await stats(stack, office, "")
        assert mine["total"]["count"] == 8
        assert (await stats(stack, other_office, ""))["total"]["count"] == 0

    async def test_who_may_not(self, stack: Stack, actors: Actors, office: Actor) -> None:
        member = await actors.org_member(kind="university")
        assert_problem(await stack.client.get("/market/stats/contracts", headers=member.headers), 403)
        assert_problem(await stack.client.get("/market/stats/cumulative", headers=member.headers), 403)


class TestAnonymous:
    """Without a token: the public scope (every registered contract, aggregated), no office, no downloads."""

    async def test_reads_the_public_scope(self, stack: Stack, office: Actor, center: Actor) -> None:
        query = "group_by=year,kind&technical_field=new_energy"
        anonymous = await stack.client.get(f"/market/stats/contracts?{query}")
        assert anonymous.status_code == 200, anonymous.text
        signed_in = await stats(stack, center, query)
        assert triples(anonymous.json()) == triples(signed_in)
        assert anonymous.json()["total"]["count"] == 3
        cumulative = await stack.client.get("/market/stats/cumulative?since=2021-01-01&until=2025-12-31")
        assert cumulative.status_code == 200, cumulative.text
        assert cumulative.json()["count"] == len(HISTORY)
        assert cumulative.json()["scope"] == {}

    @pytest.mark.parametrize(
        ("query", "field"),
        [("group_by=year,office", "group_by"), ("office=0190b3f2-0000-7000-8000-000000000000", "office")],
    )
    async def test_office_is_403_naming_the_field(self, stack: Stack, office: Actor, query: str, field: str) -> None:
        problem = assert_problem(await stack.client.get(f"/market/stats/contracts?{query}"), 403)
        assert problem["errors"][0]["field"] == field
        assert problem["errors"][0]["type"] == "sign_in_required"

    @pytest.mark.parametrize(
        "path",
        [
            "/market/stats/contracts?format=csv",
            "/market/stats/contracts?format=xlsx",
            "/market/stats/cumulative?format=csv",
        ],
    )
    async def test_downloads_are_401(self, stack: Stack, office: Actor, path: str) -> None:
        response = await stack.client.get(path)
        problem = assert_problem(response, 401)
        assert "sign in to download" in problem["detail"].lower()
        assert response.headers["www-authenticate"].startswith("Bearer")
        by_accept = await stack.client.get("/market/stats/contracts", headers={"Accept": "text/csv"})
        assert_problem(by_accept, 401)

    @pytest.mark.parametrize(
        ("query", "field"),
        [
            ("group_by=colour", "group_by"),
            ("group_by=year,year", "group_by"),
            ("group_by=year,month,kind,flow,office", "group_by"),
            ("from=2024-02-01&to=2024-01-01", "to"),
            ("from=2024-13-01", "from"),
            ("seller_region=99", "seller_region"),
            ("buyer_region=xx", "buyer_region"),
            ("kind=barter", "kind"),
            ("subkind=barter", "subkind"),
            ("flow=sideways", "flow"),
            ("technical_field=magic", "technical_field"),
            ("seller_entity_type=alien", "seller_entity_type"),
            ("office=x", "office"),
            ("broker_org=x", "broker_org"),
            ("format=pdf", "format"),
        ],
    )
    async def test_bad_queries_are_422(
        self, stack: Stack, office: Actor, center: Actor, query: str, field: str
    ) -> None:
        assert_problem(await stack.client.get(f"/market/stats/contracts?{query}", headers=center.headers), 422, field)

    async def test_exports(self, stack: Stack, office: Actor, center: Actor) -> None:
        response = await stack.client.get("/market/stats/contracts?group_by=year&format=csv", headers=center.headers)
        assert response.headers["content-type"].startswith("text/csv")
        assert "attachment" in response.headers["content-disposition"]
        text = response.content.decode("utf-8-sig").splitlines()
        assert text[0].startswith("year,year_label,count,contract_amount_fen,contract_amount_wan_yuan")
        assert text[1].startswith("2021,,2,35000,0.035,")
        by_accept = await stack.client.get(
            "/market/stats/contracts?group_by=year", headers={**center.headers, "Accept": "text/csv"}
        )
        assert by_accept.content == response.content
        xlsx = await stack.client.get(
            "/market/stats/contracts?group_by=kind",
            headers={**center.headers, "Accept": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
        )
        sheet = load_workbook(io.BytesIO(xlsx.content)).active
        values = list(sheet.iter_rows(values_only=True))
        assert values[0][:3] == ("kind", "kind_label", "count")
        assert values[1][:3] == ("consulting", "技术咨询", 1)
        assert_problem(
            await stack.client.get("/market/stats/contracts", headers={**center.headers, "Accept": "application/xml"}),
            406,
        )


class TestCumulative:
    async def test_totals_progress_and_monthly_series(
        self, stack: Stack, actors: Actors, office: Actor, center: Actor
    ) -> None:
        # The headline target is the seeded contract-amount target (docs/contracts.md, "Targets"): an admin moves it.
        admin = await actors.platform_admin()
        seeded = f"/market/stats/targets/{SEED_CONTRACT_AMOUNT_ID}"
        etag = (await stack.client.get(seeded)).headers["etag"]
        changed = await stack.client.patch(
            seeded,
            json={"value": 100_000_00, "period_to": "2022-12-31"},
            headers={**admin.headers, "If-Match": etag},
        )
        assert changed.status_code == 200, changed.text
        response = await stack.client.get(
            "/market/stats/cumulative?since=2021-01-01&until=2022-12-31", headers=center.headers
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["count"] == 3
        assert body["contract_amount_fen"] == 1_350_00
        assert body["target"]["achieved_fen"] == 1_350_00
        assert body["target"]["progress"] == "0.013500"
        assert len(body["monthly"]) == 24
        march = body["monthly"][2]
        assert (march["month"], march["count"], march["cumulative_contract_amount_fen"]) == ("2021-03", 2, 350_00)
        assert body["monthly"][-1]["cumulative_contract_amount_fen"] == 1_350_00
        csv_body = await stack.client.get(
            "/market/stats/cumulative?since=2021-01-01&until=2021-03-31&format=csv", headers=center.headers
        )
        assert len(csv_body.content.decode("utf-8-sig").splitlines()) == 4

    async def test_default_target_is_6000_yi_yuan(self, stack: Stack, office: Actor, center: Actor) -> None:
        body = (await stack.client.get("/market/stats/cumulative", headers=center.headers)).json()
        assert body["since"] == "2021-01-01"
        assert body["target"]["contract_amount_fen"] == 60_000_000_000_000
        assert body["target"]["contract_amount_yi_yuan"] == "6000"
        assert body["contract_amount_fen"] == 13_742_67

    @pytest.mark.parametrize(
        ("query", "field"),
        [("since=2024-01-01&until=2023-01-01", "until"), ("since=x", "since"), ("format=doc", "format")],
    )
    async def test_bad_queries(self, stack: Stack, center: Actor, query: str, field: str) -> None:
        assert_problem(await stack.client.get(f"/market/stats/cumulative?{query}", headers=center.headers), 422, field)


class TestPublic:
    async def test_headline_without_a_token(self, stack: Stack, office: Actor) -> None:
        response = await stack.client.get("/market/stats/public")
        assert response.status_code == 200
        body = response.json()
        assert body["cumulative"]["contract_amount_fen"] == 13_742_67
        assert body["target"]["progress"] == "0.000000"
        assert [(y["year"], y["count"]) for y in body["yearly"]] == [(2021, 2), (2022, 1), (2023, 2), (2025, 1)]
        assert "rows" not in body
