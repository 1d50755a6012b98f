"""Business rules of organizations: signup, the tier rules, verification, visibility, subtree queries."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth.audit import service as audit
from services.auth.organizations.models import Organization
from services.auth.organizations.repository import OrganizationFilter, OrganizationRepository
from services.auth.organizations.schemas import SignupRequest
from services.auth.passwords import PasswordHasher
from services.auth.permissions import is_org_admin_of, is_platform_admin, may_see
from services.auth.users import service as users_service
from services.auth.users.models import Membership, User
from services.auth.vocabulary import TIER_PARENT_KINDS, OrgKind, OrgStatus, Role
from shared.clock import utcnow
from shared.errors import Conflict, Forbidden, NotFound, ValidationFailed
from shared.ids import new_id
from shared.security import Principal

__all__ = [
    "create_center",
    "get_visible",
    "list_visible",
    "reject",
    "signup",
    "verify",
]


async def _check_tier(
    repo: OrganizationRepository, *, kind: OrgKind, parent_id: uuid.UUID | None
) -> Organization | None:
    """The tier parent if the 1+4+N rules allow it; 422 naming organization.parent_id otherwise."""
    allowed = TIER_PARENT_KINDS.get(kind)
    if allowed is None:
        if parent_id is not None:
            raise ValidationFailed.field(
                "organization.parent_id", f"a {kind.value} has no tier parent in the 1+4+N system", type="tier_rule"
            )
        return None
    names = " or ".join(sorted(k.value for k in allowed))
    if parent_id is None:
        raise ValidationFailed.field(
            "organization.parent_id", f"a {kind.value} needs a tier parent: {names}", type="tier_rule"
        )
    parent = await repo.get(parent_id)
    if parent is None or parent.status == OrgStatus.REJECTED:
        raise ValidationFailed.field(
            "organization.parent_id", "no such organization (or it was rejected)", type="tier_rule"
        )
    if parent.kind not in allowed:
        raise ValidationFailed.field(
            "organization.parent_id",
            f"the tier parent of a {kind.value} must be a {names}, not a {parent.kind}",
            type="tier_rule",
        )
    return parent


async def signup(
    *, session: AsyncSession, request: SignupRequest, hasher: PasswordHasher
) -> tuple[Organization, User, Membership]:
    """Create a pending organization and its first user (org_admin) in the caller's transaction."""
    repo = OrganizationRepository(session)
    data = request.organization
    if data.kind == OrgKind.CENTER:
        raise ValidationFailed.field(
            "organization.kind",
            "the center is created by the platform bootstrap (AUTH_BOOTSTRAP_ADMIN_*) or the CLI, not by signup",
            type="tier_rule",
        )
    parent = await _check_tier(repo, kind=data.kind, parent_id=data.parent_id)
    users_service.check_password(request.user.password, email=request.user.email, field="user.password")
    if await repo.by_credit_code(data.credit_code) is not None:
        raise _duplicate_credit_code()
    await users_service.ensure_email_free(session=session, email=request.user.email, field="user.email")
    org_id = new_id()
    organization = Organization(
        id=org_id,
        name=data.name,
        kind=data.kind,
        credit_code=data.credit_code,
        region_code=data.region_code,
        parent_id=parent.id if parent else None,
        path=f"{parent.path if parent else '/'}{org_id}/",
        status=OrgStatus.PENDING,
    )
    try:
        await repo.add(organization)
    except IntegrityError as exc:  # a concurrent signup with the same code won the race
        raise _duplicate_credit_code() from exc
    user, membership = await users_service.create_member(
        session=session,
        organization=organization,
        email=request.user.email,
        name=request.user.name,
        password=request.user.password,
        roles=[Role.ORG_ADMIN],
        broker_certificate_no=None,
        hasher=hasher,
    )
    await audit.record(
        session,
        actor=f"user:{user.id}",
        action="organization.signup",
        organization_id=organization.id,
        subject=str(organization.id),
        to_state=OrgStatus.PENDING,
    )
    return organization, user, membership


def _duplicate_credit_code() -> Conflict:
    return Conflict(
        "An organization with this unified social credit code is already registered.",
        slug="credit-code-taken",
        errors=[{"field": "organization.credit_code", "message": "already registered", "type": "duplicate"}],
    )


