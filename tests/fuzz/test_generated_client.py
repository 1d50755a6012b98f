"""A real client: Python clients generated from the three OpenAPI documents run the README walkthrough.

openapi-python-client 0.29 generates one package per document (auth, market, search) into a temporary folder; a
warning of the generator fails ``test_documents_generate_clients_without_warnings``. The walkthrough (README.md and
docs/walkthrough.sh: signup → verify → login → publish achievements → demand → search → registrar and statistician
→ contract → register and amend → statistics → a broker's proposal → the deal's contract → the broker's
performance) then runs through those packages only — their functions, their models, their parsing of every answer;
no raw HTTP — against the embedded app in-process (an httpx ASGI transport handed to the generated clients) with
both relays running, on SQLite and PostgreSQL.

Operations are looked up by method and path, not by generated function name: readable operation ids rename the
functions, the HTTP contract stays.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
import importlib
import io
import re
import subprocess
import sys
import time
import types
import typing
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import yaml
from fastapi.testclient import TestClient

from services.embedded import create_app as create_embedded_app
from services.market.openapi_examples import REQUEST_EXAMPLES
from tests.conftest import TEST_ADMIN_EMAIL, TEST_ADMIN_PASSWORD, Databases, Stack, running_stack
from tests.market.contracts.factories import ensure_office, registrar
from tests.market.contracts.test_import import import_row, to_xlsx

SERVICES = ("auth", "market", "search")
# No formatter hook: ruff runs on our code, not on generated code.
GENERATOR_CONFIG: dict[str, Any] = {"post_hooks": []}
_OPERATION = re.compile(r'"method": "(\w+)",\s*"url": "([^"]+)"')
PASSWORD = "correct horse battery"


class Generated:
    """The generated packages, and their operations by (method, path)."""

    def __init__(self, root: Path, outputs: dict[str, str]) -> None:
        self.outputs = outputs
        if str(root) not in sys.path:
            sys.path.insert(0, str(root))
        self.packages = {s: importlib.import_module(f"techmarket_{s}_client") for s in SERVICES}
        self._operations: dict[tuple[str, str, str], str] = {}
        for service in SERVICES:
            api = root / f"techmarket_{service}_client" / "api"
            for path in sorted(api.rglob("*.py")):
                if path.name == "__init__.py":
                    continue
                found = _OPERATION.search(path.read_text(encoding="utf-8"))
                if found:
                    name = ".".join(path.relative_to(root).with_suffix("").parts)
                    key = (service, found.group(1).upper(), found.group(2))
                    self._operations[key] = name

    def operation(self, service: str, method: str, path: str) -> types.ModuleType:
        """The generated module of one operation, imported when first used (one that fails to import fails only
        the step that needs it)."""
        name = self._operations.get((service, method, path))
        assert name is not None, f"the generated {service} client has no {method} {path}"
        return importlib.import_module(name)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Generated:
    """The three documents as the embedded app serves them, each turned into a client package."""
    root = tmp_path_factory.mktemp("generated-clients")
    config = root / "generator.yaml"
    config.write_text(yaml.safe_dump(GENERATOR_CONFIG), encoding="utf-8")
    app = create_embedded_app(data_dir=root / "data")  # the documents need no database: no lifespan runs
    outputs: dict[str, str] = {}
    http = TestClient(app)  # not entered: no lifespan, no database
    for service in SERVICES:
        response = http.get(f"/{service}/openapi.json")
        assert response.status_code == 200, response.text
        document = root / f"{service}.json"
        document.write_text(response.text, encoding="utf-8")
        result = subprocess.run(  # noqa: S603  (the generator installed next to our interpreter)
            [
                str(Path(sys.executable).parent / "openapi-python-client"),
                "generate",
                "--path",
                str(document),
                "--output-path",
                str(root / f"techmarket_{service}_client"),
                "--overwrite",
                "--meta",
                "none",
                "--config",
                str(config),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        outputs[service] = result.stdout + result.stderr
        assert result.returncode == 0, outputs[service]
    return Generated(root, outputs)


@pytest.mark.parametrize("service", SERVICES)
def test_documents_generate_clients_without_warnings(generated: Generated, service: str) -> None:
    output = generated.outputs[service]
    assert "warning" not in output.lower(), output


# ---- calling generated operations -----------------------------------------------------------------------------


def _coerce(annotation: Any, value: Any) -> Any:
    """A plain JSON-like value as the generated function's parameter type wants it (models, enums, UUIDs)."""
    if value is None:
        return None
    if isinstance(annotation, type) and isinstance(value, annotation):
        return value  # built by the caller already (e.g. a multipart body holding a File)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        for member in members:  # models and enums first: a plain str or dict member would take them as is
            if isinstance(member, type) and (hasattr(member, "from_dict") or issubclass(member, enum.Enum)):
                try:
                    return _coerce(member, value)
                except (ValueError, KeyError, TypeError):
                    continue
        for member in members:
            if typing.get_origin(member) is list and isinstance(value, list):
                return _coerce(member, value)
        return value
    if origin is list:
        (item,) = typing.get_args(annotation)
        return [_coerce(item, v) for v in value]
    if isinstance(annotation, type):
        if issubclass(annotation, enum.Enum):
            return annotation(value)
        if hasattr(annotation, "from_dict"):
            if not isinstance(value, dict):
                raise TypeError(value)
            return annotation.from_dict(value)
        if annotation is uuid.UUID and isinstance(value, str):
            try:
                return uuid.UUID(value)
            except ValueError:
                return value  # a malformed id on purpose: the generated code formats it with str()
        if annotation is dt.date and isinstance(value, str):
            return dt.date.fromisoformat(value)
    return value


