"""Who acts in a test: users of organizations of each kind, platform admins, service clients.

Every actor is made through the auth service's public API, as a real client would: sign up an organization,
have the bootstrap platform admin verify it, add members with roles, then log in with the password grant; a
service client is created through POST /auth/clients and gets its token with client_credentials. Tests use only
``Actors`` and ``Actor``.

Market learns organizations from auth's feed (its organization directory): every organization an actor belongs to
reaches market as soon as it is made (``Actors.sync_directory`` drains auth's relay); a test that changes an
organization in auth afterwards calls ``sync_directory`` itself.
"""

from __future__ import annotations

import itertools
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.conftest import TEST_ADMIN_EMAIL, TEST_ADMIN_PASSWORD, Stack
from tests.support import codes

__all__ = ["Actor", "Actors"]

# Kinds that must hang below a tier parent; without an explicit parent, actors put them below the center.
_NEEDS_TIER_PARENT = frozenset({"sub_center", "transfer_institution"})
_counter = itertools.count(1)


@dataclass
class Actor:
    """A caller with a valid access token."""

    token: str
    subject: str
    org_id: uuid.UUID | None
    org_kind: str | None
    org_path: str | None
    roles: list[str]
    region_code: str | None = None
    credit_code: str | None = None
    org_name: str | None = None
    scopes: list[str] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        """The Authorization header."""
        return {"Authorization": f"Bearer {self.token}"}


def _expect(response: httpx.Response, status: int, what: str) -> Any:
    if response.status_code != status:
        raise AssertionError(f"actors: {what} answered {response.status_code}: {response.text}")
    return response.json() if response.content else None


