"""Reference tables shipped with the project."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from shared.reference.regions import (
    all_regions,
    city_code,
    flow_of,
    is_valid_region,
    province_code,
    region,
    region_level,
    region_prefix,
)
from shared.reference.technical_fields import is_technical_field, technical_fields

SHARED_REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "data" / "reference"


class TestRegions:
    @pytest.mark.parametrize("code", ["510000", "510100", "510104", "500000", "500101", "110000", "330100", "820000"])
    def test_valid(self, code: str) -> None:
        assert is_valid_region(code)

    @pytest.mark.parametrize("code", ["", "51010", "5101044", "990000", "510199", "abcdef", "519900"])
    def test_invalid(self, code: str) -> None:
        assert not is_valid_region(code)

    def test_hierarchy_helpers(self) -> None:
        assert province_code("510104") == "510000"
        assert city_code("510104") == "510100"
        assert city_code("510000") == "510000"
        chengdu = region("510100")
        assert chengdu is not None
        assert chengdu.name == "成都市"
        assert chengdu.parent_code == "510000"

    @pytest.mark.parametrize(
        ("code", "prefix", "level", "city", "province"),
        [
            ("510000", "51", "province", "510000", "510000"),
            ("510100", "5101", "prefecture", "510100", "510000"),
            ("510104", "510104", "county", "510100", "510000"),
            ("500101", "500101", "county", "500100", "500000"),
        ],
    )
    def test_one_hierarchy(self, code: str, prefix: str, level: str, city: str, province: str) -> None:
        # Every code of a subtree starts with its prefix: the statistics, listings and offices filter on it.
        assert region_prefix(code) == prefix
        assert region_level(code) == level
        assert city_code(code) == city
        assert province_code(code) == province
        assert code.startswith(prefix)

    @pytest.mark.parametrize("code", ["US", "JP", "5101"])
    def test_codes_of_another_shape_have_no_hierarchy(self, code: str) -> None:
        assert region_prefix(code) == city_code(code) == province_code(code) == code

    @pytest.mark.parametrize(
        ("seller", "buyer", "flow"),
        [
            ("510104", "510700", "local"),
            ("510104", "500101", "to_chongqing"),
            ("500101", "510100", "to_sichuan"),
            ("510104", "330100", "other_province"),
            ("500101", "US", "abroad"),
        ],
    )
    def test_flow(self, seller: str, buyer: str, flow: str) -> None:
        assert flow_of(seller, buyer) == flow

    def test_34_provinces(self) -> None:
        assert sum(1 for r in all_regions().values() if r.level == "province") == 34

    @pytest.mark.skipif(not SHARED_REFERENCE.exists(), reason="../shared/data/reference is not present")
    def test_every_sichuan_chongqing_county_of_the_source_is_known(self) -> None:
        with (SHARED_REFERENCE / "gbt2260_sichuan_chongqing_county.csv").open(encoding="utf-8") as handle:
            codes = [row["code"] for row in csv.DictReader(handle)]
        assert len(codes) == 221
        assert all(is_valid_region(c) for c in codes)


def test_eleven_technical_fields() -> None:
    fields = technical_fields()
    assert len(fields) == 11
    assert [f.order for f in fields] == list(range(1, 12))
    assert is_technical_field("biomedicine")
    assert not is_technical_field("magic")


class TestOrgPath:
    def test_is_org_path(self) -> None:
        from shared.security import ORG_PATH_SEGMENT, is_org_path

        one = "/01890a5d-ac96-774b-bcce-b302099a8057/"
        assert is_org_path(one)
        assert is_org_path(one + one[1:])
        assert len(one) == ORG_PATH_SEGMENT + 1
        for bad in ("", "/", one[:-1], one.upper()):
            assert not is_org_path(bad)