class Walk:
    """Clients of the generated packages over the in-process app; ``call`` runs one operation."""

    def __init__(self, generated: Generated, transport: httpx.AsyncBaseTransport) -> None:
        self.generated = generated
        self.transport = transport
        self.opened: list[Any] = []
        self.tokens: dict[str, str] = {}

    def client(self, service: str, token: str | None = None) -> Any:
        package = self.generated.packages[service]
        base_url = f"http://techmarket.test/{service}"
        args = {"transport": self.transport}
        if token is None:
            made = package.Client(base_url=base_url, httpx_args=args)
        else:
            made = package.AuthenticatedClient(base_url=base_url, token=token, httpx_args=args)
        self.opened.append(made)
        return made

    async def call(
        self, service: str, method: str, path: str, *, token: str | None = None, expect: int = 200, **params: Any
    ) -> dict[str, Any]:
        function = self.generated.operation(service, method, path).asyncio_detailed
        hints = typing.get_type_hints(function)
        arguments = {name: _coerce(hints[name], value) for name, value in params.items()}
        where = f"{method} /{service}{path}"
        try:
            response = await function(client=self.client(service, token), **arguments)
        except (ValueError, KeyError, TypeError) as exc:  # the generated parser choked on the answer
            raise AssertionError(f"{where}: the generated client cannot read the answer: {exc!r}") from exc
        assert response.status_code == expect, f"{where}: {response.status_code} {response.content[:600]!r}"
        parsed = response.parsed
        assert parsed is not None or expect == 204, f"{where}: the generated client parsed nothing"
        return parsed.to_dict() if hasattr(parsed, "to_dict") else {"value": parsed}

    async def token(self, email: str, password: str) -> str:
        body = {"grant_type": "password", "username": email, "password": password}
        answer = await self.call("auth", "POST", "/token", body=body)
        return str(answer["access_token"])

    async def signup(self, name: str, kind: str, credit_code: str, region: str, email: str, **org: Any) -> str:
        organization = {"name": name, "kind": kind, "credit_code": credit_code, "region_code": region, **org}
        body = {"organization": organization, "user": {"email": email, "password": PASSWORD, "name": name}}
        # Signup answers the same 202 for a new and a taken address (no ids): the new user signs in and asks.
        await self.call("auth", "POST", "/signup", body=body, expect=202)
        me = await self.call("auth", "GET", "/me", token=await self.token(email, PASSWORD))
        return str(me["memberships"][0]["organization"]["id"])

    async def eventually(self, what: str, probe: typing.Callable[[], typing.Awaitable[bool]]) -> None:
        """The relays deliver within a moment, as the script waits for them."""
        deadline = time.monotonic() + 20
        while not await probe():
            assert time.monotonic() < deadline, f"not within 20 s: {what}"
            await asyncio.sleep(0.25)

    async def known(self, org_id: str) -> None:
        async def probe() -> bool:
            operation = self.generated.operation("market", "GET", "/directory/organizations/{organization_id}")
            response = await operation.asyncio_detailed(uuid.UUID(org_id), client=self.client("market"))
            return response.status_code == 200

        await self.eventually(f"market knows organization {org_id}", probe)

    async def aclose(self) -> None:
        for made in self.opened:
            await made.get_async_httpx_client().aclose()


