"""Plain helpers of the directory tests: feed documents, organizations market does not know yet, stored cards."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from typing import Any

from services.market.directory import service as directory
from services.market.directory.schemas import OrganizationCard
from services.market.outbox.models import OutboxEvent
from shared.outbox.repository import OutboxRepository
from tests.auth.helpers import whoami
from tests.conftest import Stack
from tests.support import codes
from tests.support.actors import Actor, Actors

__all__ = ["add_broker", "auth_organization", "document", "feed", "outbox_of", "stored", "unsynced_member"]


def document(organization: dict[str, Any], *, version: int, **changes: Any) -> dict[str, Any]:
    """The relay's document of ``organization`` (as auth's API shows it) at ``version``, with ``changes``."""
    fields = {
        name: organization.get(name)
        for name in ("id", "name", "kind", "credit_code", "region_code", "parent_id", "path", "status")
    }
    fields |= {"version": version, "updated_at": "2026-11-29T08:00:00+00:00", **changes}
    return {
        "op": "upsert",
        "kind": "organization",
        "id": fields["id"],
        "version": version,
        "event_type": f"organization.{fields['status']}",
        "fields": fields,
    }


async def feed(stack: Stack, actors: Actors, *documents: dict[str, Any]) -> dict[str, Any]:
    """POST the documents as auth's relay does (200 asserted); market's answer."""
    relay = await actors.service_client(scopes=["market:directory"], client_id="auth-relay-test")
    response = await stack.client.post(
        "/market/directory/organizations", json={"documents": list(documents)}, headers=relay.headers
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def auth_organization(stack: Stack, actors: Actors, org_id: uuid.UUID | str) -> dict[str, Any]:
    """The organization as auth's API shows it to the platform admin."""
    admin = await actors.platform_admin()
    response = await stack.client.get(f"/auth/organizations/{org_id}", headers=admin.headers)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def stored(stack: Stack, org_id: uuid.UUID | str) -> OrganizationCard | None:
    """What market's directory holds of an organization."""
    async with stack.service_app("market").state.sessionmaker() as session:
        return await directory.get(session=session, org_id=uuid.UUID(str(org_id)))


async def outbox_of(stack: Stack, kind: str, entity_id: str) -> list[OutboxEvent]:
    """Every outbox event of one listing, oldest first."""
    async with stack.service_app("market").state.sessionmaker() as session:
        return await OutboxRepository(session, OutboxEvent).list_for_entity(
            entity_kind=kind, entity_id=uuid.UUID(entity_id)
        )


async def unsynced_member(
    stack: Stack, actors: Actors, *, kind: str = "university", region_code: str = "510104", verified: bool = True
) -> Actor:
    """The first user (org_admin) of a new organization made through auth's API only: market has not heard of it."""
    admin = await actors.platform_admin()
    email = f"unsynced-{secrets.token_hex(4)}@directory.test"
    password = f"pass-{secrets.token_hex(8)}"
    name = f"未同步的{kind}{secrets.token_hex(2)}"
    credit_code = codes.credit_code(region_code)
    signup = await stack.client.post(
        "/auth/signup",
        json={
            "organization": {"name": name, "kind": kind, "credit_code": credit_code, "region_code": region_code},
            "user": {"email": email, "password": password, "name": name},
        },
    )
    assert signup.status_code == 202, signup.text
    # The signup answer names no ids: the new user learns them by signing in.
    learned = await whoami(stack.client, email, password)
    org = learned["organization"]
    if verified:
        verify = await stack.client.post(f"/auth/organizations/{org['id']}/verify", headers=admin.headers)
        assert verify.status_code == 200, verify.text
    token = await stack.client.post(
        "/auth/token", data={"grant_type": "password", "username": email, "password": password}
    )
    assert token.status_code == 200, token.text
    return Actor(
        token=token.json()["access_token"],
        subject=learned["user"]["id"],
        org_id=uuid.UUID(org["id"]),
        org_kind=kind,
        org_path=org["path"],
        roles=["org_admin"],
        region_code=region_code,
        credit_code=credit_code,
        org_name=name,
    )


async def add_broker(
    stack: Stack, actors: Actors, org_id: uuid.UUID | None, *, valid_until: dt.date | None, **extra: Any
) -> dict[str, Any]:
    """A new broker member of the organization (added by the platform admin); its user id, email and password."""
    admin = await actors.platform_admin()
    email = f"broker-{secrets.token_hex(4)}@certs.test"
    password = f"broker-pass-{secrets.token_hex(6)}"
    body: dict[str, Any] = {
        "email": email,
        "name": "经纪人",
        "password": password,
        "roles": ["broker"],
        "broker_certificate_no": f"JJR-{secrets.token_hex(4).upper()}",
        "broker_certificate_issuer": "四川省科学技术厅",
        **extra,
    }
    if valid_until is not None:
        body["broker_certificate_valid_until"] = valid_until.isoformat()
    response = await stack.client.post(f"/auth/organizations/{org_id}/members", json=body, headers=admin.headers)
    assert response.status_code == 201, response.text
    return {"user_id": response.json()["user_id"], "email": email, "password": password, "member": response.json()}
