"""No coercion of client input: JSON booleans, floats or strings are no integers, and a date is `YYYY-MM-DD` only
(pydantic alone takes `false` as 0 and `0`, `"0"` or `"20240101"` as dates)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from shared.clock import IsoDate
from tests.conftest import Stack
from tests.market.contracts.factories import payload, seller
from tests.market.helpers import achievement_body, demand_body
from tests.support.actors import Actors
from tests.support.problems import assert_problem, error_fields


class TestIsoDate:
    @pytest.mark.parametrize(
        "value", ["0", 0, False, True, 1.0, "20240101", "2024-1-1", "2024-01-01T00:00:00", "２０２４-01-01"]
    )
    def test_refuses_everything_but_yyyy_mm_dd(self, value: object) -> None:
        with pytest.raises(ValidationError, match="YYYY-MM-DD"):
            TypeAdapter(IsoDate).validate_python(value)

    def test_takes_iso_dates_and_date_objects(self) -> None:
        assert TypeAdapter(IsoDate).validate_python("2024-02-29") == dt.date(2024, 2, 29)
        assert TypeAdapter(IsoDate).validate_python(dt.date(2024, 1, 1)) == dt.date(2024, 1, 1)
        with pytest.raises(ValidationError):
            TypeAdapter(IsoDate).validate_python("2023-02-29")  # a day that does not exist
        with pytest.raises(ValidationError):
            TypeAdapter(IsoDate).validate_python(dt.datetime(2024, 1, 1, tzinfo=dt.UTC))


def _refused(response: Any, field: str) -> None:
    assert field in error_fields(assert_problem(response, 422))


class TestQueryDates:
    @pytest.mark.parametrize("query", ["to=0", "from=0", "to=20241231", "from=1700000000", "to=false"])
    async def test_stats_contracts(self, stack: Stack, actors: Actors, query: str) -> None:
        center = await actors.org_member(kind="center", roles=("statistician",))
        response = await stack.client.get(f"/market/stats/contracts?{query}", headers=center.headers)
        _refused(response, query.split("=")[0])

    @pytest.mark.parametrize("query", ["until=0", "since=0"])
    async def test_stats_cumulative(self, stack: Stack, actors: Actors, query: str) -> None:
        center = await actors.org_member(kind="center", roles=("statistician",))
        response = await stack.client.get(f"/market/stats/cumulative?{query}", headers=center.headers)
        _refused(response, query.split("=")[0])

    async def test_broker_performance(self, stack: Stack, actors: Actors) -> None:
        broker = await actors.org_member(kind="transfer_institution", roles=("broker", "member"))
        url = f"/market/brokers/{broker.org_id}/performance"
        _refused(await stack.client.get(url, params={"to": "0"}, headers=broker.headers), "to")
        ok = await stack.client.get(url, params={"to": "2026-01-31", "from": "2026-01-01"}, headers=broker.headers)
        assert ok.status_code == 200, ok.text


class TestBodies:
    @pytest.mark.parametrize(
        ("changes", "field"),
        [
            ({"signed_on": 0}, "signed_on"),
            ({"signed_on": "20240101"}, "signed_on"),
            ({"valid_to": False}, "valid_to"),
            ({"contract_amount_fen": True}, "contract_amount_fen"),
            ({"technology_amount_fen": "100"}, "technology_amount_fen"),
            ({"contract_amount_fen": 100.0}, "contract_amount_fen"),
        ],
    )
    async def test_contracts(self, stack: Stack, actors: Actors, changes: dict[str, Any], field: str) -> None:
        s = await seller(actors)
        response = await stack.client.post("/market/contracts", json=payload(s, **changes), headers=s.headers)
        _refused(response, field)
        listed = (await stack.client.get("/market/contracts", headers=s.headers)).json()["items"]
        assert listed == []  # nothing stored

    @pytest.mark.parametrize(
        ("kind", "changes", "field"),
        [
            ("achievements", {"trl": False}, "trl"),
            ("achievements", {"trl": "7"}, "trl"),
            ("achievements", {"price": {"kind": "fixed", "min_fen": True}}, "price.min_fen"),
            ("achievements", {"valid_until": 0}, "valid_until"),
            ("demands", {"desired_trl": True}, "desired_trl"),
            ("demands", {"deadline": "2030-1-1"}, "deadline"),
        ],
    )
    async def test_listings(self, stack: Stack, actors: Actors, kind: str, changes: dict[str, Any], field: str) -> None:
        org_kind = "university" if kind == "achievements" else "enterprise"
        member = await actors.org_member(kind=org_kind)
        body = (achievement_body if kind == "achievements" else demand_body)(**changes)
        response = await stack.client.post(f"/market/{kind}", json=body, headers=member.headers)
        _refused(response, field)
