"""Endpoints of registration offices: /market/offices."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, status

from services.market.audit.schemas import AuditEventPublic
from services.market.offices import service
from services.market.offices.schemas import OfficeCreate, OfficePublic, OfficeUpdate
from shared.db import SessionDep
from shared.errors import problem_responses
from shared.pagination import Cursor, Limit, Page, cursor_after, cursor_id
from shared.security import CurrentPrincipal, Principal, require_roles

__all__ = ["router"]

router = APIRouter(prefix="/offices", tags=["registration offices"])
Admin = Annotated[Principal, Depends(require_roles("platform_admin"))]


def _public(row: Any) -> OfficePublic:
    return OfficePublic.model_validate(dict(row))


@router.get(
    "",
    summary="List registration offices",
    description="Every known registration office (登记机构) and the region it serves. Any signed-in caller.",
    responses=problem_responses(401, 422),
)
async def list_offices(
    session: SessionDep, _: CurrentPrincipal, limit: Limit = 50, cursor: Cursor = None
) -> Page[OfficePublic]:
    after = cursor_id(cursor)
    rows = await service.list_offices(session=session, after_id=after, limit=limit + 1)
    items = [_public(r) for r in rows[:limit]]
    return Page(items=items, next_cursor=cursor_after(rows, limit, id_of=lambda row: row["id"]))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Register an office",
    description="Offices normally come from the organization directory: a registration_office organization "
    "verified in auth gets its office row as soon as auth publishes it (and loses it, inactive, when suspended or "
    "rejected). Platform admins add the row by hand only as a repair: `id` must be a verified registration_office "
    "organization of market's directory (422 naming `id` otherwise), `region_code` its region there (the default; "
    "422 naming `region_code` otherwise), `name` defaults to its name. Audited.",
    responses=problem_responses(401, 403, 409, 422),
)
async def create_office(session: SessionDep, principal: Admin, data: OfficeCreate) -> OfficePublic:
    return _public(await service.create_office(session=session, principal=principal, data=data))


@router.get(
    "/{office_id}",
    summary="One registration office",
    description="An office and the region it serves.",
    responses=problem_responses(401, 404, 422),
)
async def get_office(session: SessionDep, _: CurrentPrincipal, office_id: uuid.UUID) -> OfficePublic:
    return _public(await service.get_office(session=session, office_id=office_id))


@router.patch(
    "/{office_id}",
    summary="Change an office",
    description="Platform admins rename or deactivate an office (new submissions then route elsewhere; its "
    "contracts stay with it). Anything but a deactivation needs its organization verified in the directory (422 "
    "naming `office_id`), and `region_code` can only be the organization's region there (422): an office is never "
    "re-regioned by hand. Audited.",
    responses=problem_responses(401, 403, 404, 422),
)
async def update_office(
    session: SessionDep, principal: Admin, office_id: uuid.UUID, data: OfficeUpdate
) -> OfficePublic:
    return _public(await service.update_office(session=session, principal=principal, office_id=office_id, data=data))


_OFFICE_EVENTS = (
    "Hand registrations and edits by platform admins, with actor, from → to, time and request id (changes that "
    "follow the directory are the organization's own history in auth). Platform admins."
)


async def office_events(
    session: SessionDep, _: Admin, office_id: uuid.UUID, limit: Limit = 50, cursor: Cursor = None
) -> Page[AuditEventPublic]:
    return await service.office_history(session=session, office_id=office_id, limit=limit, cursor=cursor)


# GET /{id}/events, the audit trail's path in every domain; /history, its former path, is a deprecated alias.
router.get(
    "/{office_id}/events",
    name="office_events",
    summary="Audit events of an office",
    description=_OFFICE_EVENTS,
    response_model=Page[AuditEventPublic],
    responses=problem_responses(401, 403, 404, 422),
)(office_events)
router.get(
    "/{office_id}/history",
    name="office_history",
    summary="Audit history of an office (deprecated: use /events)",
    description=f"Deprecated alias of GET /market/offices/{{office_id}}/events, same answer. {_OFFICE_EVENTS}",
    response_model=Page[AuditEventPublic],
    responses=problem_responses(401, 403, 404, 422),
    deprecated=True,
)(office_events)
