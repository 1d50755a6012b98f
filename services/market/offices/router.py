"""Endpoints of registration offices: /market/offices."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, status

from services.market.offices import service
from services.market.offices.schemas import OfficeCreate, OfficePublic, OfficeUpdate
from shared.db import SessionDep
from shared.errors import problem_responses
from shared.pagination import Cursor, Limit, Page, cursor_id, encode_cursor
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
    return Page(items=items, next_cursor=encode_cursor(str(items[-1].id)) if len(rows) > limit else None)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Register an office",
    description="Platform admins add a registration office by hand: its auth organization id, region and name. "
    "Offices normally come from the organization directory: a registration_office organization verified in auth "
    "gets its office row as soon as auth publishes it (and loses it, inactive, when suspended or rejected). Use this "
    "for an office the directory does not know yet; later directory changes of that organization apply to it too.",
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
    description="Platform admins rename an office, change its region or deactivate it (new submissions then "
    "route elsewhere; its contracts stay with it).",
    responses=problem_responses(401, 403, 404, 422),
)
async def update_office(session: SessionDep, _: Admin, office_id: uuid.UUID, data: OfficeUpdate) -> OfficePublic:
    return _public(await service.update_office(session=session, office_id=office_id, data=data))
