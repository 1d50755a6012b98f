"""Business rules of organizations: signup, the tier rules, verification, suspension, updates, visibility,
subtree queries — and the organization feed.

Every change of an organization goes through ``publish.record_change``, the one place that bumps ``version``,
writes the audit row and appends one event to ``auth_outbox`` (entity_kind "organization", op "upsert", payload
``publish.directory_fields``), all in the caller's transaction: the event exists iff the change committed. The auth
relay (services.auth.outbox) delivers the events to market's directory.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth.messages import service as messages
from services.auth.organizations.models import Organization
from services.auth.organizations.publish import FEED_ENTITY_KIND, directory_fields, record_change
from services.auth.organizations.repository import OrganizationFilter, OrganizationRepository
from services.auth.organizations.schemas import DesignationRequest, OrganizationUpdate, SignupRequest
from services.auth.passwords import PasswordHasher
from services.auth.permissions import is_org_admin_of, is_platform_admin, may_see, reads_whole_directory
from services.auth.users import service as users_service
from services.auth.vocabulary import TIER_PARENT_KINDS, OrgEvent, OrgKind, OrgStatus, Role
from shared.clock import utcnow
from shared.concurrency import check_if_match
from shared.errors import Conflict, Forbidden, NotFound, ValidationFailed
from shared.ids import new_id
from shared.pagination import MAX_LIMIT
from shared.security import Principal

__all__ = [
    "DIRECTORY_MAX_LIMIT",
    "FEED_ENTITY_KIND",
    "create_center",
    "designate",
    "directory_fields",
    "get_visible",
    "list_visible",
    "reinstate",
    "reject",
    "revoke_designation",
    "signup",
    "suspend",
    "update",
    "verify",
]

# Directory readers (market's rebuild) may page in larger steps than other callers (MAX_LIMIT).
DIRECTORY_MAX_LIMIT = 500


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


async def signup(*, session: AsyncSession, request: SignupRequest, hasher: PasswordHasher) -> None:
    """Create a pending organization and its first user (org_admin) in the caller's transaction, and tell the
    address so; when the email already has an account, create nothing and tell the address that instead.

    The caller learns neither outcome (the router answers 202 either way): a signup must not tell a stranger
    which addresses have accounts. Credit codes are public (the directory lists them), so a taken one is still 409.
    """
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
        raise _duplicate_credit_code("organization.credit_code")
    if await users_service.email_taken(session=session, email=request.user.email):
        # Hash the password anyway: the new-account path hashes it, and the answer's timing must not differ.
        await hasher.hash(request.user.password)
        await messages.signup_email_taken(session=session, to=request.user.email)
        return
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
        raise _duplicate_credit_code("organization.credit_code") from exc
    user, _ = await users_service.create_member(
        session=session,
        organization=organization,
        email=request.user.email,
        name=request.user.name,
        password=request.user.password,
        roles=[Role.ORG_ADMIN],
        broker_certificate_no=None,
        hasher=hasher,
    )
    await record_change(
        session,
        organization,
        event=OrgEvent.CREATED,
        actor=f"user:{user.id}",
        action="organization.signup",
        to_state=OrgStatus.PENDING,
    )
    await messages.signup_created(session=session, user=user, organization=organization)


def _duplicate_credit_code(field: str) -> Conflict:
    return Conflict(
        "An organization with this unified social credit code is already registered.",
        slug="credit-code-taken",
        errors=[{"field": field, "message": "already registered", "type": "duplicate"}],
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
    await record_change(
        session,
        center,
        event=OrgEvent.CREATED,
        actor="system:bootstrap",
        action="organization.create_center",
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
    everything = is_platform_admin(principal) or reads_whole_directory(principal)
    return OrganizationFilter(everything=everything, own_path=principal.org_path)


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
    """Up to limit + 1 organizations the caller may see, filtered, in id order.

    Up to DIRECTORY_MAX_LIMIT per page for a directory reader, MAX_LIMIT for everybody else (422 on ``limit``).
    """
    if limit > MAX_LIMIT and not reads_whole_directory(principal):
        raise ValidationFailed.field(
            "limit", f"at most {MAX_LIMIT} (only a directory reader may ask for more)", type="less_than_equal"
        )
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


# The status each decision starts from, and the slug of the 409 when the organization is elsewhere.
_FROM_STATUS_CONFLICT = {
    OrgStatus.PENDING: "already-decided",
    OrgStatus.VERIFIED: "not-verified",
    OrgStatus.SUSPENDED: "not-suspended",
}


async def _decide(
    *, session: AsyncSession, principal: Principal, organization_id: uuid.UUID, from_status: OrgStatus
) -> Organization:
    """The organization, row-locked, if the caller may decide on it (platform admin, or verified org_admin of the
    tier parent) and it is in ``from_status``: 404 / 403 / 409 otherwise."""
    organization = await OrganizationRepository(session).get_for_update(organization_id)
    if organization is None or not may_see(principal, status=organization.status, path=organization.path):
        raise NotFound("No such organization.")
    allowed = is_platform_admin(principal) or (
        organization.parent_id is not None
        and is_org_admin_of(principal, organization.parent_id)
        and principal.org_verified
    )
    if not allowed:
        raise Forbidden("Only a platform admin or an org_admin of the tier parent may decide on this organization.")
    if organization.status != from_status:
        raise Conflict(
            f"The organization is {organization.status}; this needs a {from_status} organization.",
            slug=_FROM_STATUS_CONFLICT[from_status],
        )
    return organization


# Each decision: the status it starts from, the status it leads to, the audit action.
_DECISIONS: dict[OrgEvent, tuple[OrgStatus, OrgStatus, str]] = {
    OrgEvent.VERIFIED: (OrgStatus.PENDING, OrgStatus.VERIFIED, "organization.verify"),
    OrgEvent.REJECTED: (OrgStatus.PENDING, OrgStatus.REJECTED, "organization.reject"),
    OrgEvent.SUSPENDED: (OrgStatus.VERIFIED, OrgStatus.SUSPENDED, "organization.suspend"),
    OrgEvent.REINSTATED: (OrgStatus.SUSPENDED, OrgStatus.VERIFIED, "organization.reinstate"),
}


async def _apply_decision(
    *, session: AsyncSession, principal: Principal, organization_id: uuid.UUID, event: OrgEvent, reason: str | None
) -> Organization:
    from_status, to_status, action = _DECISIONS[event]
    organization = await _decide(
        session=session, principal=principal, organization_id=organization_id, from_status=from_status
    )
    now = utcnow()
    organization.status = to_status
    if from_status == OrgStatus.PENDING:  # the verification decision is recorded once, with who took it
        organization.decided_at = now
        organization.decided_by = uuid.UUID(principal.subject)
    if to_status == OrgStatus.REJECTED:
        organization.rejection_reason = reason
    organization.suspension_reason = reason if to_status == OrgStatus.SUSPENDED else None
    await record_change(
        session,
        organization,
        event=event,
        actor=f"user:{principal.subject}",
        action=action,
        from_state=from_status,
        to_state=f"{to_status}: {reason}"[:1000] if reason else to_status,
        now=now,
    )
    return organization


async def verify(*, session: AsyncSession, principal: Principal, organization_id: uuid.UUID) -> Organization:
    """Mark a pending organization verified."""
    return await _apply_decision(
        session=session, principal=principal, organization_id=organization_id, event=OrgEvent.VERIFIED, reason=None
    )


async def reject(
    *, session: AsyncSession, principal: Principal, organization_id: uuid.UUID, reason: str
) -> Organization:
    """Mark a pending organization rejected, with the reason."""
    return await _apply_decision(
        session=session, principal=principal, organization_id=organization_id, event=OrgEvent.REJECTED, reason=reason
    )


async def suspend(
    *, session: AsyncSession, principal: Principal, organization_id: uuid.UUID, reason: str
) -> Organization:
    """Suspend a verified organization, with the reason: its members' next tokens say org_verified=false."""
    return await _apply_decision(
        session=session, principal=principal, organization_id=organization_id, event=OrgEvent.SUSPENDED, reason=reason
    )


