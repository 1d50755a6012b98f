"""Business rules of users and memberships: the password policy, role rules, member management, /me."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth.audit import service as audit
from services.auth.organizations import publish
from services.auth.organizations.models import Organization
from services.auth.organizations.repository import OrganizationRepository
from services.auth.passwords import PasswordHasher, password_problem
from services.auth.permissions import is_org_admin_of, is_platform_admin, may_see
from services.auth.users.models import Membership, User
from services.auth.users.repository import UserRepository
from services.auth.users.schemas import MemberCreate, MemberUpdate
from services.auth.vocabulary import ROLE_KINDS, OrgKind, Role
from shared.clock import utcnow
from shared.errors import Conflict, Forbidden, NotFound, ValidationFailed
from shared.security import Principal

__all__ = [
    "add_member",
    "check_certificate",
    "check_password",
    "check_roles",
    "create_member",
    "ensure_email_free",
    "list_members",
    "me",
    "remove_member",
    "update_member",
]


def check_password(password: str, *, email: str | None, field: str) -> None:
    """422 naming ``field`` when the password breaks the policy."""
    problem = password_problem(password, email=email)
    if problem is not None:
        raise ValidationFailed.field(field, problem, type="password_policy")


def check_certificate(*, broker_certificate_no: str | None, issuer: str | None, valid_until: object) -> None:
    """422 naming the field when a certificate's issuer or end is given without its number."""
    if broker_certificate_no:
        return
    for field, value in (("broker_certificate_issuer", issuer), ("broker_certificate_valid_until", valid_until)):
        if value is not None:
            raise ValidationFailed.field(
                field, "needs broker_certificate_no (the certificate's number)", type="missing"
            )


def check_roles(*, kind: str, roles: Sequence[str], broker_certificate_no: str | None, by_platform_admin: bool) -> None:
    """422 when a role does not fit the organization's kind or lacks what it needs."""
    for role in roles:
        kinds = ROLE_KINDS.get(Role(role))
        if kinds is not None and OrgKind(kind) not in kinds:
            allowed = ", ".join(sorted(k.value for k in kinds))
            raise ValidationFailed.field("roles", f"{role} is only held in a {allowed}, not a {kind}", type="role_rule")
    if Role.BROKER in roles and not broker_certificate_no:
        raise ValidationFailed.field(
            "broker_certificate_no", "a broker needs a broker certificate number (技术经纪人证书编号)", type="missing"
        )
    if Role.PLATFORM_ADMIN in roles and not by_platform_admin:
        raise ValidationFailed.field("roles", "only a platform admin may grant platform_admin", type="role_rule")


async def email_taken(*, session: AsyncSession, email: str) -> bool:
    """Whether a user has this (lower-cased) email."""
    return await UserRepository(session).by_email(email) is not None


async def ensure_email_free(*, session: AsyncSession, email: str, field: str) -> None:
    """409 naming ``field`` when the email is taken."""
    if await email_taken(session=session, email=email):
        raise _email_taken(field)


def _email_taken(field: str) -> Conflict:
    return Conflict(
        "A user with this email already exists.",
        slug="email-taken",
        errors=[{"field": field, "message": "already registered", "type": "duplicate"}],
    )


async def create_member(
    *,
    session: AsyncSession,
    organization: Organization,
    email: str,
    name: str,
    password: str,
    roles: Sequence[str],
    broker_certificate_no: str | None,
    hasher: PasswordHasher,
    broker_certificate_issuer: str | None = None,
    broker_certificate_valid_until: dt.date | None = None,
) -> tuple[User, Membership]:
    """Insert a user and their membership (rules already checked)."""
    user = User(email=email, name=name, password_hash=await hasher.hash(password))
    membership = Membership(
        user_id=user.id,
        organization_id=organization.id,
        roles=" ".join(sorted(set(roles))),
        broker_certificate_no=broker_certificate_no,
        broker_certificate_issuer=broker_certificate_issuer,
        broker_certificate_valid_until=broker_certificate_valid_until,
    )
    repo = UserRepository(session)
    try:
        await repo.add(user)
    except IntegrityError as exc:  # a concurrent request registered the email first
        raise _email_taken("email") from exc
    await repo.add(membership)
    return user, membership


