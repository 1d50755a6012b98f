"""POST /auth/signup: a pending organization and its first user, the tier rules, code validation, duplicates, the
same answer for a new and a taken email (the outcome goes to the address: auth_messages)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from services.auth.messages.models import OutboundMessage
from services.auth.messages.service import messages_to
from services.auth.organizations.models import Organization
from services.auth.organizations.router import SIGNUP_ACCEPTED_DETAIL as ACCEPTED_DETAIL
from services.auth.users.models import User
from services.cli import app as cli_app
from tests.auth.helpers import login, signup, signup_body, whoami
from tests.conftest import Stack
from tests.support.actors import Actors
from tests.support.codes import credit_code
from tests.support.problems import assert_problem

_FULLWIDTH = str.maketrans(
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", "０１２３４５６７８９ＡＢＣＤＥＦＧＨＩＪＫＬＭＮＯＰＱＲＳＴＵＶＷＸＹＺ"
)


async def _messages(stack: Stack, email: str) -> list[OutboundMessage]:
    async with stack.service_app("auth").state.sessionmaker() as session:
        return list(await messages_to(session=session, to=email))


async def _counts(stack: Stack) -> tuple[int, int]:
    async with stack.service_app("auth").state.sessionmaker() as session:
        orgs = (await session.execute(select(func.count()).select_from(Organization))).scalar_one()
        users = (await session.execute(select(func.count()).select_from(User))).scalar_one()
    return int(orgs), int(users)


class TestSignup:
    async def test_creates_a_pending_organization_and_its_org_admin(self, stack: Stack) -> None:
        body = signup_body()
        response = await stack.client.post("/auth/signup", json=body)
        assert response.status_code == 202, response.text
        assert response.json() == {"status": "accepted", "email": body["user"]["email"], "detail": ACCEPTED_DETAIL}
        created = await whoami(stack.client, body["user"]["email"], body["user"]["password"])
        org = created["organization"]
        assert org["status"] == "pending"
        assert org["kind"] == "university"
        assert org["credit_code"] == body["organization"]["credit_code"]
        assert org["path"] == f"/{org['id']}/"
        assert org["parent_id"] is None
        assert created["user"]["roles"] == ["org_admin"]
        assert created["user"]["email"] == body["user"]["email"]
        # The owner of the address is told, with the ids the answer does not carry.
        (message,) = await _messages(stack, body["user"]["email"])
        assert message.kind == "signup.created"
        assert message.subject == "Your techmarket account was created"
        assert org["id"] in message.body
        assert created["user"]["id"] in message.body

    async def test_credit_code_is_normalized_from_full_width_and_lower_case(self, stack: Stack) -> None:
        code = credit_code()
        typed = code.translate(_FULLWIDTH).lower()
        created = await signup(stack.client, credit_code=f" {typed} ")
        assert created["organization"]["credit_code"] == code

    @pytest.mark.parametrize(
        "bad",
        ["91510100MA6C5XXXX0", "9151010", "91510100MA6C5XXXXXX", "ABCDEFGH" + "1" * 10, ""],
        ids=["checksum", "short", "long", "letters-in-region", "empty"],
    )
    async def test_invalid_credit_code_is_422_naming_it(self, stack: Stack, bad: str) -> None:
        before = await _counts(stack)
        response = await stack.client.post("/auth/signup", json=signup_body(credit_code=bad))
        assert_problem(response, 422, field="organization.credit_code")
        assert await _counts(stack) == before

    @pytest.mark.parametrize("bad", ["990000", "510199", "51010", "abcdef", "5101071"])
    async def test_invalid_region_is_422_naming_it(self, stack: Stack, bad: str) -> None:
        response = await stack.client.post("/auth/signup", json=signup_body(region_code=bad))
        assert_problem(response, 422, field="organization.region_code")

    @pytest.mark.parametrize("good", ["510107", "500103", "330100", "110000"])
    async def test_regions_of_the_shipped_table_are_accepted(self, stack: Stack, good: str) -> None:
        created = await signup(stack.client, region_code=good)
        assert created["organization"]["region_code"] == good

    async def test_duplicate_credit_code_is_409_and_stores_nothing(self, stack: Stack) -> None:
        first = await signup(stack.client)
        before = await _counts(stack)
        again = signup_body(credit_code=first["organization"]["credit_code"].lower())
        body = assert_problem(
            await stack.client.post("/auth/signup", json=again), 409, field="organization.credit_code"
        )
        assert body["type"] == "urn:techmarket:problem:credit-code-taken"
        assert await _counts(stack) == before

    async def test_a_taken_email_gets_the_same_answer_and_its_owner_is_told(self, stack: Stack) -> None:
        first = await signup(stack.client)
        before = await _counts(stack)
        fresh, taken = signup_body(), signup_body()
        taken["user"]["email"] = f"  {first['email'].upper()} "
        taken["user"]["password"] = "another horse battery"
        new_answer = await stack.client.post("/auth/signup", json=fresh)
        taken_answer = await stack.client.post("/auth/signup", json=taken)
        # Nothing in the answer tells whether the address has an account: same status, headers and body but for
        # the echoed address.
        assert (new_answer.status_code, taken_answer.status_code) == (202, 202)
        assert new_answer.headers.keys() - {"x-request-id"} == taken_answer.headers.keys() - {"x-request-id"}
        assert {**new_answer.json(), "email": first["email"]} == taken_answer.json()
        assert await _counts(stack) == (before[0] + 1, before[1] + 1)  # only the new address made an account
        # The owner learns of the attempt; the account is unchanged.
        created, attempt = await _messages(stack, first["email"])
        assert (created.kind, attempt.kind) == ("signup.created", "signup.email_taken")
        assert attempt.subject == "Someone tried to sign up with your address"
        assert "sign in" in attempt.body
        assert "reset" in attempt.body
        assert (await login(stack.client, first["email"], first["password"])).status_code == 200
        assert (await login(stack.client, first["email"], "another horse battery")).status_code == 400

    async def test_a_refused_signup_sends_nothing(self, stack: Stack) -> None:
        body = signup_body()
        body["user"]["password"] = "short1234"
        assert_problem(await stack.client.post("/auth/signup", json=body), 422, field="user.password")
        assert await _messages(stack, body["user"]["email"]) == []

    async def test_the_cli_prints_the_messages_of_an_address(
        self, stack: Stack, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        first = await signup(stack.client)
        again = signup_body()
        again["user"]["email"] = first["email"]
        assert (await stack.client.post("/auth/signup", json=again)).status_code == 202
        monkeypatch.setenv("AUTH_DATABASE_URL", stack.auth_settings.resolved_database_url)
        runner = CliRunner()
        printed = await asyncio.to_thread(runner.invoke, cli_app, ["auth", "messages", first["email"].upper()])
        assert printed.exit_code == 0, printed.output
        assert printed.output.count(f"To: {first['email']}") == 2
        assert printed.output.index("signup.created") < printed.output.index("signup.email_taken")
        assert first["organization"]["id"] in printed.output
        nobody = await asyncio.to_thread(runner.invoke, cli_app, ["auth", "messages", "nobody@nowhere.example"])
        assert nobody.exit_code == 0
        assert "no messages to nobody@nowhere.example" in nobody.output

    @pytest.mark.parametrize(
        ("password", "why"),
        [("short1234", "at least 10"), ("1234567890", "common"), ("Password123", "common"), ("x" * 257, "")],
    )
    async def test_weak_password_is_422(self, stack: Stack, password: str, why: str) -> None:
        body = signup_body()
        body["user"]["password"] = password
        problem = assert_problem(await stack.client.post("/auth/signup", json=body), 422, field="user.password")
        assert why in problem["detail"]

    @pytest.mark.parametrize(
        ("mutate", "field"),
        [
            (lambda b: b["organization"].update(kind="castle"), "organization.kind"),
            (lambda b: b["organization"].update(name="   "), "organization.name"),
            (lambda b: b["organization"].pop("name"), "organization.name"),
            (lambda b: b["organization"].update(status="verified"), "organization.status"),
            (lambda b: b["organization"].update(parent_id="not-a-uuid"), "organization.parent_id"),
            (lambda b: b["user"].update(email="not-an-email"), "user.email"),
            (lambda b: b["user"].update(roles=["platform_admin"]), "user.roles"),
            (lambda b: b.pop("user"), "user"),
        ],
        ids=[
            "kind",
            "blank-name",
            "no-name",
            "mass-assign-status",
            "parent-id",
            "email",
            "mass-assign-roles",
            "no-user",
        ],
    )
    async def test_bad_input_is_422_naming_the_field(self, stack: Stack, mutate: Any, field: str) -> None:
        body = signup_body()
        mutate(body)
        before = await _counts(stack)
        assert_problem(await stack.client.post("/auth/signup", json=body), 422, field=field)
        assert await _counts(stack) == before

    async def test_malformed_json_is_400(self, stack: Stack) -> None:
        response = await stack.client.post(
            "/auth/signup", content=b"{not json", headers={"Content-Type": "application/json"}
        )
        assert_problem(response, 400)


class TestTierRules:
    async def test_sub_center_needs_the_center_as_parent(self, stack: Stack, actors: Actors) -> None:
        assert_problem(
            await stack.client.post("/auth/signup", json=signup_body(kind="sub_center")),
            422,
            field="organization.parent_id",
        )
        admin = await actors.platform_admin()
        created = await signup(stack.client, kind="sub_center", parent_id=str(admin.org_id))
        assert created["organization"]["path"] == f"{admin.org_path}{created['organization']['id']}/"

    async def test_transfer_institution_below_a_sub_center_or_the_center(self, stack: Stack, actors: Actors) -> None:
        admin = await actors.platform_admin()
        sub_center = await actors.org_member(kind="sub_center")
        below_sub = await signup(stack.client, kind="transfer_institution", parent_id=str(sub_center.org_id))
        assert below_sub["organization"]["path"].startswith(f"{admin.org_path}{sub_center.org_id}/")
        below_center = await signup(stack.client, kind="transfer_institution", parent_id=str(admin.org_id))
        assert below_center["organization"]["parent_id"] == str(admin.org_id)

    @pytest.mark.parametrize(
        ("kind", "parent_kind"),
        [
            ("sub_center", "university"),
            ("sub_center", "sub_center"),
            ("transfer_institution", "university"),
            ("transfer_institution", "transfer_institution"),
            ("university", "sub_center"),
            ("enterprise", "center"),
            ("registration_office", "sub_center"),
        ],
    )
    async def test_a_wrong_tier_parent_is_422(self, stack: Stack, actors: Actors, kind: str, parent_kind: str) -> None:
        parent = await actors.org_member(kind=parent_kind)
        before = await _counts(stack)
        response = await stack.client.post("/auth/signup", json=signup_body(kind=kind, parent_id=str(parent.org_id)))
        assert_problem(response, 422, field="organization.parent_id")
        assert await _counts(stack) == before

    async def test_transfer_institution_without_parent_is_422(self, stack: Stack) -> None:
        response = await stack.client.post("/auth/signup", json=signup_body(kind="transfer_institution"))
        assert_problem(response, 422, field="organization.parent_id")

    async def test_unknown_parent_is_422(self, stack: Stack) -> None:
        response = await stack.client.post(
            "/auth/signup",
            json=signup_body(kind="sub_center", parent_id="01890a5d-ac96-774b-bcce-b302099a8057"),
        )
        assert_problem(response, 422, field="organization.parent_id")

    async def test_the_center_cannot_sign_up(self, stack: Stack) -> None:
        response = await stack.client.post("/auth/signup", json=signup_body(kind="center"))
        assert_problem(response, 422, field="organization.kind")
