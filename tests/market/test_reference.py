"""GET /market/reference and /market/reference/{name}."""

from __future__ import annotations

import pytest

from tests.conftest import Stack
from tests.support.problems import assert_problem


class TestListReferenceTables:
    async def test_lists_every_table_with_counts(self, stack: Stack) -> None:
        response = await stack.client.get("/market/reference")
        assert response.status_code == 200
        tables = {t["name"]: t for t in response.json()["items"]}
        assert tables["technical_fields"]["count"] == 11
        assert {"regions", "ip_types", "transfer_modes", "cooperation_modes", "price_kinds"} <= set(tables)
        assert "max-age" in response.headers["cache-control"]


class TestGetReferenceTable:
    async def test_technical_fields_have_codes_and_chinese_labels(self, stack: Stack) -> None:
        response = await stack.client.get("/market/reference/technical_fields")
        assert response.status_code == 200
        rows = {r["code"]: r["label_zh"] for r in response.json()["rows"]}
        assert rows["electronic_information"] == "电子信息"
        assert rows["biomedicine"] == "生物、医药和医疗器械"
        assert len(rows) == 11

    async def test_regions_include_sichuan_and_chongqing_counties(self, stack: Stack) -> None:
        rows = {r["code"]: r for r in (await stack.client.get("/market/reference/regions")).json()["rows"]}
        assert rows["510000"]["label_zh"] == "四川省"
        assert rows["510104"]["parent_code"] == "510100"
        assert "500000" in rows

    @pytest.mark.parametrize(
        ("name", "code", "label"),
        [
            ("ip_types", "invention_patent", "发明专利"),
            ("transfer_modes", "exclusive_license", "独占许可"),
            ("price_kinds", "negotiable", "面议"),
            ("achievement_statuses", "negotiating", "洽谈中"),
            ("demand_statuses", "matched", "已对接"),
            ("demand_statuses", "fulfilled", "已满足"),
            ("proposal_statuses", "agreed", "双方已达成"),
            ("trl_levels", "9", None),
        ],
    )
    async def test_listing_tables(self, stack: Stack, name: str, code: str, label: str | None) -> None:
        response = await stack.client.get(f"/market/reference/{name}")
        assert response.status_code == 200
        rows = {r["code"]: r["label_zh"] for r in response.json()["rows"]}
        assert code in rows
        if label is not None:
            assert rows[code] == label

    @pytest.mark.parametrize("name", ["nope", "Technical_Fields", "technical-fields"])
    async def test_unknown_table_is_404_naming_the_field(self, stack: Stack, name: str) -> None:
        body = assert_problem(await stack.client.get(f"/market/reference/{name}"), 404)
        assert body["errors"][0]["field"] == "name"