@pytest.fixture
async def relayed_stack(databases: Databases, tmp_path: Path) -> AsyncIterator[Stack]:
    """The embedded app as `make run` serves it: both relays (auth → market, market → search) in the background."""
    relaying = {"relay_enabled": True}
    async with running_stack(databases, tmp_path, auth_overrides=relaying, market_overrides=relaying) as stack:
        yield stack


# The README's bodies, as market's OpenAPI document shows them (one copy: services/market/openapi_examples.py).
ACHIEVEMENT = REQUEST_EXAMPLES["create_achievement"]["utility_model"]
ACHIEVEMENT_2 = {
    "title": "一种基于深度学习的工业产品表面缺陷视觉检测方法",
    "summary": "采集产品表面图像，用卷积神经网络识别划痕、凹坑和气泡等缺陷，适用于金属板材、电池极片和玻璃的在线检测",
    "keywords": ["图像识别", "缺陷检测", "机器视觉"],
    "technical_field": "electronic_information",
    "ipc_codes": ["G06T 7/00"],
    "ip_type": "invention_patent",
    "trl": 6,
    "transfer_modes": ["ordinary_license", "transfer"],
    "price": {"kind": "range", "min_fen": 30000000, "max_fen": 90000000},
    "contact": {"name": "王老师", "phone": "028-85400000"},
}
DEMAND = REQUEST_EXAMPLES["create_demand"]["inspection"]


