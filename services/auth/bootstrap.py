"""What the auth service ensures at startup: a signing key, the bootstrap platform admin, the service clients.

Also the body of the CLI's create-admin command. Every step is idempotent, so several replicas may start at once:
a replica that loses a uniqueness race rolls back and finds the winner's rows on its retry.
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.auth.audit import service as audit
from services.auth.clients import service as clients_service
from services.auth.keys import service as keys_service
from services.auth.organizations import service as organizations_service
from services.auth.organizations.schemas import normalize_email
from services.auth.passwords import PasswordHasher, password_problem
from services.auth.settings import AuthSettings
from services.auth.users import service as users_service
from services.auth.users.models import Membership, User
from services.auth.users.repository import UserRepository
from services.auth.vocabulary import Role

__all__ = ["BootstrapError", "create_platform_admin", "run_startup"]

logger = logging.getLogger("techmarket.auth.bootstrap")

_ADMIN_ROLES = (Role.PLATFORM_ADMIN, Role.ORG_ADMIN)


class BootstrapError(Exception):
    """A bootstrap setting that cannot be used (weak password, malformed email)."""


async def create_platform_admin(
    *,
    session: AsyncSession,
    email: str,
    password: str,
    name: str,
    center_name: str,
    center_region_code: str | None,
    hasher: PasswordHasher,
) -> tuple[User, bool]:
    """Make ``email`` a platform admin of the center (created if missing); returns (user, created)."""
    try:
        email = normalize_email(email)
    except ValueError as exc:
        raise BootstrapError(f"admin email {email!r}: {exc}") from exc
    problem = password_problem(password, email=email)
    if problem is not None:
        raise BootstrapError(f"admin password {problem}")
    center = await organizations_service.create_center(
        session=session, name=center_name, region_code=center_region_code
    )
    repo = UserRepository(session)
    user = await repo.by_email(email)
    if user is None:
        user, _ = await users_service.create_member(
            session=session,
            organization=center,
            email=email,
            name=name,
            password=password,
            roles=list(_ADMIN_ROLES),
            broker_certificate_no=None,
            hasher=hasher,
        )
        created = True
    else:
        membership = await repo.membership(user_id=user.id, organization_id=center.id)
        roles = sorted({*(membership.role_list if membership else []), *_ADMIN_ROLES})
        if membership is None:
            await repo.add(Membership(user_id=user.id, organization_id=center.id, roles=" ".join(roles)))
        else:
            membership.roles = " ".join(roles)
            session.add(membership)
        created = False
    await audit.record(
        session=session,
        actor="system:bootstrap",
        action="platform_admin.ensure",
        organization_id=center.id,
        subject=str(user.id),
        to_state=" ".join(_ADMIN_ROLES),
    )
    await session.flush()
    return user, created


async def _startup_once(session: AsyncSession, settings: AuthSettings, hasher: PasswordHasher) -> None:
    await keys_service.ensure_signing_key(session=session)
    wanted = settings.bootstrap_admin_email and settings.bootstrap_admin_password
    if wanted and not await UserRepository(session).any_platform_admin():
        assert settings.bootstrap_admin_email is not None
        assert settings.bootstrap_admin_password is not None
        user, _ = await create_platform_admin(
            session=session,
            email=settings.bootstrap_admin_email,
            password=settings.bootstrap_admin_password.get_secret_value(),
            name=settings.bootstrap_admin_name,
            center_name=settings.center_name,
            center_region_code=settings.center_region_code,
            hasher=hasher,
        )
        logger.info("bootstrap: platform admin %s created in %s", user.email, settings.center_name)
    for client in settings.service_clients:
        await clients_service.ensure_service_client(
            session=session,
            client_id=client.client_id,
            client_secret=client.client_secret.get_secret_value(),
            scopes=client.scopes,
            hasher=hasher,
        )


async def run_startup(
    *, sessionmaker: async_sessionmaker[AsyncSession], settings: AuthSettings, hasher: PasswordHasher
) -> None:
    """Ensure the signing key, the bootstrap admin and the service clients (retried once after a lost race)."""
    for attempt in (1, 2):
        async with sessionmaker() as session:
            try:
                await _startup_once(session, settings, hasher)
                await session.commit()
                return
            except IntegrityError:
                await session.rollback()
                if attempt == 2:
                    raise
