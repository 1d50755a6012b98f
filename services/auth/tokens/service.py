"""The OAuth2 grants (password, refresh_token with rotation, client_credentials), revocation, failed-login limits.

Refresh tokens are opaque random strings; only their SHA-256 is stored. Each works once: using it marks it used
and issues its successor in the same family; presenting a used (or revoked) one again revokes the whole family,
since either the legitimate client or a thief holds a copy and we cannot tell which.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.auth.audit import service as audit
from services.auth.clients import service as clients_service
from services.auth.clients.models import Client
from services.auth.keys import service as keys_service
from services.auth.organizations.models import Organization
from services.auth.organizations.repository import OrganizationRepository
from services.auth.passwords import PasswordHasher
from services.auth.settings import AuthSettings
from services.auth.tokens.models import LoginFailure, RefreshToken, RevokedAccessToken
from services.auth.tokens.repository import TokenRepository
from services.auth.tokens.schemas import OAuthError, TokenResponse
from services.auth.users.models import Membership, User
from services.auth.users.repository import UserRepository
from shared.clock import utcnow
from shared.ids import new_id
from shared.security import BROKER_CERTIFICATE_CLAIM, Principal

__all__ = [
    "client_credentials_grant",
    "password_grant",
    "refresh_token_grant",
    "revoke",
    "revoke_user_refresh_tokens",
]

_INVALID_LOGIN = "The email or password is wrong."


def _hash_refresh(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _issued_to_another_client(stored: RefreshToken, client: Client | None) -> bool:
    return stored.client_id is not None and (client is None or client.client_id != stored.client_id)


async def _revoke_family(
    *, session: AsyncSession, repo: TokenRepository, stored: RefreshToken, action: str, now: dt.datetime
) -> None:
    """Revoke every refresh token of ``stored``'s family, audited as ``action`` by its user."""
    await repo.revoke_family(stored.family_id, now)
    await audit.record(
        session=session,
        actor=f"user:{stored.user_id}",
        action=action,
        organization_id=stored.organization_id,
        subject=str(stored.family_id),
        to_state="family revoked",
    )


def _check_no_user_scope(scope: str | None) -> None:
    # Users act through roles, not scopes; asking for any scope on a user grant is an error, not a silent drop.
    if scope and scope.strip():
        raise OAuthError("invalid_scope", "User tokens carry no scopes; omit the scope parameter.")


def _user_claims(
    *, user: User, membership: Membership, organization: Organization, settings: AuthSettings
) -> dict[str, Any]:
    now = int(utcnow().timestamp())
    claims: dict[str, Any] = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": str(user.id),
        "iat": now,
        "nbf": now,
        "exp": now + settings.access_token_ttl_seconds,
        "jti": str(new_id()),
        "scope": "",
        "org": str(organization.id),
        "org_kind": organization.kind,
        "org_path": organization.path,
        "org_verified": organization.status == "verified",
        "roles": membership.role_list,
    }
    if organization.region_code:
        claims["org_region"] = organization.region_code
    if "broker" in membership.role_list and membership.broker_certificate_valid_until is not None:
        # Market refuses the broker role's rights past this day (shared.security.acts_as_broker).
        claims[BROKER_CERTIFICATE_CLAIM] = membership.broker_certificate_valid_until.isoformat()
    return claims


async def _issue_user_tokens(
    *,
    session: AsyncSession,
    user: User,
    membership: Membership,
    organization: Organization,
    settings: AuthSettings,
    client_id: str | None,
    family_id: uuid.UUID | None = None,
    family_expires_at: dt.datetime | None = None,
) -> TokenResponse:
    claims = _user_claims(user=user, membership=membership, organization=organization, settings=settings)
    access_token = await keys_service.sign(session=session, claims=claims)
    refresh = secrets.token_urlsafe(32)
    now = utcnow()
    await TokenRepository(session).add(
        RefreshToken(
            family_id=family_id or new_id(),
            token_hash=_hash_refresh(refresh),
            user_id=user.id,
            organization_id=organization.id,
            client_id=client_id,
            scope="",
            issued_at=now,
            # A family lives a fixed time from its login: rotation does not extend it.
            expires_at=family_expires_at or now + dt.timedelta(seconds=settings.refresh_token_ttl_seconds),
        )
    )
    return TokenResponse(
        access_token=access_token,
        expires_in=settings.access_token_ttl_seconds,
        refresh_token=refresh,
        scope="",
    )