async def test_readme_walkthrough_through_the_generated_clients(relayed_stack: Stack, generated: Generated) -> None:
    walk = Walk(generated, httpx.ASGITransport(app=relayed_stack.app))
    today = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    try:
        # 1. auth: a university signs up, the platform admin verifies it, its user logs in and asks who it is.
        admin = await walk.token(TEST_ADMIN_EMAIL, TEST_ADMIN_PASSWORD)
        uni = await walk.signup("四川大学", "university", "12510000450716000B", "510107", "tto@scu.example.cn")
        verified = await walk.call(
            "auth", "POST", "/organizations/{organization_id}/verify", token=admin, organization_id=uni
        )
        assert verified["status"] == "verified"
        seller = await walk.token("tto@scu.example.cn", PASSWORD)
        me = await walk.call("auth", "GET", "/me", token=seller)
        assert me["user"]["email"] == "tto@scu.example.cn"
        assert me["roles"] == ["org_admin"]
        await walk.known(uni)

        # 2. market: the university lists a patent (draft) and publishes it with If-Match; anonymous sees no contact.
        a1 = await walk.call(
            "market", "POST", "/achievements", token=seller, expect=201, body=ACHIEVEMENT, idempotency_key="walk-1"
        )
        assert (a1["status"], a1["version"]) == ("draft", 1)
        published = await walk.call(
            "market", "POST", "/achievements/{listing_id}/publish", token=seller, listing_id=a1["id"], if_match='"v1"'
        )
        assert (published["status"], published["version"]) == ("published", 2)
        public = await walk.call("market", "GET", "/achievements/{listing_id}", listing_id=a1["id"])
        assert public["status"] == "published"
        assert public.get("contact") is None
        a2 = await walk.call(
            "market", "POST", "/achievements", token=seller, expect=201, body=ACHIEVEMENT_2, idempotency_key="walk-2"
        )
        await walk.call(
            "market", "POST", "/achievements/{listing_id}/publish", token=seller, listing_id=a2["id"], if_match='"v1"'
        )

        # 3. market: an enterprise posts a demand and publishes it.
        ent = await walk.signup(
            "成都某智能装备有限公司", "enterprise", "91510100MA61R0X80P", "510116", "rd@equip.example.cn"
        )
        await walk.call("auth", "POST", "/organizations/{organization_id}/verify", token=admin, organization_id=ent)
        buyer = await walk.token("rd@equip.example.cn", PASSWORD)
        await walk.known(ent)
        demand = await walk.call("market", "POST", "/demands", token=buyer, expect=201, body=DEMAND)
        await walk.call(
            "market", "POST", "/demands/{listing_id}/publish", token=buyer, listing_id=demand["id"], if_match='"v1"'
        )

        # 4. search: Chinese full-text search with a filter and facets, once the relay has delivered.
        found: dict[str, Any] = {}

        async def searchable() -> bool:
            found.update(
                await walk.call(
                    "search",
                    "GET",
                    "/achievements",
                    q="无人机",
                    technical_field="aerospace",
                    facets="region,technical_field",
                )
            )
            demands = await walk.call("search", "GET", "/demands", q="处理")
            return found["total"] >= 1 and demands["total"] >= 1

        await walk.eventually("search finds the published listings", searchable)
        assert [hit["title"] for hit in found["hits"]] == ["一种无人机机载多功能盒"]
        assert found["facets"]["technical_field"] == {"aerospace": 1}

        # 4b. matching: a need as a sentence finds achievements; suggestions give reasons.
        need = "寻求图像识别方面的技术合作，用于工业产品表面缺陷检测"
        matched = await walk.call("search", "GET", "/achievements", q=need)
        assert matched["hits"][0]["title"] == ACHIEVEMENT_2["title"]
        suggestions = await walk.call(
            "market", "GET", "/demands/{listing_id}/suggestions", token=buyer, listing_id=demand["id"], limit=3
        )
        assert suggestions["items"][0]["listing"]["title"] == ACHIEVEMENT_2["title"]

        # 5. contracts: a registration office and its registrar; a statistician at the center.
        office = await walk.signup(
            "成都市技术市场登记处", "registration_office", "12510100MB1A2C3D4R", "510100", "head@office.example.cn"
        )
        await walk.call("auth", "POST", "/organizations/{organization_id}/verify", token=admin, organization_id=office)
        head = await walk.token("head@office.example.cn", PASSWORD)
        member = {"email": "reg@office.example.cn", "name": "登记员", "password": PASSWORD, "roles": ["registrar"]}
        await walk.call(
            "auth",
            "POST",
            "/organizations/{organization_id}/members",
            token=head,
            expect=201,
            organization_id=office,
            body=member,
        )
        center = (await walk.call("auth", "GET", "/me", token=admin))["memberships"][0]["organization"]["id"]
        member = {"email": "stats@center.example.cn", "name": "统计员", "password": PASSWORD, "roles": ["statistician"]}
        await walk.call(
            "auth",
            "POST",
            "/organizations/{organization_id}/members",
            token=admin,
            expect=201,
            organization_id=center,
            body=member,
        )
        registrar = await walk.token("reg@office.example.cn", PASSWORD)
        stats = await walk.token("stats@center.example.cn", PASSWORD)
        await walk.known(office)

        # 6. the seller submits a contract with a Chongqing buyer; it is routed to the office.
        contract = {**REQUEST_EXAMPLES["submit_contract"]["patent_transfer"], "contract_no": "SCU-WALK-1"}
        submitted = await walk.call(
            "market", "POST", "/contracts", token=seller, expect=201, body=contract, idempotency_key="walk-c1"
        )
        assert submitted["office_id"] == office
        assert submitted["flow"] == "to_chongqing"

        # 7. the registrar registers it (lowering the technology amount), then records an amendment.
        registered = await walk.call(
            "market",
            "POST",
            "/contracts/{contract_id}/register",
            token=registrar,
            contract_id=submitted["id"],
            body={"technology_amount_fen": 95000000},
        )
        assert registered["status"] == "registered"
        assert len(registered["registration_no"]) == 16
        amendment = {
            "effective_on": today,
            "contract_amount_fen": 150000000,
            "technology_amount_fen": 120000000,
            "reason": "补充协议一",
        }
        amended = await walk.call(
            "market",
            "POST",
            "/contracts/{contract_id}/amend",
            token=registrar,
            contract_id=submitted["id"],
            body=amendment,
        )
        assert amended["status"] == "amended"

        # 8. the statistician follows the figures; the public sees the headline.
        cumulative = await walk.call("market", "GET", "/stats/cumulative", token=stats)
        assert cumulative["contract_amount_fen"] == 150000000
        by_flow = await walk.call("market", "GET", "/stats/contracts", token=stats, group_by="year,flow")
        assert [row["technology_amount_fen"] for row in by_flow["rows"]] == [120000000]
        await walk.call("market", "GET", "/stats/public")

        # 9. brokerage: a transfer institution's broker proposes the second patent for the demand; both accept.
        ti = await walk.signup(
            "四川某技术转移中心",
            "transfer_institution",
            "52510104MA6BJ7K30T",
            "510104",
            "head@tt.example.cn",
            parent_id=center,
        )
        await walk.call("auth", "POST", "/organizations/{organization_id}/verify", token=admin, organization_id=ti)
        ti_head = await walk.token("head@tt.example.cn", PASSWORD)
        member = {
            "email": "broker@tt.example.cn",
            "name": "张经纪",
            "password": PASSWORD,
            "roles": ["broker"],
            "broker_certificate_no": "JJR-2026-0001",
        }
        await walk.call(
            "auth",
            "POST",
            "/organizations/{organization_id}/members",
            token=ti_head,
            expect=201,
            organization_id=ti,
            body=member,
        )
        broker = await walk.token("broker@tt.example.cn", PASSWORD)
        await walk.known(ti)
        proposal_body = {
            "demand_id": demand["id"],
            "achievement_id": a2["id"],
            "cooperation_mode": "license",
            "note": "该专利的视觉检测方法可直接用于极片缺陷在线检测",
            "price": {"kind": "range", "min_fen": 50000000, "max_fen": 80000000},
        }
        proposal = await walk.call(
            "market", "POST", "/proposals", token=broker, expect=201, body=proposal_body, idempotency_key="walk-p1"
        )
        assert proposal["status"] == "proposed"
        accepted = await walk.call(
            "market",
            "POST",
            "/proposals/{proposal_id}/accept",
            token=seller,
            proposal_id=proposal["id"],
            if_match='"v1"',
        )
        assert accepted["status"] == "seller_accepted"
        agreed = await walk.call(
            "market",
            "POST",
            "/proposals/{proposal_id}/accept",
            token=buyer,
            proposal_id=proposal["id"],
            if_match='"v2"',
        )
        assert agreed["status"] == "agreed"
        seen = await walk.call("market", "GET", "/proposals/{proposal_id}", token=broker, proposal_id=proposal["id"])
        assert seen["contacts"]["seller"]["name"] == "王老师"
        assert seen["contacts"]["buyer"]["name"] == "李工"

        # 10. the deal becomes a contract: the broker completes the prefilled draft, the registrar registers it.
        draft = await walk.call(
            "market", "GET", "/proposals/{proposal_id}/contract-draft", token=broker, proposal_id=proposal["id"]
        )
        body = {
            **draft["contract"],
            "contract_no": "BRK-WALK-1",
            "signed_on": today,
            "contract_amount_fen": 66000000,
            "technology_amount_fen": 60000000,
        }
        body["buyer"] = {**body["buyer"], "ownership": "private"}
        deal = await walk.call("market", "POST", "/contracts", token=broker, expect=201, body=body)
        assert deal["proposal_id"] == proposal["id"]
        assert deal["broker_org_id"] == ti
        done = await walk.call(
            "market", "POST", "/contracts/{contract_id}/register", token=registrar, contract_id=deal["id"], body={}
        )
        assert [(f["listing"], f["action"]) for f in done["follow_ups"]] == [
            ("achievement", "transfer"),
            ("demand", "fulfill"),
        ]

        # 11. the broker's performance and the statistics' broker_org breakdown show the same amounts.
        performance = await walk.call("market", "GET", "/brokers/{org_id}/performance", token=broker, org_id=ti)
        assert performance["totals"]["contract_amount_fen"] == 66000000
        by_broker = await walk.call(
            "market", "GET", "/stats/contracts", token=stats, group_by="broker_org", broker_org=ti
        )
        assert [(r["count"], r["contract_amount_fen"]) for r in by_broker["rows"]] == [(1, 66000000)]
    finally:
        await walk.aclose()