async def reinstate(*, session: AsyncSession, principal: Principal, organization_id: uuid.UUID) -> Organization:
    """Make a suspended organization verified again."""
    return await _apply_decision(
        session=session, principal=principal, organization_id=organization_id, event=OrgEvent.REINSTATED, reason=None
    )


# An org_admin edits its own organization while it is pending or verified; not once rejected or suspended.
_SELF_EDITABLE = frozenset({OrgStatus.PENDING, OrgStatus.VERIFIED})


async def update(
    *,
    session: AsyncSession,
    principal: Principal,
    organization_id: uuid.UUID,
    changes: OrganizationUpdate,
    if_match: str | None,
) -> Organization:
    """Change name / region code (its org_admin or a platform admin) and credit code (a platform admin only).

    404 when the caller may not see it, 403 when it may not change it (or that field), 412 when If-Match is given
    and stale, 409 when the credit code belongs to another organization. Nothing that actually changes: no new
    version, no event.
    """
    repo = OrganizationRepository(session)
    organization = await repo.get_for_update(organization_id)
    if organization is None or not may_see(principal, status=organization.status, path=organization.path):
        raise NotFound("No such organization.")
    admin = is_platform_admin(principal)
    own_admin = is_org_admin_of(principal, organization.id) and organization.status in _SELF_EDITABLE
    if not (admin or own_admin):
        raise Forbidden(
            "Only a platform admin, or an org_admin of this organization while it is pending or verified, may "
            "change it."
        )
    wanted = changes.model_dump(exclude_unset=True)
    if "credit_code" in wanted and not admin:
        raise Forbidden(
            "Only a platform admin may change the credit code.",
            errors=[{"field": "credit_code", "message": "only a platform admin may change it", "type": "forbidden"}],
        )
    check_if_match(if_match, version=organization.version)
    changed = {name: value for name, value in wanted.items() if getattr(organization, name) != value}
    if not changed:
        return organization
    if "credit_code" in changed and await repo.by_credit_code(changed["credit_code"]) is not None:
        raise _duplicate_credit_code("credit_code")
    before = {name: getattr(organization, name) for name in changed}
    for name, value in changed.items():
        setattr(organization, name, value)
    try:
        await record_change(
            session,
            organization,
            event=OrgEvent.UPDATED,
            actor=f"user:{principal.subject}",
            action="organization.update",
            from_state=_describe(before),
            to_state=_describe(changed),
        )
    except IntegrityError as exc:  # a concurrent change took the credit code first
        raise _duplicate_credit_code("credit_code") from exc
    return organization