async def _throttle(*, repo: TokenRepository, account: str, ip: str, settings: AuthSettings) -> None:
    """429 when the account, or (with a separate, higher limit) the client IP, has had too many failed logins
    within the window."""
    now = utcnow()
    window = dt.timedelta(seconds=settings.login_window_seconds)
    for key, limit in (
        ({"account": account, "ip": None}, settings.login_max_failures),
        ({"account": None, "ip": ip}, settings.login_max_failures_per_ip),
    ):
        times = await repo.recent_failures(**key, since=now - window, limit=limit)
        if len(times) >= limit:
            retry_after = max(1, int(((times[limit - 1] + window) - now).total_seconds()) + 1)
            raise OAuthError(
                "invalid_grant",
                f"Too many failed logins; try again in {retry_after} seconds.",
                status=429,
                headers={"Retry-After": str(retry_after)},
            )


async def password_grant(
    *,
    session: AsyncSession,
    username: str | None,
    password: str | None,
    scope: str | None,
    client: Client | None,
    ip: str,
    settings: AuthSettings,
    hasher: PasswordHasher,
) -> TokenResponse:
    """Resource-owner password grant: email + password → access and refresh token."""
    if not username or not password:
        raise OAuthError("invalid_request", "username and password are required.")
    _check_no_user_scope(scope)
    account = username.strip().lower()
    repo = TokenRepository(session)
    await _throttle(repo=repo, account=account, ip=ip, settings=settings)
    users = UserRepository(session)
    user = await users.by_email(account)
    # An unknown account is checked against a dummy hash so both failures take the same time and look alike.
    ok, new_hash = await hasher.verify(password, user.password_hash if user is not None else None)
    memberships = await users.memberships_of(user.id) if user is not None and ok else []
    if user is None or not ok or not memberships:
        now = utcnow()
        await repo.prune_failures(
            account=account, ip=ip, before=now - dt.timedelta(seconds=settings.login_window_seconds)
        )
        await repo.add(LoginFailure(account=account, ip=ip, at=now))
        raise OAuthError("invalid_grant", _INVALID_LOGIN)
    if new_hash is not None:
        user.password_hash = new_hash
        user.updated_at = utcnow()
        session.add(user)
    await repo.clear_account_failures(account)
    # Housekeeping at login keeps the token tables small without a scheduler.
    await repo.prune_expired(user_id=user.id, now=utcnow())
    membership, organization = memberships[0]
    return await _issue_user_tokens(
        session=session,
        user=user,
        membership=membership,
        organization=organization,
        settings=settings,
        client_id=client.client_id if client else None,
    )


async def refresh_token_grant(
    *,
    session: AsyncSession,
    refresh_token: str | None,
    scope: str | None,
    client: Client | None,
    settings: AuthSettings,
) -> TokenResponse:
    """Rotate a refresh token: it is spent, its successor joins the family; a reuse revokes the family."""
    if not refresh_token:
        raise OAuthError("invalid_request", "refresh_token is required.")
    _check_no_user_scope(scope)
    repo = TokenRepository(session)
    stored = await repo.refresh_by_hash(_hash_refresh(refresh_token))
    now = utcnow()
    if stored is None:
        raise OAuthError("invalid_grant", "The refresh token is invalid.")
    if _issued_to_another_client(stored, client):
        raise OAuthError("invalid_grant", "The refresh token was issued to another client.")
    if stored.used_at is not None or stored.revoked_at is not None or not await repo.mark_used(stored.id, now):
        await _revoke_family(session=session, repo=repo, stored=stored, action="refresh_token.reuse", now=now)
        raise OAuthError("invalid_grant", "The refresh token was already used or revoked; its family is revoked.")
    if stored.expires_at <= now:
        raise OAuthError("invalid_grant", "The refresh token has expired.")
    users = UserRepository(session)
    user = await users.get(stored.user_id)
    membership = await users.membership(user_id=stored.user_id, organization_id=stored.organization_id)
    organization = await OrganizationRepository(session).get(stored.organization_id)
    if user is None or membership is None or organization is None:
        raise OAuthError("invalid_grant", "The refresh token's user is no longer a member.")
    return await _issue_user_tokens(
        session=session,
        user=user,
        membership=membership,
        organization=organization,
        settings=settings,
        client_id=stored.client_id,
        family_id=stored.family_id,
        family_expires_at=stored.expires_at,
    )


