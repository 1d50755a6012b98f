"""GET /auth/.well-known/jwks.json, and key rotation for platform admins."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from services.auth.audit import service as audit
from services.auth.deps import AuthPrincipal, SettingsDep
from services.auth.keys import service as keys_service
from services.auth.keys.schemas import JWKSet, KeyPublic, RotateRequest
from services.auth.permissions import is_platform_admin
from shared.db import SessionDep
from shared.errors import Forbidden, problem_responses

__all__ = ["router"]

router = APIRouter(tags=["keys"])


@router.get(
    "/.well-known/jwks.json",
    summary="Public signing keys (JWKS)",
    description="The ES256 public keys that verify access tokens, each with its `kid`: the signing key, a key "
    "about to sign, and retired keys until the last token they signed has expired.",
    responses={200: {"model": JWKSet, "description": "The key set (cacheable for 60 seconds)."}},
)
async def get_jwks(session: SessionDep, settings: SettingsDep) -> JSONResponse:
    body: dict[str, Any] = await keys_service.jwks(session=session, token_ttl_seconds=settings.access_token_ttl_seconds)
    # Short cache: verifiers refetch on an unknown kid anyway, and a rotation should spread within a minute.
    return JSONResponse(body, headers={"Cache-Control": "public, max-age=60"})


@router.get(
    "/keys",
    summary="Signing keys and their state (platform admins)",
    response_model=list[KeyPublic],
    responses=problem_responses(401, 403),
)
async def list_keys(principal: AuthPrincipal, session: SessionDep, settings: SettingsDep) -> list[KeyPublic]:
    if not is_platform_admin(principal):
        raise Forbidden("Only platform admins manage signing keys.")
    statuses = await keys_service.key_statuses(session=session, token_ttl_seconds=settings.access_token_ttl_seconds)
    return [KeyPublic(**asdict(s)) for s in statuses if s.state != "expired"]


@router.post(
    "/keys/rotate",
    summary="Rotate the signing key (platform admins)",
    description="Adds a new key that signs after `publish_ahead_seconds`; the previous key keeps verifying until "
    "its tokens expired. Verifiers pick the new key up on the first token with its kid. Refused with 409 "
    "`rotation-too-soon` (and Retry-After) while the newest key is younger than the access-token lifetime; the "
    "operator's `techmarket auth rotate-key` is the emergency path and has no such limit.",
    status_code=201,
    response_model=KeyPublic,
    responses=problem_responses(401, 403, 409, 422),
)
async def rotate_keys(
    principal: AuthPrincipal, session: SessionDep, settings: SettingsDep, body: RotateRequest | None = None
) -> KeyPublic:
    if not is_platform_admin(principal):
        raise Forbidden("Only platform admins manage signing keys.")
    ahead = body.publish_ahead_seconds if body and body.publish_ahead_seconds is not None else None
    status = await keys_service.rotate(
        session=session,
        token_ttl_seconds=settings.access_token_ttl_seconds,
        publish_ahead_seconds=settings.key_publish_ahead_seconds if ahead is None else ahead,
        min_interval_seconds=settings.access_token_ttl_seconds,
    )
    await audit.record(
        session=session,
        actor=f"user:{principal.subject}",
        action="signing_key.rotate",
        subject=status.kid,
        to_state=status.state,
    )
    return KeyPublic(**asdict(status))