def _describe(values: dict[str, Any]) -> str:
    return "; ".join(f"{name}={value}" for name, value in sorted(values.items()))[:1000]


def _may_designate(principal: Principal) -> bool:
    """A platform admin, or an org_admin of the (verified) center: the deciders of 示范机构 designations."""
    return is_platform_admin(principal) or (
        principal.org_kind == OrgKind.CENTER
        and principal.org_id is not None
        and is_org_admin_of(principal, principal.org_id)
        and principal.org_verified
    )


async def _designable(
    *, session: AsyncSession, principal: Principal, organization_id: uuid.UUID, if_match: str | None
) -> Organization:
    """The organization, row-locked, if the caller may designate it: 404 / 403 / 412, 422 unless it is a
    transfer institution."""
    organization = await OrganizationRepository(session).get_for_update(organization_id)
    if organization is None or not may_see(principal, status=organization.status, path=organization.path):
        raise NotFound("No such organization.")
    if not _may_designate(principal):
        raise Forbidden("Only a platform admin or an org_admin of the center designates demonstration institutions.")
    check_if_match(if_match, version=organization.version)
    if organization.kind != OrgKind.TRANSFER_INSTITUTION:
        raise ValidationFailed.field(
            "organization_id",
            f"only a transfer_institution can be a demonstration institution (示范机构), not a {organization.kind}",
            type="designation_rule",
        )
    return organization


def _describe_designation(organization: Organization) -> str | None:
    if organization.designation_level is None:
        return None
    revoked = " revoked" if organization.designation_revoked else ""
    return f"{organization.designation_level} {organization.designation_year}{revoked}"


async def designate(
    *,
    session: AsyncSession,
    principal: Principal,
    organization_id: uuid.UUID,
    data: DesignationRequest,
    if_match: str | None,
) -> Organization:
    """Set a transfer institution's designation (level, year); a revoked one is designated again (revoked=false).

    The same designation again changes nothing (no new version, no event).
    """
    organization = await _designable(
        session=session, principal=principal, organization_id=organization_id, if_match=if_match
    )
    wanted = (data.level.value, data.year, False)
    current = (organization.designation_level, organization.designation_year, organization.designation_revoked)
    if wanted == current:
        return organization
    before = _describe_designation(organization)
    organization.designation_level = data.level.value
    organization.designation_year = data.year
    organization.designation_revoked = False
    organization.designation_revoked_at = None
    await record_change(
        session,
        organization,
        event=OrgEvent.DESIGNATED,
        actor=f"user:{principal.subject}",
        action="organization.designate",
        from_state=before,
        to_state=_describe_designation(organization),
    )
    return organization


async def revoke_designation(
    *, session: AsyncSession, principal: Principal, organization_id: uuid.UUID, if_match: str | None
) -> Organization:
    """Revoke a transfer institution's designation: level and year stay, revoked=true from now (409 when it has
    none or it is already revoked)."""
    organization = await _designable(
        session=session, principal=principal, organization_id=organization_id, if_match=if_match
    )
    if organization.designation_level is None:
        raise Conflict("This organization has no designation to revoke.", slug="not-designated")
    if organization.designation_revoked:
        raise Conflict("This organization's designation is already revoked.", slug="designation-revoked")
    before = _describe_designation(organization)
    now = utcnow()
    organization.designation_revoked = True
    organization.designation_revoked_at = now
    await record_change(
        session,
        organization,
        event=OrgEvent.DESIGNATION_REVOKED,
        actor=f"user:{principal.subject}",
        action="organization.revoke_designation",
        from_state=before,
        to_state=_describe_designation(organization),
        now=now,
    )
    return organization