class Actors:
    """Makes actors for a running stack through the auth service's API."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.client = stack.client
        self._admin: Actor | None = None
        self._clients: dict[str, list[str]] = {}

    async def _login(self, email: str, password: str) -> str:
        response = await self.client.post(
            "/auth/token", data={"grant_type": "password", "username": email, "password": password}
        )
        return str(_expect(response, 200, f"password grant for {email}")["access_token"])

    async def platform_admin(self) -> Actor:
        """The bootstrap platform admin of the center (国家技术转移西南中心)."""
        if self._admin is None:
            token = await self._login(TEST_ADMIN_EMAIL, TEST_ADMIN_PASSWORD)
            me = _expect(await self.client.get("/auth/me", headers={"Authorization": f"Bearer {token}"}), 200, "me")
            org = me["memberships"][0]["organization"]
            self._admin = Actor(
                token=token,
                subject=me["user"]["id"],
                org_id=uuid.UUID(org["id"]),
                org_kind=org["kind"],
                org_path=org["path"],
                roles=sorted(me["roles"]),
                region_code=org["region_code"],
                credit_code=org["credit_code"],
                org_name=org["name"],
            )
        return self._admin

    async def org_member(
        self,
        *,
        kind: str = "university",
        verified: bool = True,
        roles: Sequence[str] = ("org_admin", "member"),
        parent: Actor | None = None,
        region_code: str = "510100",
        name: str | None = None,
    ) -> Actor:
        """A user of a new organization of ``kind`` (below ``parent`` in the 1+4+N tree when given)."""
        admin = await self.platform_admin()
        if kind == "center":
            # There is one center, made by the bootstrap: a "center member" is a colleague of its platform admin.
            return await self.colleague(admin, roles=roles)
        n = next(_counter)
        parent_id = parent.org_id if parent is not None else (admin.org_id if kind in _NEEDS_TIER_PARENT else None)
        email = f"{kind}-{n}-{secrets.token_hex(3)}@actors.test"
        password = f"actor-pass-{secrets.token_hex(6)}"
        credit_code = codes.credit_code(region_code)
        org_name = name or f"{kind} {n}"
        organization: dict[str, Any] = {
            "name": org_name,
            "kind": kind,
            "credit_code": credit_code,
            "region_code": region_code,
        }
        if parent_id is not None:
            organization["parent_id"] = str(parent_id)
        _expect(
            await self.client.post(
                "/auth/signup",
                json={"organization": organization, "user": {"email": email, "password": password, "name": org_name}},
            ),
            202,
            f"signup of a {kind}",
        )
        # The signup answer names no ids (it is the same for a taken email): the new user learns them by signing in.
        me = await self._me(await self._login(email, password))
        org = me["memberships"][0]["organization"]
        org_id = uuid.UUID(org["id"])
        if verified:
            _expect(
                await self.client.post(f"/auth/organizations/{org_id}/verify", headers=admin.headers),
                200,
                "verify",
            )
        wanted = sorted(set(roles))
        certificate = _certificate_no() if "broker" in wanted else None
        if wanted == ["org_admin"]:
            pass
        elif "org_admin" in wanted:
            body: dict[str, Any] = {"roles": wanted}
            if certificate:
                body["broker_certificate_no"] = certificate
            _expect(
                await self.client.patch(
                    f"/auth/organizations/{org_id}/members/{me['user']['id']}", json=body, headers=admin.headers
                ),
                200,
                "role change",
            )
        else:
            email, password = await self._add_member(org_id, wanted, certificate)
        await self.sync_directory(org_id)
        token = await self._login(email, password)
        return Actor(
            token=token,
            subject=await self._subject(token),
            org_id=org_id,
            org_kind=kind,
            org_path=org["path"],
            roles=wanted,
            region_code=region_code,
            credit_code=credit_code,
            org_name=org_name,
        )

    async def _add_member(self, org_id: uuid.UUID, roles: list[str], certificate: str | None) -> tuple[str, str]:
        admin = await self.platform_admin()
        email = f"member-{next(_counter)}-{secrets.token_hex(3)}@actors.test"
        password = f"actor-pass-{secrets.token_hex(6)}"
        body: dict[str, Any] = {"email": email, "name": email.split("@")[0], "password": password, "roles": roles}
        if certificate:
            body["broker_certificate_no"] = certificate
        _expect(
            await self.client.post(f"/auth/organizations/{org_id}/members", json=body, headers=admin.headers),
            201,
            "add member",
        )
        return email, password

    async def _me(self, token: str) -> Any:
        return _expect(await self.client.get("/auth/me", headers={"Authorization": f"Bearer {token}"}), 200, "me")

    async def _subject(self, token: str) -> str:
        return str((await self._me(token))["user"]["id"])

    async def colleague(self, of: Actor, *, roles: Sequence[str] = ("member",)) -> Actor:
        """Another user of the same organization as ``of``."""
        assert of.org_id is not None, "a colleague needs an organization"
        wanted = sorted(set(roles))
        certificate = _certificate_no() if "broker" in wanted else None
        email, password = await self._add_member(of.org_id, wanted, certificate)
        token = await self._login(email, password)
        return Actor(
            token=token,
            subject=await self._subject(token),
            org_id=of.org_id,
            org_kind=of.org_kind,
            org_path=of.org_path,
            roles=wanted,
            region_code=of.region_code,
            credit_code=of.credit_code,
            org_name=of.org_name,
        )

    async def service_client(
        self, *, scopes: Sequence[str] = ("search:ingest",), client_id: str = "test-client"
    ) -> Actor:
        """A client_credentials caller with ``scopes`` (created, or re-scoped, through /auth/clients)."""
        admin = await self.platform_admin()
        wanted = sorted(set(scopes))
        if client_id not in self._clients:
            created = _expect(
                await self.client.post(
                    "/auth/clients",
                    json={"client_id": client_id, "name": f"test client {client_id}", "scopes": wanted},
                    headers=admin.headers,
                ),
                201,
                "create client",
            )
            self._clients[client_id] = [created["client_secret"]]
        else:
            _expect(
                await self.client.patch(f"/auth/clients/{client_id}", json={"scopes": wanted}, headers=admin.headers),
                200,
                "re-scope client",
            )
        secret = self._clients[client_id][0]
        response = await self.client.post(
            "/auth/token",
            data={"grant_type": "client_credentials", "scope": " ".join(wanted)},
            auth=(client_id, secret),
        )
        token = str(_expect(response, 200, "client_credentials grant")["access_token"])
        return Actor(token=token, subject=client_id, org_id=None, org_kind=None, org_path=None, roles=[], scopes=wanted)

    async def sync_directory(self, *org_ids: uuid.UUID) -> int:
        """Let auth's organization feed reach market, as it does in the running system within the relay's delay.

        Call it after creating, verifying or changing an organization in auth (org_member does, for the ones it
        makes). Tests run with the relays off (ENVIRONMENT=test), so this drains auth's relay by hand: every pending
        organization event travels the real path — auth's outbox, a client_credentials token of auth-relay, and
        POST /market/directory/organizations. ``org_ids`` name what the caller waits for; the drain delivers all.
        Returns how many events were delivered.
        """
        del org_ids  # the relay delivers every pending event, in order per organization
        relay = self.stack.service_app("auth").state.relay
        return int(await relay.drain())

    async def aclose(self) -> None:
        """Nothing to release: every call went through the stack's own client."""


def _certificate_no() -> str:
    """A broker certificate number (技术经纪人证书编号) in the shape the auth service accepts."""
    return f"JJR-{secrets.randbelow(10**10):010d}"
