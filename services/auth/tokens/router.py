"""POST /auth/token (RFC 6749; errors as §5.2 JSON) and POST /auth/revoke (RFC 7009)."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any
from urllib.parse import unquote_plus

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth.clients.models import Client
from services.auth.deps import HasherDep, SettingsDep
from services.auth.passwords import PasswordHasher
from services.auth.tokens import service as tokens_service
from services.auth.tokens.schemas import OAuthError, OAuthErrorBody, TokenResponse
from shared.db import SessionDep
from shared.errors import Unauthorized, problem_responses
from shared.security import JWKSVerifier, Principal, TokenInvalid

__all__ = ["router"]

router = APIRouter(tags=["tokens"])

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_FORM = "application/x-www-form-urlencoded"
_TOKEN_FORM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["grant_type"],
    "properties": {
        "grant_type": {"type": "string", "enum": ["password", "refresh_token", "client_credentials"]},
        "username": {"type": "string", "description": "password grant: the user's email"},
        "password": {"type": "string", "description": "password grant"},
        "refresh_token": {"type": "string", "description": "refresh_token grant"},
        "scope": {"type": "string", "description": "client_credentials: space-separated subset of the client's"},
        "client_id": {"type": "string", "description": "client_secret_post (HTTP Basic is preferred)"},
        "client_secret": {"type": "string", "description": "client_secret_post (HTTP Basic is preferred)"},
    },
}


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        raise OAuthError(
            "invalid_client", "Use HTTP Basic client authentication.", status=401, headers={"WWW-Authenticate": "Basic"}
        )
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise OAuthError(
            "invalid_client", "Malformed Basic credentials.", status=401, headers={"WWW-Authenticate": "Basic"}
        ) from exc
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise OAuthError(
            "invalid_client", "Malformed Basic credentials.", status=401, headers={"WWW-Authenticate": "Basic"}
        )
    # RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
    return unquote_plus(client_id), unquote_plus(secret)


async def _client(
    request: Request, form: dict[str, str], session: AsyncSession, hasher: PasswordHasher
) -> Client | None:
    basic = _basic_credentials(request)
    posted = (form.get("client_id"), form.get("client_secret"))
    if basic is not None and any(posted):
        raise OAuthError("invalid_request", "Use one client authentication method, not two.")
    if basic is not None:
        client_id, client_secret = basic
    elif posted[0] and posted[1]:
        client_id, client_secret = posted[0], posted[1]
    else:
        return None
    return await tokens_service.authenticate_client(
        session=session, client_id=client_id, client_secret=client_secret, hasher=hasher
    )


async def _form(request: Request) -> dict[str, str]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != _FORM:
        raise OAuthError("invalid_request", f"The body must be {_FORM}.")
    form = await request.form()
    out: dict[str, str] = {}
    for key in form:
        values = form.getlist(key)
        if len(values) != 1 or not isinstance(values[0], str):
            raise OAuthError("invalid_request", f"Parameter {key} must be given once, as text.")
        out[key] = values[0]
    return out


def _error(exc: OAuthError) -> JSONResponse:
    return JSONResponse(
        OAuthErrorBody(error=exc.error, error_description=exc.description).model_dump(),
        status_code=exc.status,
        headers={**exc.headers, **_NO_STORE},
    )


@router.post(
    "/token",
    summary="Get tokens (OAuth2: password, refresh_token, client_credentials)",
    description=(
        "Form-encoded RFC 6749 token endpoint. `password`: username = email → access + refresh token. "
        "`refresh_token`: single use; a reused one revokes its whole family. `client_credentials`: HTTP Basic "
        "client authentication → access token with the client's scopes. Errors are RFC 6749 §5.2 JSON "
        "(`error`, `error_description`), not problem+json; too many failed logins → 429 with Retry-After."
    ),
    response_model=TokenResponse,
    response_model_exclude_none=True,
    responses={
        400: {"model": OAuthErrorBody, "description": "invalid_request, invalid_grant, invalid_scope, …"},
        401: {"model": OAuthErrorBody, "description": "invalid_client"},
        429: {"model": OAuthErrorBody, "description": "Too many failed logins; see Retry-After"},
    },
    openapi_extra={"requestBody": {"required": True, "content": {_FORM: {"schema": _TOKEN_FORM_SCHEMA}}}},
)
async def issue_token(request: Request, session: SessionDep, settings: SettingsDep, hasher: HasherDep) -> Response:
    # Errors are returned, not raised: the session then commits what an error must persist (a failed login,
    # a revoked refresh-token family); the grants write nothing else before they fail.
    try:
        form = await _form(request)
        client = await _client(request, form, session, hasher)
        grant_type = form.get("grant_type")
        if grant_type == "password":
            result = await tokens_service.password_grant(
                session=session,
                username=form.get("username"),
                password=form.get("password"),
                scope=form.get("scope"),
                client=client,
                ip=request.client.host if request.client else "unknown",
                settings=settings,
                hasher=hasher,
            )
        elif grant_type == "refresh_token":
            result = await tokens_service.refresh_token_grant(
                session=session,
                refresh_token=form.get("refresh_token"),
                scope=form.get("scope"),
                client=client,
                settings=settings,
            )
        elif grant_type == "client_credentials":
            result = await tokens_service.client_credentials_grant(
                session=session, client=client, scope=form.get("scope"), settings=settings
            )
        elif not grant_type:
            raise OAuthError("invalid_request", "grant_type is required.")
        else:
            raise OAuthError("unsupported_grant_type", f"Unsupported grant_type {grant_type[:40]!r}.")
    except OAuthError as exc:
        return _error(exc)
    return JSONResponse(result.model_dump(exclude_none=True), headers=_NO_STORE)


@router.post(
    "/revoke",
    summary="Revoke a token (RFC 7009)",
    description=(
        "Form-encoded `token` and optional `token_type_hint` (refresh_token | access_token). Revoking a refresh "
        "token revokes its family; a revoked access token is refused by the auth service at once and by the "
        "other services when it expires (access tokens live 15 minutes). Unknown tokens answer 200 too. "
        "Errors are problem+json."
    ),
    status_code=200,
    response_class=Response,
    # RFC 7009 §2.2: success is 200 with an empty body, whether or not the token was known.
    # 503: an access token that cannot be checked now (shared.security.SigningKeysUnavailable).
    responses={200: {"description": "Revoked, or unknown (empty body)."}, **problem_responses(401, 422, 503)},
)
async def revoke_token(
    request: Request,
    session: SessionDep,
    hasher: HasherDep,
    token: Annotated[str, Form(min_length=1, max_length=4096, description="The token to revoke.")],
    token_type_hint: Annotated[
        str | None, Form(pattern="^(refresh_token|access_token)$", description="refresh_token or access_token")
    ] = None,
) -> Response:
    # Verify a JWT before the first query: on SQLite the request's transaction holds the write lock, and the
    # verifier may fetch the JWKS from this same service (another transaction) on its first use.
    access_principal: Principal | None = None
    if token.count(".") == 2:
        verifier: JWKSVerifier = request.app.state.token_verifier
        try:
            access_principal = await verifier.verify(token)
        except TokenInvalid:
            access_principal = None  # expired, foreign or forged: nothing to revoke
    try:
        basic = _basic_credentials(request)
        client = (
            await tokens_service.authenticate_client(
                session=session, client_id=basic[0], client_secret=basic[1], hasher=hasher
            )
            if basic
            else None
        )
    except OAuthError as exc:
        raise Unauthorized(exc.description, headers={"WWW-Authenticate": "Basic"}) from exc
    await tokens_service.revoke(
        session=session,
        token=token,
        token_type_hint=token_type_hint,
        client=client,
        access_principal=access_principal,
    )
    return Response(status_code=200, headers=_NO_STORE)
