"""Plain factory functions for contract tests: registrars, sellers, payloads, a registered contract."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from shared.clock import today_in_china
from tests.conftest import Stack
from tests.support.actors import Actor, Actors
from tests.support.codes import credit_code

__all__ = ["payload", "register", "registrar", "seller", "submit"]

_counter = itertools.count(1)


async def registrar(actors: Actors, *, region_code: str = "510100") -> Actor:
    """A registrar of a new registration office serving ``region_code`` (its office row comes from the directory)."""
    return await actors.org_member(kind="registration_office", roles=("registrar", "member"), region_code=region_code)


async def seller(actors: Actors, *, region_code: str = "510104", kind: str = "university") -> Actor:
    """A member of a new seller organization."""
    return await actors.org_member(kind=kind, roles=("member",), region_code=region_code)


def payload(by: Actor, **overrides: Any) -> dict[str, Any]:
    """A valid submission body for ``by``'s organization as seller (its own credit code, as the rule requires);
    overrides replace top-level keys."""
    body: dict[str, Any] = {
        "seller": {
            "name": by.org_name or "四川大学",
            "credit_code": by.credit_code,
            "region_code": by.region_code or "510104",
            "entity_type": "university",
        },
        "buyer": {
            "name": "重庆某某科技有限公司",
            "credit_code": credit_code("500000"),
            "region_code": "500103",
            "entity_type": "enterprise",
            "ownership": "private",
        },
        "kind": "transfer",
        "subkind": "patent_right_transfer",
        "technical_field": "new_materials",
        "title": "一种高强度复合材料的专利权转让",
        "contract_no": f"SCU-{next(_counter):06d}",
        "signed_on": (today_in_china() - dt.timedelta(days=10)).isoformat(),
        "contract_amount_fen": 1_234_567_89,
        "technology_amount_fen": 1_000_000_00,
    }
    if overrides.get("submitted_as") == "broker":
        # A broker names parties by the directory; the default buyer is nobody's, so it is declared unverified.
        body["buyer"]["unverified"] = True
    body.update(overrides)
    return body


async def submit(stack: Stack, by: Actor, **overrides: Any) -> dict[str, Any]:
    """Submit a contract and return its JSON (asserting 201)."""
    response = await stack.client.post("/market/contracts", json=payload(by, **overrides), headers=by.headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def register(stack: Stack, by: Actor, contract_id: str, **body: Any) -> dict[str, Any]:
    """Register a contract as registrar ``by`` and return its JSON (asserting 200)."""
    response = await stack.client.post(f"/market/contracts/{contract_id}/register", json=body, headers=by.headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def ensure_office(stack: Stack, by: Actor) -> None:
    """Check that the registrar's office is known to market (the directory made it when the office was verified)."""
    response = await stack.client.get("/market/contracts?status=submitted", headers=by.headers)
    assert response.status_code == 200, response.text
