"""The exactness property: after any sequence of submit / register / reject / resubmit / amend / revoke / import /
partial folds / rebuilds, every breakdown served from the rollup equals a direct sum over the contracts and their
deltas, to the fen — whether the deltas are still unfolded, partly folded or all in the cells.

A Hypothesis state machine drives the real API (in-process) on SQLite and PostgreSQL. The expected values are
computed independently of the service: from the raw ledger rows (deltas joined to contracts, grouped in Python
with the shared region helpers) and, for the totals, from the machine's own model of every contract.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from asgi_lifespan import LifespanManager
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from services.embedded import create_app as create_embedded_app
from services.market.stats import fold as stats_fold
from shared.clock import today_in_china
from shared.reference.regions import city_code, province_code
from tests.conftest import Databases, Stack, stack_settings
from tests.market.contracts.factories import payload
from tests.market.contracts.test_import import import_row, to_csv
from tests.support.actors import Actor, Actors
from tests.support.codes import credit_code

TODAY = today_in_china()
KINDS = [
    ("development", "commissioned_development"),
    ("development", "cooperative_development"),
    ("transfer", "patent_right_transfer"),
    ("license", "patent_license"),
    ("service", "technical_training"),
    ("consulting", "technical_consulting"),
]
FIELDS = ["new_energy", "new_materials", "agriculture", "electronic_information"]
BUYERS = ["500103", "510104", "330100", "US", "510703"]


@dataclass
class Harness:
    """The embedded app on the test's databases, inside the test's own event loop."""

    stack: Stack
    manager: LifespanManager
    actors: Actors
    offices: list[Actor] = field(default_factory=list)
    sellers: list[Actor] = field(default_factory=list)
    broker: Actor | None = None
    center: Actor | None = None

    @classmethod
    async def open(cls, databases: Databases, tmp_path: Path) -> Harness:
        auth, market, search = stack_settings(databases, tmp_path)
        app = create_embedded_app(auth_settings=auth, market_settings=market, search_settings=search)
        manager = LifespanManager(app, startup_timeout=60, shutdown_timeout=60)
        await manager.__aenter__()
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://testserver")
        stack = Stack(app, client, databases.backend, auth, market, search)
        harness = cls(stack=stack, manager=manager, actors=Actors(stack))
        a = harness.actors
        harness.center = await a.org_member(kind="center", roles=("statistician",))
        sub_center = await a.org_member(kind="sub_center", parent=harness.center)
        harness.broker = await a.org_member(
            kind="transfer_institution", roles=("broker",), parent=sub_center, region_code="510104"
        )
        for region in ("510000", "500000"):
            office = await a.org_member(kind="registration_office", roles=("registrar",), region_code=region)
            assert (await client.get("/market/contracts", headers=office.headers)).status_code == 200
            harness.offices.append(office)
        for region in ("510104", "510703", "500103"):
            harness.sellers.append(await a.org_member(kind="university", roles=("member",), region_code=region))
        return harness

    async def close(self) -> None:
        await self.actors.aclose()
        await self.stack.client.aclose()
        await self.manager.__aexit__(None, None, None)

    def office_of(self, region: str) -> Actor:
        return self.offices[0] if region.startswith("51") else self.offices[1]


@dataclass
class Model:
    """What the machine believes about one contract."""

    seller_region: str
    status: str
    registered_on: dt.date | None = None
    current: tuple[int, int, int] = (0, 0, 0)


# (group_by, query extras) checked after every step.
BREAKDOWNS: list[tuple[list[str], str]] = [
    ([], ""),
    (["year", "kind"], ""),
    (["month"], f"&from=2022-02-15&to={TODAY.isoformat()}"),
    (["seller_city", "flow"], ""),
    (["office", "technical_field"], ""),
    (["broker_level2"], ""),
    (["subkind", "seller_entity_type", "buyer_province"], ""),
    (["quarter"], "&seller_region=510000"),
    (["year"], "&kind=development&flow=to_chongqing"),
]


def _derive(name: str, row: dict[str, Any]) -> Any:
    day: dt.date = row["effective_on"]
    path = row["broker_org_path"] or ""
    segments = [s for s in path.split("/") if s]
    derivations: dict[str, Callable[[], Any]] = {
        "year": lambda: day.year,
        "month": lambda: f"{day.year}-{day.month:02d}",
        "quarter": lambda: f"{day.year}-Q{(day.month - 1) // 3 + 1}",
        "kind": lambda: row["kind"],
        "subkind": lambda: row["subkind"],
        "seller_city": lambda: city_code(row["seller_region_code"]),
        "flow": lambda: row["flow"],
        "office": lambda: str(uuid.UUID(str(row["office_id"]))),
        "technical_field": lambda: row["technical_field"],
        "broker_level2": lambda: segments[1] if len(segments) > 1 else None,
        "seller_entity_type": lambda: row["seller_entity_type"],
        "buyer_province": lambda: (
            province_code(row["buyer_region_code"]) if len(row["buyer_region_code"]) == 6 else row["buyer_region_code"]
        ),
    }
    return derivations[name]()


def _keep(query: str, row: dict[str, Any]) -> bool:
    day: dt.date = row["effective_on"]
    if "from=2022-02-15" in query and not (dt.date(2022, 2, 15) <= day <= TODAY):
        return False
    if "seller_region=510000" in query and not row["seller_region_code"].startswith("51"):
        return False
    return not ("kind=development" in query and (row["kind"] != "development" or row["flow"] != "to_chongqing"))


class ContractMachine(RuleBasedStateMachine):
    """Random workflows against the API; the invariant compares every breakdown with direct sums."""

    runner: asyncio.Runner
    harness: Harness

    def __init__(self) -> None:
        super().__init__()
        self.contracts: dict[str, Model] = {}
        self.baseline: list[int] = [0, 0, 0]

    def run(self, coro: Any) -> Any:
        return self.runner.run(coro)

    @property
    def client(self) -> httpx.AsyncClient:
        return self.harness.stack.client

    def _pick(self, data: st.DataObject, statuses: tuple[str, ...]) -> str:
        ids = sorted(i for i, m in self.contracts.items() if m.status in statuses)
        return data.draw(st.sampled_from(ids))

    def _has(self, *statuses: str) -> bool:
        return any(m.status in statuses for m in self.contracts.values())

    @rule(
        data=st.data(),
        who=st.integers(0, 3),
        kind=st.sampled_from(KINDS),
        technical_field=st.sampled_from(FIELDS),
        buyer=st.sampled_from(BUYERS),
        amount=st.integers(0, 10**12),
    )
    def submit(
        self, data: st.DataObject, who: int, kind: tuple[str, str], technical_field: str, buyer: str, amount: int
    ) -> None:
        by = self.harness.broker if who == 3 else self.harness.sellers[who]
        assert by is not None
        abroad = len(buyer) == 2
        body = payload(
            by,
            kind=kind[0],
            subkind=kind[1],
            technical_field=technical_field,
            contract_amount_fen=amount,
            technology_amount_fen=data.draw(st.integers(0, amount)),
            submitted_as="broker" if who == 3 else "seller",
            buyer={
                "name": "买方",
                "credit_code": None if abroad else credit_code(),
                "region_code": buyer,
                "entity_type": "enterprise",
                "ownership": "foreign_invested" if abroad else "private",
                # The broker's buyers are nobody the directory knows: declared for the registrar to check.
                "unverified": who == 3,
            },
        )
        response = self.run(self.client.post("/market/contracts", json=body, headers=by.headers))
        assert response.status_code == 201, response.text
        self.contracts[response.json()["id"]] = Model(seller_region=by.region_code or "", status="submitted")

    @precondition(lambda self: self._has("submitted"))
    @rule(data=st.data(), lower=st.booleans())
    def register(self, data: st.DataObject, lower: bool) -> None:
        cid = self._pick(data, ("submitted",))
        model = self.contracts[cid]
        office = self.harness.office_of(model.seller_region)
        current = self.run(self.client.get(f"/market/contracts/{cid}", headers=office.headers)).json()
        technology = current["claimed_technology_amount_fen"] // 2 if lower else None
        response = self.run(
            self.client.post(
                f"/market/contracts/{cid}/register", json={"technology_amount_fen": technology}, headers=office.headers
            )
        )
        assert response.status_code == 200, response.text
        body = response.json()
        model.status, model.registered_on = "registered", dt.date.fromisoformat(body["registered_on"])
        model.current = (1, body["contract_amount_fen"], body["technology_amount_fen"])

    @precondition(lambda self: self._has("submitted"))
    @rule(data=st.data())
    def reject(self, data: st.DataObject) -> None:
        cid = self._pick(data, ("submitted",))
        office = self.harness.office_of(self.contracts[cid].seller_region)
        response = self.run(
            self.client.post(f"/market/contracts/{cid}/reject", json={"reason": "材料不全"}, headers=office.headers)
        )
        assert response.status_code == 200, response.text
        self.contracts[cid].status = "rejected"

    @precondition(lambda self: self._has("rejected"))
    @rule(data=st.data())
    def resubmit(self, data: st.DataObject) -> None:
        cid = self._pick(data, ("rejected",))
        contract = self.run(self.client.get(f"/market/contracts/{cid}", headers=self.harness.offices[0].headers))
        if contract.status_code == 404:
            contract = self.run(self.client.get(f"/market/contracts/{cid}", headers=self.harness.offices[1].headers))
        submitter = next(
            a
            for a in [*self.harness.sellers, self.harness.broker]
            if a is not None
            and str(a.org_id) in (contract.json()["seller"]["org_id"], contract.json()["broker_org_id"])
        )
        response = self.run(self.client.post(f"/market/contracts/{cid}/resubmit", headers=submitter.headers))
        assert response.status_code == 200, response.text
        self.contracts[cid].status = "submitted"

    @precondition(lambda self: self._has("registered", "amended"))
    @rule(data=st.data(), amount=st.integers(0, 10**12))
    def amend(self, data: st.DataObject, amount: int) -> None:
        cid = self._pick(data, ("registered", "amended"))
        model = self.contracts[cid]
        assert model.registered_on is not None
        span = (TODAY - model.registered_on).days
        effective = model.registered_on + dt.timedelta(days=data.draw(st.integers(0, span)))
        technology = data.draw(st.integers(0, amount))
        if (amount, technology) == model.current[1:]:
            return
        office = self.harness.office_of(model.seller_region)
        body = {
            "effective_on": effective.isoformat(),
            "contract_amount_fen": amount,
            "technology_amount_fen": technology,
        }
        response = self.run(self.client.post(f"/market/contracts/{cid}/amend", json=body, headers=office.headers))
        assert response.status_code == 200, response.text
        model.status, model.current = "amended", (1, amount, technology)

    @precondition(lambda self: self._has("registered", "amended"))
    @rule(data=st.data())
    def revoke(self, data: st.DataObject) -> None:
        cid = self._pick(data, ("registered", "amended"))
        model = self.contracts[cid]
        assert model.registered_on is not None
        effective = model.registered_on + dt.timedelta(
            days=data.draw(st.integers(0, (TODAY - model.registered_on).days))
        )
        office = self.harness.office_of(model.seller_region)
        body = {"effective_on": effective.isoformat(), "reason": "解除"}
        response = self.run(self.client.post(f"/market/contracts/{cid}/revoke", json=body, headers=office.headers))
        assert response.status_code == 200, response.text
        model.status, model.current = "revoked", (0, 0, 0)

    @rule(
        days=st.lists(st.integers(0, (TODAY - dt.date(2021, 1, 1)).days), min_size=1, max_size=3),
        kind=st.sampled_from(KINDS),
        seller_region=st.sampled_from(["510104", "510703", "510000"]),
        twice=st.booleans(),
    )
    def import_history(self, days: list[int], kind: tuple[str, str], seller_region: str, twice: bool) -> None:
        rows = []
        for offset in days:
            day = (dt.date(2021, 1, 1) + dt.timedelta(days=offset)).isoformat()
            rows.append(
                import_row(
                    registered_on=day,
                    signed_on=day,
                    valid_from="",
                    valid_to="",
                    kind=kind[0],
                    subkind=kind[1],
                    seller_region_code=seller_region,
                    contract_amount_fen=str(offset * 997),
                    technology_amount_fen=str(offset * 13),
                )
            )
        office = self.harness.offices[0]
        for attempt in range(2 if twice else 1):
            response = self.run(
                self.client.post(
                    "/market/contracts/import",
                    content=to_csv(rows),
                    headers={**office.headers, "Content-Type": "text/csv"},
                )
            )
            assert response.status_code == 200, response.text
            report = response.json()
            assert report["imported"] == (len(rows) if attempt == 0 else 0)
            for row, line in zip(rows, report["rows"], strict=True):
                if line["status"] == "imported":
                    self.contracts[line["contract_id"]] = Model(
                        seller_region=seller_region,
                        status="registered",
                        registered_on=dt.date.fromisoformat(row["registered_on"]),
                        current=(1, int(row["contract_amount_fen"]), int(row["technology_amount_fen"])),
                    )

    @rule(limit=st.integers(1, 4))
    def fold_some(self, limit: int) -> None:
        self.run(self._in_transaction(lambda session: stats_fold.fold_pending(session=session, limit=limit)))

    @rule()
    def rebuild_rollup(self) -> None:
        self.run(self._in_transaction(lambda session: stats_fold.rebuild(session=session)))

    async def _in_transaction(self, work: Callable[[Any], Any]) -> None:
        sessionmaker = self.harness.stack.service_app("market").state.sessionmaker
        async with sessionmaker() as session, session.begin():
            await work(session)

    @invariant()
    def breakdowns_equal_direct_sums(self) -> None:
        ledger = self.run(self._ledger())
        center = self.harness.center
        assert center is not None
        for group_by, extra in BREAKDOWNS:
            response = self.run(
                self.client.get(f"/market/stats/contracts?group_by={','.join(group_by)}{extra}", headers=center.headers)
            )
            assert response.status_code == 200, response.text
            served = {
                tuple(r["key"][g] for g in group_by): (r["count"], r["contract_amount_fen"], r["technology_amount_fen"])
                for r in response.json()["rows"]
            }
            expected: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0, 0])
            for row in ledger:
                if _keep(extra, row):
                    sums = expected[tuple(_derive(g, row) for g in group_by)]
                    sums[0] += row["count_delta"]
                    sums[1] += row["contract_amount_delta_fen"]
                    sums[2] += row["technology_amount_delta_fen"]
            assert served == {k: tuple(v) for k, v in expected.items() if any(v)}, (group_by, extra)
        model_total = [sum(m.current[i] for m in self.contracts.values()) for i in range(3)]
        total = self.run(self.client.get("/market/stats/contracts", headers=center.headers)).json()["total"]
        # Earlier examples of this run share the database: compare what this machine added to its own baseline.
        assert [total["count"], total["contract_amount_fen"], total["technology_amount_fen"]] == [
            b + m for b, m in zip(self.baseline, model_total, strict=True)
        ]

    async def _ledger(self) -> list[dict[str, Any]]:
        engine = self.harness.stack.service_app("market").state.engine
        query = sa.text(
            "SELECT d.effective_on, d.count_delta, d.contract_amount_delta_fen, d.technology_amount_delta_fen, "
            "c.seller_region_code, c.buyer_region_code, c.kind, c.subkind, c.technical_field, c.seller_entity_type, "
            "c.flow, c.office_id, c.broker_org_path FROM contract_deltas d JOIN contracts c ON c.id = d.contract_id"
        ).columns(effective_on=sa.Date(), office_id=sa.Uuid())
        async with engine.connect() as connection:
            return [dict(r) for r in (await connection.execute(query)).mappings().all()]


def test_every_breakdown_equals_the_direct_sum(databases: Databases, tmp_path: Path) -> None:
    """Random workflows on the real API keep every rollup breakdown exactly equal to the ledger."""
    with asyncio.Runner() as runner:
        harness = runner.run(Harness.open(databases, tmp_path))
        try:

            class Machine(ContractMachine):
                def __init__(self) -> None:
                    super().__init__()
                    center = harness.center
                    assert center is not None
                    total = runner.run(
                        harness.stack.client.get("/market/stats/contracts", headers=center.headers)
                    ).json()["total"]
                    self.baseline = [total["count"], total["contract_amount_fen"], total["technology_amount_fen"]]

            Machine.runner = runner
            Machine.harness = harness
            run_state_machine_as_test(
                Machine,
                settings=settings(
                    max_examples=20,
                    stateful_step_count=15,
                    deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
                    derandomize=True,
                ),
            )
        finally:
            runner.run(harness.close())
