"""Signup, organizations of the 1+4+N tree, verification, suspension, updates."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated

from fastapi import APIRouter, Query, Response

from services.auth.deps import AuthPrincipal, HasherDep
from services.auth.organizations import service as organizations_service
from services.auth.organizations.models import Organization
from services.auth.organizations.schemas import (
    DesignationRequest,
    OrganizationPublic,
    OrganizationUpdate,
    RejectRequest,
    SignupPublic,
    SignupRequest,
    SuspendRequest,
)
from services.auth.organizations.service import DIRECTORY_MAX_LIMIT
from services.auth.vocabulary import OrgKind, OrgStatus
from shared.concurrency import OptionalIfMatchHeader, etag_for
from shared.db import SessionDep
from shared.errors import problem_responses
from shared.pagination import DEFAULT_LIMIT, MAX_LIMIT, Cursor, Limit, Page, cursor_after, cursor_id

__all__ = ["router"]

router = APIRouter(tags=["organizations"])


# The list's page size: up to MAX_LIMIT for every caller, up to DIRECTORY_MAX_LIMIT for a directory reader.
DirectoryLimit = Annotated[
    int,
    Query(
        ge=1,
        le=DIRECTORY_MAX_LIMIT,
        description=f"Page size, 1 to {MAX_LIMIT} ({DIRECTORY_MAX_LIMIT} for a service client with auth:directory).",
    ),
]


def _with_etag(response: Response, organization: Organization) -> OrganizationPublic:
    response.headers["ETag"] = etag_for(organization.version)
    return OrganizationPublic.model_validate(organization)


def _page(rows: Sequence[Organization], limit: int) -> Page[OrganizationPublic]:
    items = [OrganizationPublic.model_validate(o) for o in rows[:limit]]
    next_cursor = cursor_after(rows, limit, id_of=lambda row: row.id)
    return Page[OrganizationPublic](items=items, next_cursor=next_cursor)


SIGNUP_ACCEPTED_DETAIL = (
    "Your signup was received. We sent a message to this address with the outcome: either your account was created "
    "(the organization is then pending verification and you can sign in), or the address already has an account."
)


@router.post(
    "/signup",
    summary="Sign up an organization and its first user",
    description="Creates a pending organization and its first user (role org_admin) in one transaction. The tier "
    "rules of the 1+4+N tree apply to `organization.parent_id`; the credit code is checked against GB 32100 and "
    "must not be registered yet (409); the region code must be a GB/T 2260 code. A platform admin (or an "
    "org_admin of the tier parent) then verifies or rejects it.\n\n"
    "The answer is the same 202 whether the email is new or already has an account, so signup does not tell "
    "anyone which addresses are registered: the outcome is sent to the address (`techmarket auth messages EMAIL` "
    "shows it in embedded and development deployments). Sign in to learn the new user's and organization's ids "
    "(`GET /auth/me`).",
    status_code=202,
    response_model=SignupPublic,
    responses=problem_responses(400, 409, 422),
)
async def signup(body: SignupRequest, session: SessionDep, hasher: HasherDep) -> SignupPublic:
    await organizations_service.signup(session=session, request=body, hasher=hasher)
    return SignupPublic(email=body.user.email, detail=SIGNUP_ACCEPTED_DETAIL)


@router.get(
    "/organizations",
    summary="List organizations",
    description="Verified organizations are visible to every caller; pending, rejected and suspended ones only to "
    "platform admins and to their own subtree (an org sees itself and the organizations below it). A service client "
    "whose token carries the `auth:directory` scope (market's directory rebuild) sees every organization, whatever "
    "its status, and may ask for up to 500 per page. Filters combine; ordered by id (creation order); cursor "
    "pagination.",
    response_model=Page[OrganizationPublic],
    responses=problem_responses(401, 422),
)
async def list_organizations(
    principal: AuthPrincipal,
    session: SessionDep,
    kind: Annotated[OrgKind | None, Query(description="Only organizations of this kind.")] = None,
    parent_id: Annotated[uuid.UUID | None, Query(description="Only direct children of this organization.")] = None,
    status: Annotated[OrgStatus | None, Query(description="pending, verified, rejected or suspended.")] = None,
    limit: DirectoryLimit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[OrganizationPublic]:
    rows = await organizations_service.list_visible(
        session=session,
        principal=principal,
        limit=limit,
        after=cursor_id(cursor),
        kind=kind,
        parent_id=parent_id,
        status=status,
    )
    return _page(rows, limit)


@router.get(
    "/organizations/{organization_id}",
    summary="One organization",
    description="404 when it does not exist or the caller may not see it (see the list). The ETag header "
    '(`"v<version>"`) is what PATCH takes in If-Match.',
    response_model=OrganizationPublic,
    responses=problem_responses(401, 404, 422),
)
async def get_organization(
    organization_id: uuid.UUID, principal: AuthPrincipal, session: SessionDep, response: Response
) -> OrganizationPublic:
    organization = await organizations_service.get_visible(
        session=session, principal=principal, organization_id=organization_id
    )
    return _with_etag(response, organization)


@router.patch(
    "/organizations/{organization_id}",
    summary="Change an organization's name, region code or credit code",
    description="`name` and `region_code` (a GB/T 2260 code) by an org_admin of the organization while it is pending "
    "or verified, or by a platform admin; `credit_code` (GB 32100, 409 when another organization has it) by a "
    "platform admin only (403 naming the field otherwise). Fields left out stay; null and unknown fields (kind, "
    "parent_id, …) are 422. If-Match is optional: when sent it must be the current ETag (412 otherwise). A change "
    "bumps `version` (the new ETag) and is published to market's directory (event organization.updated); a body "
    "that changes nothing answers 200 with the organization as it is.",
    response_model=OrganizationPublic,
    responses=problem_responses(401, 403, 404, 409, 412, 422),
)
async def update_organization(
    organization_id: uuid.UUID,
    body: OrganizationUpdate,
    principal: AuthPrincipal,
    session: SessionDep,
    response: Response,
    if_match: OptionalIfMatchHeader = None,
) -> OrganizationPublic:
    organization = await organizations_service.update(
        session=session, principal=principal, organization_id=organization_id, changes=body, if_match=if_match
    )
    return _with_etag(response, organization)


@router.get(
    "/organizations/{organization_id}/descendants",
    summary="Organizations below one in the 1+4+N tree",
    description="Every organization strictly below (children, grandchildren…), by one prefix match on the "
    "materialized path; the same visibility as the list.",
    response_model=Page[OrganizationPublic],
    responses=problem_responses(401, 404, 422),
)
async def list_descendants(
    organization_id: uuid.UUID,
    principal: AuthPrincipal,
    session: SessionDep,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[OrganizationPublic]:
    rows = await organizations_service.list_descendants(
        session=session, principal=principal, organization_id=organization_id, limit=limit, after=cursor_id(cursor)
    )
    return _page(rows, limit)


def _add_decision_route(
    action: str,
    *,
    summary: str,
    description: str,
    decide: Callable[..., Awaitable[Organization]],
    reason: type[RejectRequest] | None = None,
) -> None:
    """POST /organizations/{id}/<action>: one decision on an organization, with a reason body when ``reason``."""

    async def decided(
        organization_id: uuid.UUID, principal: AuthPrincipal, session: SessionDep, response: Response
    ) -> OrganizationPublic:
        organization = await decide(session=session, principal=principal, organization_id=organization_id)
        return _with_etag(response, organization)

    async def decided_with_reason(
        organization_id: uuid.UUID,
        body: RejectRequest,
        principal: AuthPrincipal,
        session: SessionDep,
        response: Response,
    ) -> OrganizationPublic:
        organization = await decide(
            session=session, principal=principal, organization_id=organization_id, reason=body.reason
        )
        return _with_etag(response, organization)

    # The body is the action's own model, named so in the OpenAPI document (RejectRequest, SuspendRequest).
    decided_with_reason.__annotations__["body"] = reason
    router.add_api_route(
        f"/organizations/{{organization_id}}/{action}",
        decided if reason is None else decided_with_reason,
        methods=["POST"],
        name=f"{action}_organization",
        summary=summary,
        description=description,
        response_model=OrganizationPublic,
        responses=problem_responses(401, 403, 404, 409, 422),
    )


_add_decision_route(
    "verify",
    summary="Verify a pending organization",
    description="By a platform admin, or by an org_admin of the organization's tier parent (a sub-center "
    "verifies its transfer institutions). 409 when it is not pending.",
    decide=organizations_service.verify,
)
_add_decision_route(
    "reject",
    summary="Reject a pending organization, with a reason",
    description="Same deciders as verify. 409 when it is not pending.",
    decide=organizations_service.reject,
    reason=RejectRequest,
)
_add_decision_route(
    "suspend",
    summary="Suspend a verified organization, with a reason",
    description="By a platform admin, or by a (verified) org_admin of the organization's tier parent — the same "
    "deciders as verify. Only a verified organization can be suspended (409 otherwise). Its members' next tokens "
    "carry org_verified=false, it leaves the public directory, and market learns it through the organization feed "
    "(event organization.suspended).",
    decide=organizations_service.suspend,
    reason=SuspendRequest,
)
_add_decision_route(
    "reinstate",
    summary="Reinstate a suspended organization",
    description="Same deciders as suspend. Only a suspended organization can be reinstated (409 otherwise); it is "
    "verified again (event organization.reinstated).",
    decide=organizations_service.reinstate,
)


_DESIGNATORS = (
    "By a platform admin or an org_admin of the (verified) center; only for a transfer_institution (422 naming "
    "`organization_id` otherwise). If-Match is optional: when sent it must be the current ETag (412 otherwise). "
)


@router.put(
    "/organizations/{organization_id}/designation",
    summary="Designate a transfer institution a demonstration institution (示范机构)",
    description=_DESIGNATORS + "Sets `level` (national or provincial) and `year` (2000 to next year, Beijing time); "
    "a revoked designation is designated again (revoked=false). A change is audited (organization.designate), bumps "
    "`version` (the new ETag) and is published to market's directory (event organization.designated); the same "
    "level and year again answer 200 and change nothing.",
    response_model=OrganizationPublic,
    responses=problem_responses(401, 403, 404, 412, 422),
)
async def designate_organization(
    organization_id: uuid.UUID,
    body: DesignationRequest,
    principal: AuthPrincipal,
    session: SessionDep,
    response: Response,
    if_match: OptionalIfMatchHeader = None,
) -> OrganizationPublic:
    organization = await organizations_service.designate(
        session=session, principal=principal, organization_id=organization_id, data=body, if_match=if_match
    )
    return _with_etag(response, organization)


@router.delete(
    "/organizations/{organization_id}/designation",
    summary="Revoke a demonstration institution's designation",
    description=_DESIGNATORS + "The designation keeps its level and year and becomes `revoked: true` with "
    "`revoked_at` (it no longer counts as a demonstration institution); 409 when it has none or is already revoked. "
    "Answers 200 with the organization (audited as organization.revoke_designation, event "
    "organization.designation_revoked). PUT designates it again.",
    response_model=OrganizationPublic,
    responses=problem_responses(401, 403, 404, 409, 412, 422),
)
async def revoke_organization_designation(
    organization_id: uuid.UUID,
    principal: AuthPrincipal,
    session: SessionDep,
    response: Response,
    if_match: OptionalIfMatchHeader = None,
) -> OrganizationPublic:
    organization = await organizations_service.revoke_designation(
        session=session, principal=principal, organization_id=organization_id, if_match=if_match
    )
    return _with_etag(response, organization)