async def _managed_org(*, session: AsyncSession, principal: Principal, organization_id: uuid.UUID) -> Organization:
    """The organization if the caller administers it (its org_admin, or a platform admin)."""
    organization = await OrganizationRepository(session).get(organization_id)
    if organization is None or not may_see(principal, status=organization.status, path=organization.path):
        raise NotFound("No such organization.")
    if not (is_platform_admin(principal) or is_org_admin_of(principal, organization_id)):
        raise Forbidden("Only an org_admin of this organization or a platform admin manages its members.")
    return organization


async def add_member(
    *,
    session: AsyncSession,
    principal: Principal,
    organization_id: uuid.UUID,
    data: MemberCreate,
    hasher: PasswordHasher,
) -> tuple[User, Membership]:
    """Create a user in the organization with the given roles."""
    organization = await _managed_org(session=session, principal=principal, organization_id=organization_id)
    roles = [r.value for r in data.roles]
    check_roles(
        kind=organization.kind,
        roles=roles,
        broker_certificate_no=data.broker_certificate_no,
        by_platform_admin=is_platform_admin(principal),
    )
    check_certificate(
        broker_certificate_no=data.broker_certificate_no,
        issuer=data.broker_certificate_issuer,
        valid_until=data.broker_certificate_valid_until,
    )
    check_password(data.password, email=data.email, field="password")
    await ensure_email_free(session=session, email=data.email, field="email")
    user, membership = await create_member(
        session=session,
        organization=organization,
        email=data.email,
        name=data.name,
        password=data.password,
        roles=roles,
        broker_certificate_no=data.broker_certificate_no,
        hasher=hasher,
        broker_certificate_issuer=data.broker_certificate_issuer,
        broker_certificate_valid_until=data.broker_certificate_valid_until,
    )
    await audit.record(
        session=session,
        actor=f"user:{principal.subject}",
        action="member.add",
        organization_id=organization.id,
        subject=str(user.id),
        to_state=_describe_membership(membership),
    )
    await publish.refresh_brokers(session=session, organization_id=organization.id, actor=f"user:{principal.subject}")
    return user, membership


def _describe_membership(membership: Membership) -> str:
    """The roles, and the broker certificate when there is one (the audit's from / to)."""
    described = membership.roles
    if membership.broker_certificate_no:
        described += f"; certificate {membership.broker_certificate_no}"
        if membership.broker_certificate_issuer:
            described += f" by {membership.broker_certificate_issuer}"
        if membership.broker_certificate_valid_until:
            described += f" valid until {membership.broker_certificate_valid_until.isoformat()}"
    return described[:1000]


async def list_members(
    *,
    session: AsyncSession,
    principal: Principal,
    organization_id: uuid.UUID,
    limit: int,
    after: uuid.UUID | None,
) -> Sequence[tuple[Membership, User]]:
    """Members of an organization, for its own users and platform admins."""
    organization = await OrganizationRepository(session).get(organization_id)
    if organization is None or not (is_platform_admin(principal) or principal.org_id == organization_id):
        raise NotFound("No such organization.")
    return await UserRepository(session).members_page(organization_id=organization_id, limit=limit, after=after)


async def _membership(
    *, session: AsyncSession, principal: Principal, organization_id: uuid.UUID, user_id: uuid.UUID
) -> tuple[Organization, Membership, User]:
    organization = await _managed_org(session=session, principal=principal, organization_id=organization_id)
    repo = UserRepository(session)
    membership = await repo.membership(user_id=user_id, organization_id=organization_id)
    user = await repo.get(user_id)
    if membership is None or user is None:
        raise NotFound("No such member.")
    return organization, membership, user


