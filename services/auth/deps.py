"""FastAPI dependencies of the auth service: the password hasher, settings, and the caller (with revocation)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.auth.passwords import PasswordHasher
from services.auth.settings import AuthSettings
from services.auth.tokens.repository import TokenRepository
from shared.db import SessionDep
from shared.errors import Unauthorized
from shared.security import CurrentPrincipal, Principal

__all__ = ["AuthPrincipal", "HasherDep", "SettingsDep"]


def _hasher(request: Request) -> PasswordHasher:
    hasher: PasswordHasher = request.app.state.password_hasher
    return hasher


def _settings(request: Request) -> AuthSettings:
    settings: AuthSettings = request.app.state.settings
    return settings


async def _auth_principal(principal: CurrentPrincipal, session: SessionDep) -> Principal:
    # Other services accept a revoked access token until it expires (15 minutes); the auth service itself
    # consults the revocation list, so a revoked token cannot manage organizations, members or clients.
    if principal.token_id and await TokenRepository(session).is_access_token_revoked(principal.token_id):
        raise Unauthorized("The access token has been revoked.")
    return principal


HasherDep = Annotated[PasswordHasher, Depends(_hasher)]
SettingsDep = Annotated[AuthSettings, Depends(_settings)]
AuthPrincipal = Annotated[Principal, Depends(_auth_principal)]
