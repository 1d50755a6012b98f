"""Plain factory functions and assertions for the auth tests."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
from sqlalchemy import select

from services.auth.audit.models import AuditEvent
from tests.conftest import Stack
from tests.support.codes import credit_code

__all__ = [
    "assert_oauth_error",
    "audit_log",
    "login",
    "signup",
    "signup_body",
    "whoami",
]

# The fields of an organization document in auth's feed to market's directory (outbox payload and relay body).
ORGANIZATION_FEED_FIELDS = {
    "id",
    "name",
    "kind",
    "credit_code",
    "region_code",
    "parent_id",
    "path",
    "status",
    "designation",
    "broker_certificates_valid_until",
    "version",
    "updated_at",
}


def signup_body(**organization: Any) -> dict[str, Any]:
    """A valid signup of a university; keyword arguments override organization fields (None removes one)."""
    org: dict[str, Any] = {
        "name": "四川大学",
        "kind": "university",
        "credit_code": credit_code(),
        "region_code": "510107",
    }
    org.update(organization)
    org = {k: v for k, v in org.items() if v is not None}
    return {
        "organization": org,
        "user": {
            "email": f"tto-{secrets.token_hex(4)}@scu.example.cn",
            "password": "correct horse battery",
            "name": "技术转移中心",
        },
    }


async def signup(client: httpx.AsyncClient, **organization: Any) -> dict[str, Any]:
    """Sign up an organization; returns what the owner of the address learns (signing in: GET /auth/me) in the
    shape {"organization": OrganizationPublic, "user": {id, email, name, roles}}, plus the credentials used.

    The signup answer itself carries no ids: it is the same 202 for a new and a taken email."""
    body = signup_body(**organization)
    response = await client.post("/auth/signup", json=body)
    assert response.status_code == 202, response.text
    email, password = body["user"]["email"], body["user"]["password"]
    return {**await whoami(client, email, password), "email": email, "password": password}


async def whoami(client: httpx.AsyncClient, email: str, password: str) -> dict[str, Any]:
    """Sign in and read GET /auth/me: {"organization": …, "user": {id, email, name, roles}} of the first membership."""
    token = await login(client, email, password)
    assert token.status_code == 200, token.text
    me = await client.get("/auth/me", headers={"Authorization": f"Bearer {token.json()['access_token']}"})
    assert me.status_code == 200, me.text
    data = me.json()
    membership = data["memberships"][0]
    return {
        "organization": membership["organization"],
        "user": {
            "id": data["user"]["id"],
            "email": data["user"]["email"],
            "name": data["user"]["name"],
            "roles": membership["roles"],
        },
    }


async def login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    """The password grant."""
    return await client.post("/auth/token", data={"grant_type": "password", "username": email, "password": password})


def assert_oauth_error(response: httpx.Response, status: int, error: str) -> dict[str, Any]:
    """An RFC 6749 §5.2 error (JSON with error and error_description, never problem+json, never cached)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    assert body["error"] == error
    assert set(body) == {"error", "error_description"}
    return body


async def audit_log(stack: Stack) -> list[tuple[str, str, str | None, str | None]]:
    """(actor, action, subject, to_state) of every audit event, oldest first."""
    async with stack.service_app("auth").state.sessionmaker() as session:
        rows = (await session.execute(select(AuditEvent))).scalars().all()
    ordered = sorted(rows, key=lambda e: (e.at, e.id))
    return [(e.actor, e.action, e.subject, e.to_state) for e in ordered]