async def update_member(
    *,
    session: AsyncSession,
    principal: Principal,
    organization_id: uuid.UUID,
    user_id: uuid.UUID,
    data: MemberUpdate,
) -> tuple[Membership, User]:
    """Change a member's roles and/or broker certificate (number, issuer, last valid day: a renewal)."""
    organization, membership, user = await _membership(
        session=session, principal=principal, organization_id=organization_id, user_id=user_id
    )
    before = _describe_membership(membership)
    roles = [r.value for r in data.roles] if data.roles is not None else membership.role_list
    given = data.model_fields_set
    certificate = data.broker_certificate_no if "broker_certificate_no" in given else membership.broker_certificate_no
    issuer = (
        data.broker_certificate_issuer if "broker_certificate_issuer" in given else membership.broker_certificate_issuer
    )
    valid_until = (
        data.broker_certificate_valid_until
        if "broker_certificate_valid_until" in given
        else membership.broker_certificate_valid_until
    )
    if not certificate:  # no certificate: nothing of it is kept
        check_certificate(
            broker_certificate_no=None,
            issuer=data.broker_certificate_issuer,
            valid_until=data.broker_certificate_valid_until,
        )
        issuer = valid_until = None
    granting_platform_admin = Role.PLATFORM_ADMIN in roles and Role.PLATFORM_ADMIN not in membership.role_list
    check_roles(
        kind=organization.kind,
        roles=roles,
        broker_certificate_no=certificate,
        by_platform_admin=is_platform_admin(principal) or not granting_platform_admin,
    )
    if (
        Role.PLATFORM_ADMIN in membership.role_list
        and Role.PLATFORM_ADMIN not in roles
        and not is_platform_admin(principal)
    ):
        raise ValidationFailed.field("roles", "only a platform admin may take platform_admin away", type="role_rule")
    if Role.ORG_ADMIN in membership.role_list and Role.ORG_ADMIN not in roles:
        await _keep_an_admin(session=session, organization_id=organization_id)
    membership.roles = " ".join(sorted(set(roles)))
    membership.broker_certificate_no = certificate
    membership.broker_certificate_issuer = issuer
    membership.broker_certificate_valid_until = valid_until
    membership.updated_at = utcnow()
    session.add(membership)
    await audit.record(
        session=session,
        actor=f"user:{principal.subject}",
        action="member.update",
        organization_id=organization_id,
        subject=str(user_id),
        from_state=before,
        to_state=_describe_membership(membership),
    )
    await session.flush()
    await publish.refresh_brokers(session=session, organization_id=organization_id, actor=f"user:{principal.subject}")
    return membership, user


async def _keep_an_admin(*, session: AsyncSession, organization_id: uuid.UUID) -> None:
    if await UserRepository(session).count_admins(organization_id) <= 1:
        raise Conflict("An organization must keep at least one org_admin.", slug="last-org-admin")


async def remove_member(
    *, session: AsyncSession, principal: Principal, organization_id: uuid.UUID, user_id: uuid.UUID
) -> None:
    """Remove a user from the organization; their refresh tokens for it stop working."""
    _, membership, _ = await _membership(
        session=session, principal=principal, organization_id=organization_id, user_id=user_id
    )
    if Role.PLATFORM_ADMIN in membership.role_list and not is_platform_admin(principal):
        raise Forbidden("Only a platform admin may remove a platform admin.")
    if Role.ORG_ADMIN in membership.role_list:
        await _keep_an_admin(session=session, organization_id=organization_id)
    from services.auth.tokens import service as tokens_service  # tokens imports users; import here to avoid a cycle

    await tokens_service.revoke_user_refresh_tokens(session=session, user_id=user_id, organization_id=organization_id)
    await UserRepository(session).delete_membership(membership)
    await audit.record(
        session=session,
        actor=f"user:{principal.subject}",
        action="member.remove",
        organization_id=organization_id,
        subject=str(user_id),
        from_state=membership.roles,
    )
    await publish.refresh_brokers(session=session, organization_id=organization_id, actor=f"user:{principal.subject}")


async def me(*, session: AsyncSession, principal: Principal) -> tuple[User, Sequence[tuple[Membership, Organization]]]:
    """The calling user and their memberships."""
    if principal.is_service:
        raise Forbidden("GET /auth/me describes a user; this token belongs to a client.")
    try:
        user_id = uuid.UUID(principal.subject)
    except ValueError as exc:
        raise NotFound("No such user.") from exc
    repo = UserRepository(session)
    user = await repo.get(user_id)
    if user is None:
        raise NotFound("No such user.")
    return user, await repo.memberships_of(user_id)