async def client_credentials_grant(
    *, session: AsyncSession, client: Client | None, scope: str | None, settings: AuthSettings
) -> TokenResponse:
    """A token for an authenticated client, with the requested scopes (all of its scopes by default)."""
    if client is None:
        raise OAuthError(
            "invalid_client", "Client authentication is required.", status=401, headers={"WWW-Authenticate": "Basic"}
        )
    allowed = set(client.scope_list)
    requested = set(scope.split()) if scope and scope.strip() else allowed
    if not requested <= allowed:
        raise OAuthError("invalid_scope", f"Not granted to this client: {' '.join(sorted(requested - allowed))}.")
    granted = " ".join(sorted(requested))
    now = int(utcnow().timestamp())
    claims: dict[str, Any] = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": client.client_id,
        "iat": now,
        "nbf": now,
        "exp": now + settings.access_token_ttl_seconds,
        "jti": str(new_id()),
        "scope": granted,
        "roles": [],
        "client_id": client.client_id,
    }
    if client.organization_id is not None:
        organization = await OrganizationRepository(session).get(client.organization_id)
        if organization is None or organization.status == "rejected":
            raise OAuthError("unauthorized_client", "The client's organization is not active.")
        claims.update(
            {
                "org": str(organization.id),
                "org_kind": organization.kind,
                "org_path": organization.path,
                "org_verified": organization.status == "verified",
            }
        )
        if organization.region_code:
            claims["org_region"] = organization.region_code
    access_token = await keys_service.sign(session=session, claims=claims)
    return TokenResponse(access_token=access_token, expires_in=settings.access_token_ttl_seconds, scope=granted)


async def authenticate_client(
    *, session: AsyncSession, client_id: str, client_secret: str, hasher: PasswordHasher
) -> Client:
    """The client, or invalid_client (401)."""
    client = await clients_service.authenticate(
        session=session, client_id=client_id, client_secret=client_secret, hasher=hasher
    )
    if client is None:
        raise OAuthError(
            "invalid_client", "Client authentication failed.", status=401, headers={"WWW-Authenticate": "Basic"}
        )
    return client


async def revoke(
    *,
    session: AsyncSession,
    token: str,
    token_type_hint: str | None,
    client: Client | None,
    access_principal: Principal | None,
) -> bool:
    """RFC 7009: revoke a refresh token (its family) or an access token; unknown tokens are no error.

    ``access_principal`` is the token verified as an access token beforehand (None when it is not a valid one).
    """
    repo = TokenRepository(session)
    now = utcnow()
    if token_type_hint != "access_token" or access_principal is None:
        stored = await repo.refresh_by_hash(_hash_refresh(token))
        if stored is not None:
            if _issued_to_another_client(stored, client):
                return False
            await _revoke_family(session=session, repo=repo, stored=stored, action="refresh_token.revoke", now=now)
            return True
    if (
        access_principal is not None
        and access_principal.token_id
        and not await repo.is_access_token_revoked(access_principal.token_id)
    ):
        expires = dt.datetime.fromtimestamp(float(access_principal.claims["exp"]), tz=dt.UTC)
        await repo.add(RevokedAccessToken(jti=access_principal.token_id, expires_at=expires))
    return True


async def revoke_user_refresh_tokens(
    *, session: AsyncSession, user_id: uuid.UUID, organization_id: uuid.UUID | None
) -> None:
    """Stop a user's refresh tokens (membership removed)."""
    await TokenRepository(session).revoke_for_user(user_id=user_id, organization_id=organization_id, now=utcnow())
