"""Every admin action of auth is in the audit log, with the acting admin: the log is listed after each action.

Key rotation is covered in tests/auth/test_keys.py (it needs a stack whose keys age within the test)."""

from __future__ import annotations

import secrets
from typing import Any

from tests.auth.helpers import audit_log, signup
from tests.conftest import Stack
from tests.support.actors import Actors


class AuditTrail:
    """Asserts that each action added exactly the expected events."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.seen = 0

    async def start(self) -> None:
        self.seen = len(await audit_log(self.stack))

    async def expect(self, *events: tuple[str, str, str | None]) -> list[tuple[str, str, str | None, str | None]]:
        log = await audit_log(self.stack)
        new = log[self.seen :]
        self.seen = len(log)
        assert [(a, b, c) for a, b, c, _ in new] == list(events)
        return new


async def test_every_admin_action_of_auth_is_audited(stack: Stack, actors: Actors) -> None:
    admin = await actors.platform_admin()
    by = f"user:{admin.subject}"
    trail = AuditTrail(stack)
    await trail.start()
    h = admin.headers

    # Clients: create, re-scope, disable.
    created = await stack.client.post("/auth/clients", json={"client_id": "audited", "name": "x"}, headers=h)
    assert created.status_code == 201, created.text
    await trail.expect((by, "client.create", "audited"))
    assert (await stack.client.patch("/auth/clients/audited", json={"scopes": ["a:b"]}, headers=h)).status_code == 200
    (event,) = await trail.expect((by, "client.update", "audited"))
    assert event[3] == "a:b"
    assert (await stack.client.delete("/auth/clients/audited", headers=h)).status_code == 204
    await trail.expect((by, "client.disable", "audited"))
    # Refused on a built-in client: nothing happened, nothing logged.
    assert (await stack.client.delete("/auth/clients/market-relay", headers=h)).status_code == 403
    await trail.expect()

    # Organizations: verify, reject, suspend, reinstate, update.
    first: dict[str, Any] = (await signup(stack.client))["organization"]
    second: dict[str, Any] = (await signup(stack.client))["organization"]
    await trail.start()
    org = f"/auth/organizations/{first['id']}"
    assert (await stack.client.post(f"{org}/verify", headers=h)).status_code == 200
    await trail.expect((by, "organization.verify", first["id"]))
    rejected = await stack.client.post(
        f"/auth/organizations/{second['id']}/reject", json={"reason": "名称不符"}, headers=h
    )
    assert rejected.status_code == 200, rejected.text
    await trail.expect((by, "organization.reject", second["id"]))
    assert (await stack.client.post(f"{org}/suspend", json={"reason": "审计"}, headers=h)).status_code == 200
    await trail.expect((by, "organization.suspend", first["id"]))
    assert (await stack.client.post(f"{org}/reinstate", headers=h)).status_code == 200
    await trail.expect((by, "organization.reinstate", first["id"]))
    assert (await stack.client.patch(org, json={"name": "四川大学（审计）"}, headers=h)).status_code == 200
    await trail.expect((by, "organization.update", first["id"]))

    # Members: add, change roles, remove.
    body = {"email": f"m-{secrets.token_hex(4)}@example.cn", "name": "张三", "password": "member-password-1"}
    added = await stack.client.post(f"{org}/members", json={**body, "roles": ["member"]}, headers=h)
    assert added.status_code == 201, added.text
    user_id = added.json()["user_id"]
    await trail.expect((by, "member.add", str(user_id)))
    changed = await stack.client.patch(f"{org}/members/{user_id}", json={"roles": ["member", "org_admin"]}, headers=h)
    assert changed.status_code == 200, changed.text
    await trail.expect((by, "member.update", str(user_id)))
    assert (await stack.client.delete(f"{org}/members/{user_id}", headers=h)).status_code == 204
    await trail.expect((by, "member.remove", str(user_id)))