async def test_error_answers_parse_as_problems(stack: Stack, actors: Any, generated: Generated) -> None:
    """An integrator's client reads every error as the Problem it is (docs/errors.md), not as FastAPI's default."""
    walk = Walk(generated, httpx.ASGITransport(app=stack.app))
    university = await actors.org_member(kind="university")
    try:
        for path in ("/achievements/{listing_id}/publish", "/demands/{listing_id}/withdraw"):
            problem = await walk.call(
                "market", "POST", path, token=university.token, expect=422, listing_id="not-a-uuid", if_match='"v1"'
            )
            assert problem["type"] == "urn:techmarket:problem:validation-failed"
            assert problem["errors"][0]["field"] == "listing_id"
        missing = await walk.call("market", "GET", "/reference/{name}", expect=404, name="no-such-table")
        assert missing["status"] == 404
    finally:
        await walk.aclose()


async def test_generated_clients_upload_import_files(stack: Stack, actors: Any, generated: Generated) -> None:
    """Issue 13: the import endpoints document a multipart body with one binary part `file`, so a generated client
    uploads a file with its `File` type (the raw-body form stays for curl and the CLI)."""
    walk = Walk(generated, httpx.ASGITransport(app=stack.app))
    types_ = importlib.import_module("techmarket_market_client.types")
    models = importlib.import_module("techmarket_market_client.models")
    university = await actors.org_member(kind="university")
    reg = await registrar(actors)
    await ensure_office(stack, reg)
    achievements = (
        "title,technical_field,ip_type,application_nos\n一种无人机机载多功能盒,aerospace,utility_model,202223220665.2\n"
    )
    try:
        upload = types_.File(
            payload=io.BytesIO(achievements.encode()), file_name="achievements.csv", mime_type="text/csv"
        )
        report = await walk.call(
            "market",
            "POST",
            "/achievements/import",
            token=university.token,
            body=models.ImportAchievementsBody(file=upload),
        )
        assert (report["total_rows"], report["created"]) == (1, 1)
        contracts = types_.File(payload=io.BytesIO(to_xlsx([import_row()])), file_name="history.xlsx")
        imported = await walk.call(
            "market",
            "POST",
            "/contracts/import",
            token=reg.token,
            body=models.ImportContractsBody(file=contracts),
        )
        assert (imported["total_rows"], imported["imported"]) == (1, 1)
        refused = await walk.call(
            "market",
            "POST",
            "/contracts/import",
            token=reg.token,
            expect=415,
            body=models.ImportContractsBody(file=types_.File(payload=io.BytesIO(b"x"), file_name="a.pdf")),
        )
        assert refused["errors"][0]["field"] == "file"
    finally:
        await walk.aclose()
