"""OAuth2 clients: created by platform admins, or by org admins for their own organization."""

from __future__ import annotations

from fastapi import APIRouter, Response

from services.auth.clients import service as clients_service
from services.auth.clients.models import Client
from services.auth.clients.schemas import ClientCreate, ClientPublic, ClientUpdate, ClientWithSecretPublic
from services.auth.deps import AuthPrincipal, HasherDep, SettingsDep
from services.auth.settings import AuthSettings
from shared.db import SessionDep
from shared.errors import problem_responses
from shared.pagination import DEFAULT_LIMIT, Cursor, Limit, Page, cursor_after, cursor_id

__all__ = ["router"]

router = APIRouter(tags=["clients"])


def _built_in(settings: AuthSettings) -> dict[str, str]:
    """The configured service clients and what depends on each."""
    return {c.client_id: c.purpose for c in settings.service_clients}


def _public(client: Client) -> ClientPublic:
    return ClientPublic(
        client_id=client.client_id,
        name=client.name,
        scopes=client.scope_list,
        organization_id=client.organization_id,
        created_at=client.created_at,
        disabled_at=client.disabled_at,
    )


@router.post(
    "/clients",
    summary="Create a client_credentials client",
    description="Platform admins create any client (platform scopes such as search:ingest and market:read, with "
    "or without an organization); org admins of a verified organization create clients acting for it. The "
    "secret is in this response only; it is stored hashed.",
    status_code=201,
    response_model=ClientWithSecretPublic,
    responses=problem_responses(401, 403, 409, 422),
)
async def create_client(
    body: ClientCreate, principal: AuthPrincipal, session: SessionDep, hasher: HasherDep
) -> ClientWithSecretPublic:
    client, secret = await clients_service.create(session=session, principal=principal, data=body, hasher=hasher)
    return ClientWithSecretPublic(**_public(client).model_dump(), client_secret=secret)


@router.get(
    "/clients",
    summary="List clients",
    description="Every client for platform admins; their organization's for org admins.",
    response_model=Page[ClientPublic],
    responses=problem_responses(401, 403, 422),
)
async def list_clients(
    principal: AuthPrincipal, session: SessionDep, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> Page[ClientPublic]:
    rows = await clients_service.list_visible(
        session=session, principal=principal, limit=limit, after=cursor_id(cursor)
    )
    next_cursor = cursor_after(rows, limit, id_of=lambda row: row.id)
    return Page[ClientPublic](items=[_public(c) for c in rows[:limit]], next_cursor=next_cursor)


@router.patch(
    "/clients/{client_id}",
    summary="Rename a client or change its scopes",
    description="The built-in service clients (AUTH_SERVICE_CLIENTS: market-relay, search-indexer, auth-relay) "
    "keep their scopes: changing them answers 403 `built-in-client`.",
    response_model=ClientPublic,
    responses=problem_responses(401, 403, 404, 422),
)
async def update_client(
    client_id: str, body: ClientUpdate, principal: AuthPrincipal, session: SessionDep, settings: SettingsDep
) -> ClientPublic:
    client = await clients_service.update(
        session=session, principal=principal, client_id=client_id, data=body, built_in=_built_in(settings)
    )
    return _public(client)


@router.delete(
    "/clients/{client_id}",
    summary="Disable a client",
    description="It gets no new tokens; tokens already issued expire within the access-token lifetime. The "
    "built-in service clients cannot be disabled: 403 `built-in-client`.",
    status_code=204,
    responses=problem_responses(401, 403, 404),
)
async def disable_client(
    client_id: str, principal: AuthPrincipal, session: SessionDep, settings: SettingsDep
) -> Response:
    await clients_service.disable(
        session=session, principal=principal, client_id=client_id, built_in=_built_in(settings)
    )
    return Response(status_code=204)
