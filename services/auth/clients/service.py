"""Business rules of OAuth2 clients: who creates them, which scopes they get, authenticating them."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping, Sequence

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth.audit import service as audit
from services.auth.clients.models import Client
from services.auth.clients.repository import ClientRepository
from services.auth.clients.schemas import ClientCreate, ClientUpdate
from services.auth.organizations.repository import OrganizationRepository
from services.auth.passwords import PasswordHasher
from services.auth.permissions import is_org_admin_of, is_platform_admin
from services.auth.vocabulary import OrgStatus
from shared.clock import utcnow
from shared.errors import Conflict, Forbidden, NotFound, ValidationFailed
from shared.security import Principal

__all__ = [
    "PLATFORM_SCOPES",
    "authenticate",
    "create",
    "disable",
    "ensure_service_client",
    "list_visible",
    "update",
]

# Scopes that let a client act across the whole platform; only platform admins grant them.
PLATFORM_SCOPES = frozenset({"search:ingest", "market:read", "market:directory", "auth:directory"})


def _check_scopes_grantable(scopes: Sequence[str], *, by_platform_admin: bool) -> None:
    if by_platform_admin:
        return
    for scope in scopes:
        if scope in PLATFORM_SCOPES or scope.endswith(":admin"):
            raise ValidationFailed.field("scopes", f"only a platform admin may grant {scope}", type="scope_rule")


def _new_secret() -> str:
    return secrets.token_urlsafe(32)


async def create(
    *, session: AsyncSession, principal: Principal, data: ClientCreate, hasher: PasswordHasher
) -> tuple[Client, str]:
    """A new client and its secret (returned once)."""
    admin = is_platform_admin(principal)
    organization_id = data.organization_id
    if not admin:
        if principal.org_id is None or not is_org_admin_of(principal, principal.org_id):
            raise Forbidden("Only platform admins and org admins create clients.")
        if organization_id is None:
            organization_id = principal.org_id
        if organization_id != principal.org_id:
            raise ValidationFailed.field(
                "organization_id", "an org admin creates clients for their own organization only", type="scope_rule"
            )
        if not principal.org_verified:
            raise Forbidden("The organization must be verified before it can have clients.")
    if organization_id is not None:
        organization = await OrganizationRepository(session).get(organization_id)
        if organization is None or organization.status == OrgStatus.REJECTED:
            raise ValidationFailed.field("organization_id", "no such organization", type="not_found")
    _check_scopes_grantable(data.scopes, by_platform_admin=admin)
    repo = ClientRepository(session)
    client_id = data.client_id or f"c-{secrets.token_hex(8)}"
    if await repo.by_client_id(client_id) is not None:
        raise _client_id_taken()
    secret = _new_secret()
    client = Client(
        client_id=client_id,
        name=data.name,
        secret_hash=await hasher.hash(secret),
        scopes=" ".join(data.scopes),
        organization_id=organization_id,
        created_by=uuid.UUID(principal.subject),
    )
    try:
        await repo.add(client)
    except IntegrityError as exc:
        raise _client_id_taken() from exc
    await audit.record(
        session=session,
        actor=f"user:{principal.subject}",
        action="client.create",
        organization_id=organization_id,
        subject=client_id,
        to_state=client.scopes,
    )
    return client, secret


def _client_id_taken() -> Conflict:
    return Conflict(
        "A client with this client_id exists.",
        slug="client-id-taken",
        errors=[{"field": "client_id", "message": "already taken", "type": "duplicate"}],
    )


async def _managed(*, session: AsyncSession, principal: Principal, client_id: str) -> Client:
    client = await ClientRepository(session).by_client_id(client_id)
    if client is None:
        raise NotFound("No such client.")
    if is_platform_admin(principal):
        return client
    if client.organization_id is None or not is_org_admin_of(principal, client.organization_id):
        raise NotFound("No such client.")
    return client


async def list_visible(
    *, session: AsyncSession, principal: Principal, limit: int, after: uuid.UUID | None
) -> Sequence[Client]:
    """All clients for platform admins; their organization's for org admins."""
    admin = is_platform_admin(principal)
    if not admin and (principal.org_id is None or not is_org_admin_of(principal, principal.org_id)):
        raise Forbidden("Only platform admins and org admins list clients.")
    return await ClientRepository(session).page(
        organization_id=principal.org_id, everything=admin, limit=limit, after=after
    )