async def create_center(*, session: AsyncSession, name: str, region_code: str | None) -> Organization:
    """The center of the 1+4+N tree (bootstrap and CLI), verified from the start; reuses an existing one."""
    repo = OrganizationRepository(session)
    existing = await repo.first_of_kind(OrgKind.CENTER)
    if existing is not None:
        return existing
    org_id = new_id()
    now = utcnow()
    center = Organization(
        id=org_id,
        name=name,
        kind=OrgKind.CENTER,
        credit_code=None,
        region_code=region_code,
        parent_id=None,
        path=f"/{org_id}/",
        status=OrgStatus.VERIFIED,
        decided_at=now,
    )
    await repo.add(center)
    await audit.record(
        session,
        actor="system:bootstrap",
        action="organization.create_center",
        organization_id=center.id,
        subject=str(center.id),
        to_state=OrgStatus.VERIFIED,
    )
    return center


async def get_visible(*, session: AsyncSession, principal: Principal, organization_id: uuid.UUID) -> Organization:
    """The organization if the caller may know it exists; 404 otherwise."""
    organization = await OrganizationRepository(session).get(organization_id)
    if organization is None or not may_see(principal, status=organization.status, path=organization.path):
        raise NotFound("No such organization.")
    return organization


def _visibility(principal: Principal) -> OrganizationFilter:
    return OrganizationFilter(everything=is_platform_admin(principal), own_path=principal.org_path)


async def list_visible(
    *,
    session: AsyncSession,
    principal: Principal,
    limit: int,
    after: uuid.UUID | None,
    kind: OrgKind | None,
    parent_id: uuid.UUID | None,
    status: OrgStatus | None,
) -> Sequence[Organization]:
    """Up to limit + 1 organizations the caller may see, filtered, in id order."""
    return await OrganizationRepository(session).page(
        visibility=_visibility(principal),
        limit=limit,
        after=after,
        kind=kind.value if kind else None,
        parent_id=parent_id,
        status=status.value if status else None,
    )


async def list_descendants(
    *,
    session: AsyncSession,
    principal: Principal,
    organization_id: uuid.UUID,
    limit: int,
    after: uuid.UUID | None,
) -> Sequence[Organization]:
    """Up to limit + 1 organizations strictly below one (a prefix match on the materialized path)."""
    organization = await get_visible(session=session, principal=principal, organization_id=organization_id)
    return await OrganizationRepository(session).page(
        visibility=_visibility(principal),
        limit=limit,
        after=after,
        under_path=organization.path,
        exclude_id=organization.id,
    )


async def _decide(
    *, session: AsyncSession, principal: Principal, organization_id: uuid.UUID
) -> tuple[OrganizationRepository, Organization]:
    repo = OrganizationRepository(session)
    organization = await repo.get_for_update(organization_id)
    if organization is None or not may_see(principal, status=organization.status, path=organization.path):
        raise NotFound("No such organization.")
    allowed = is_platform_admin(principal) or (
        organization.parent_id is not None
        and is_org_admin_of(principal, organization.parent_id)
        and principal.org_verified
    )
    if not allowed:
        raise Forbidden("Only a platform admin or an org_admin of the tier parent may decide on this organization.")
    if organization.status != OrgStatus.PENDING:
        raise Conflict(f"The organization is already {organization.status}.", slug="already-decided")
    return repo, organization


async def verify(*, session: AsyncSession, principal: Principal, organization_id: uuid.UUID) -> Organization:
    """Mark a pending organization verified."""
    _, organization = await _decide(session=session, principal=principal, organization_id=organization_id)
    now = utcnow()
    organization.status = OrgStatus.VERIFIED
    organization.decided_at = now
    organization.decided_by = uuid.UUID(principal.subject)
    organization.updated_at = now
    session.add(organization)
    await audit.record(
        session,
        actor=f"user:{principal.subject}",
        action="organization.verify",
        organization_id=organization.id,
        subject=str(organization.id),
        from_state=OrgStatus.PENDING,
        to_state=OrgStatus.VERIFIED,
    )
    await session.flush()
    return organization


async def reject(
    *, session: AsyncSession, principal: Principal, organization_id: uuid.UUID, reason: str
) -> Organization:
    """Mark a pending organization rejected, with the reason."""
    _, organization = await _decide(session=session, principal=principal, organization_id=organization_id)
    now = utcnow()
    organization.status = OrgStatus.REJECTED
    organization.rejection_reason = reason
    organization.decided_at = now
    organization.decided_by = uuid.UUID(principal.subject)
    organization.updated_at = now
    session.add(organization)
    await audit.record(
        session,
        actor=f"user:{principal.subject}",
        action="organization.reject",
        organization_id=organization.id,
        subject=str(organization.id),
        from_state=OrgStatus.PENDING,
        to_state=f"{OrgStatus.REJECTED}: {reason}"[:1000],
    )
    await session.flush()
    return organization
