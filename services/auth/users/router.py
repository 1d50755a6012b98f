"""Members of an organization (org admins manage them) and GET /auth/me."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from services.auth.deps import AuthPrincipal, HasherDep
from services.auth.organizations.schemas import OrganizationPublic
from services.auth.users import service as users_service
from services.auth.users.models import Membership, User
from services.auth.users.schemas import (
    MemberCreate,
    MemberPublic,
    MembershipPublic,
    MemberUpdate,
    MePublic,
    UserPublic,
)
from shared.db import SessionDep
from shared.errors import problem_responses
from shared.pagination import DEFAULT_LIMIT, Cursor, Limit, Page, cursor_after, cursor_id

__all__ = ["router"]

router = APIRouter(tags=["members"])


def _public(membership: Membership, user: User) -> MemberPublic:
    return MemberPublic(
        user_id=user.id,
        organization_id=membership.organization_id,
        email=user.email,
        name=user.name,
        roles=membership.role_list,
        broker_certificate_no=membership.broker_certificate_no,
        broker_certificate_issuer=membership.broker_certificate_issuer,
        broker_certificate_valid_until=membership.broker_certificate_valid_until,
        created_at=membership.created_at,
    )


@router.post(
    "/organizations/{organization_id}/members",
    summary="Add a member with roles",
    description="By an org_admin of the organization or a platform admin. Role rules: broker only in a "
    "transfer_institution, sub_center or center and with `broker_certificate_no`; registrar only in a "
    "registration_office; platform_admin only in the center and only granted by a platform admin. "
    "`broker_certificate_issuer` and `broker_certificate_valid_until` (the certificate's last valid day, a Beijing "
    "date) are optional and need the number. A broker's certificate changes the organization's published "
    "`broker_certificates_valid_until` (a new version, sent to market's directory). An email already registered → "
    "409.",
    status_code=201,
    response_model=MemberPublic,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def add_member(
    organization_id: uuid.UUID, body: MemberCreate, principal: AuthPrincipal, session: SessionDep, hasher: HasherDep
) -> MemberPublic:
    user, membership = await users_service.add_member(
        session=session, principal=principal, organization_id=organization_id, data=body, hasher=hasher
    )
    return _public(membership, user)


@router.get(
    "/organizations/{organization_id}/members",
    summary="List the members of an organization",
    description="For the organization's own users and platform admins; cursor pagination.",
    response_model=Page[MemberPublic],
    responses=problem_responses(401, 404, 422),
)
async def list_members(
    organization_id: uuid.UUID,
    principal: AuthPrincipal,
    session: SessionDep,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[MemberPublic]:
    rows = await users_service.list_members(
        session=session, principal=principal, organization_id=organization_id, limit=limit, after=cursor_id(cursor)
    )
    items = [_public(m, u) for m, u in rows[:limit]]
    next_cursor = cursor_after(rows, limit, id_of=lambda row: row[0].id)
    return Page[MemberPublic](items=items, next_cursor=next_cursor)


@router.patch(
    "/organizations/{organization_id}/members/{user_id}",
    summary="Change a member's roles or broker certificate",
    description="Same rules as adding; the last org_admin cannot be demoted (409). This is how an org admin renews "
    "a broker certificate (`broker_certificate_valid_until`, and the number or issuer when they change). New roles "
    "and a renewed certificate reach the member's tokens at the next login or refresh: a token issued before still "
    "carries the old date.",
    response_model=MemberPublic,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def update_member(
    organization_id: uuid.UUID, user_id: uuid.UUID, body: MemberUpdate, principal: AuthPrincipal, session: SessionDep
) -> MemberPublic:
    membership, user = await users_service.update_member(
        session=session, principal=principal, organization_id=organization_id, user_id=user_id, data=body
    )
    return _public(membership, user)


@router.delete(
    "/organizations/{organization_id}/members/{user_id}",
    summary="Remove a member",
    description="Their refresh tokens for this organization are revoked; the last org_admin cannot be removed (409).",
    status_code=204,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def remove_member(
    organization_id: uuid.UUID, user_id: uuid.UUID, principal: AuthPrincipal, session: SessionDep
) -> Response:
    await users_service.remove_member(
        session=session, principal=principal, organization_id=organization_id, user_id=user_id
    )
    return Response(status_code=204)


@router.get(
    "/me",
    summary="The calling user, their memberships and roles",
    description="For user tokens; a client token gets 403.",
    response_model=MePublic,
    responses=problem_responses(401, 403, 404),
)
async def get_me(principal: AuthPrincipal, session: SessionDep) -> MePublic:
    user, memberships = await users_service.me(session=session, principal=principal)
    return MePublic(
        user=UserPublic(id=user.id, email=user.email, name=user.name, created_at=user.created_at),
        memberships=[
            MembershipPublic(
                organization=OrganizationPublic.model_validate(o),
                roles=m.role_list,
                broker_certificate_no=m.broker_certificate_no,
                broker_certificate_issuer=m.broker_certificate_issuer,
                broker_certificate_valid_until=m.broker_certificate_valid_until,
            )
            for m, o in memberships
        ],
        organization_id=principal.org_id,
        roles=sorted(principal.roles),
        scope=" ".join(sorted(principal.scopes)),
    )