def _refuse_built_in(client_id: str, built_in: Mapping[str, str], doing: str) -> None:
    """403 for a built-in service client: the startup would undo the change, and until then a service stops."""
    purpose = built_in.get(client_id)
    if purpose is not None:
        raise Forbidden(
            f"{client_id} is a built-in service client and cannot be {doing} through the API: {purpose}. "
            "It follows AUTH_SERVICE_CLIENTS at every start; change that setting instead.",
            slug="built-in-client",
            title="Built-in service client",
        )


async def update(
    *,
    session: AsyncSession,
    principal: Principal,
    client_id: str,
    data: ClientUpdate,
    built_in: Mapping[str, str],
) -> Client:
    """Rename a client or change its scopes (tokens already issued keep theirs until they expire).

    ``built_in`` maps the client ids of the configured service clients to what depends on them: their scopes
    do not change through the API (a rename does no harm).
    """
    client = await _managed(session=session, principal=principal, client_id=client_id)
    before = client.scopes
    if data.scopes is not None and " ".join(data.scopes) != client.scopes:
        _refuse_built_in(client_id, built_in, "given other scopes")
    if data.scopes is not None:
        _check_scopes_grantable(data.scopes, by_platform_admin=is_platform_admin(principal))
        client.scopes = " ".join(data.scopes)
    if data.name is not None:
        client.name = data.name
    client.updated_at = utcnow()
    session.add(client)
    await audit.record(
        session=session,
        actor=f"user:{principal.subject}",
        action="client.update",
        organization_id=client.organization_id,
        subject=client_id,
        from_state=before,
        to_state=client.scopes,
    )
    await session.flush()
    return client


async def disable(*, session: AsyncSession, principal: Principal, client_id: str, built_in: Mapping[str, str]) -> None:
    """Disable a client: it gets no new tokens. Built-in service clients (``built_in``) are refused."""
    client = await _managed(session=session, principal=principal, client_id=client_id)
    _refuse_built_in(client_id, built_in, "disabled or deleted")
    if client.disabled_at is None:
        client.disabled_at = utcnow()
        session.add(client)
        await audit.record(
            session=session,
            actor=f"user:{principal.subject}",
            action="client.disable",
            organization_id=client.organization_id,
            subject=client_id,
            to_state="disabled",
        )
        await session.flush()


async def authenticate(
    *, session: AsyncSession, client_id: str, client_secret: str, hasher: PasswordHasher
) -> Client | None:
    """The enabled client whose secret matches, else None (same work either way)."""
    client = await ClientRepository(session).by_client_id(client_id)
    stored = client.secret_hash if client is not None and client.disabled_at is None else None
    ok, new_hash = await hasher.verify(client_secret, stored)
    if not ok or client is None:
        return None
    if new_hash is not None:
        client.secret_hash = new_hash
        session.add(client)
        await session.flush()
    return client


async def ensure_service_client(
    *, session: AsyncSession, client_id: str, client_secret: str, scopes: Sequence[str], hasher: PasswordHasher
) -> Client:
    """Create or update a configured service client (startup): its secret and scopes follow the settings."""
    repo = ClientRepository(session)
    client = await repo.by_client_id(client_id)
    scope_text = " ".join(sorted(set(scopes)))
    if client is None:
        client = Client(
            client_id=client_id,
            name=f"service client {client_id}",
            secret_hash=await hasher.hash(client_secret),
            scopes=scope_text,
        )
        await repo.add(client)
        await audit.record(
            session=session, actor="system:startup", action="client.ensure", subject=client_id, to_state=scope_text
        )
        return client
    ok, _ = await hasher.verify(client_secret, client.secret_hash)
    if not ok or client.scopes != scope_text or client.disabled_at is not None:
        before = client.scopes
        if not ok:
            client.secret_hash = await hasher.hash(client_secret)
        client.scopes = scope_text
        client.disabled_at = None
        client.updated_at = utcnow()
        session.add(client)
        await audit.record(
            session=session,
            actor="system:startup",
            action="client.ensure",
            subject=client_id,
            from_state=before,
            to_state=scope_text,
        )
        await session.flush()
    return client
