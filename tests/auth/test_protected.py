"""Bad bearer tokens are refused by every protected endpoint: expired, wrongly signed, wrong audience, tampered,
``alg: none``, not yet valid, missing."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from tests.conftest import Stack
from tests.support.actors import Actor, Actors
from tests.support.problems import assert_problem

# (method, path) of endpoints that need a valid token; every bad kind of token is tried on each (one stack per kind).
PROTECTED_ENDPOINTS: list[tuple[str, str]] = [
    ("GET", "/auth/me"),
]

# Endpoints of the other services, each tried with every bad kind of token in one stack: (method, path, caller).
# "member" is a university user, "statistician" a government statistician, "service" a client_credentials client
# with the search:ingest scope.
OTHER_SERVICES_ENDPOINTS: list[tuple[str, str, str]] = [
    ("POST", "/market/achievements", "member"),
    ("GET", "/market/contracts", "member"),
    ("GET", "/market/stats/contracts?format=csv", "statistician"),  # anonymous reads are JSON only
    ("POST", "/search/documents", "service"),
]


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _claims(stack: Stack, actor: Actor, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": stack.auth_settings.jwt_issuer,
        "aud": stack.auth_settings.jwt_audience,
        "sub": actor.subject,
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": "forged",
        "scope": "",
        "org": str(actor.org_id),
        "org_kind": actor.org_kind,
        "org_path": actor.org_path,
        "org_verified": True,
        "roles": ["platform_admin", "org_admin"],
    }
    claims.update(overrides)
    return claims


def _signed_by_stranger(claims: dict[str, Any], kid: str) -> str:
    # A key of the right type, even claiming the real kid, that the auth service never issued.
    key = ECKey.generate_key("P-256", parameters={"kid": kid})
    return jwt.encode({"alg": "ES256", "kid": kid}, claims, key)


def _kid(token: str) -> str:
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    return str(header["kid"])


def _tamper(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["roles"] = ["platform_admin"]
    return f"{header}.{_b64(claims)}.{signature}"


async def _real_signed(stack: Stack, claims: dict[str, Any]) -> str:
    """Claims signed with the auth service's real current key (to test claim checks, not signatures)."""
    from services.auth.keys import service as keys_service

    async with stack.service_app("auth").state.sessionmaker() as session:
        return await keys_service.sign(session=session, claims=claims)


async def _bad_token(stack: Stack, actor: Actor, kind: str) -> str:
    now = int(time.time())
    if kind == "expired":
        return await _real_signed(stack, _claims(stack, actor, iat=now - 3600, nbf=now - 3600, exp=now - 600))
    if kind == "not_yet_valid":
        return await _real_signed(stack, _claims(stack, actor, nbf=now + 3600, exp=now + 7200))
    if kind == "wrong_audience":
        return await _real_signed(stack, _claims(stack, actor, aud="someone-else"))
    if kind == "wrong_issuer":
        return await _real_signed(stack, _claims(stack, actor, iss="https://evil.example"))
    if kind == "wrongly_signed":
        return _signed_by_stranger(_claims(stack, actor), _kid(actor.token))
    if kind == "unknown_kid":
        return _signed_by_stranger(_claims(stack, actor), "never-published")
    if kind == "tampered":
        return _tamper(actor.token)
    if kind == "alg_none":
        return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(stack, actor))}."
    if kind == "alg_hs256_with_public_key":
        header = _b64({"alg": "HS256", "kid": _kid(actor.token)})
        return f"{header}.{_b64(_claims(stack, actor))}.c2lnbmF0dXJl"
    if kind == "garbage":
        return "not-a-jwt"
    raise AssertionError(kind)


KINDS = [
    "expired",
    "not_yet_valid",
    "wrong_audience",
    "wrong_issuer",
    "wrongly_signed",
    "unknown_kid",
    "tampered",
    "alg_none",
    "alg_hs256_with_public_key",
    "garbage",
]


class TestProtectedEndpoints:
    @pytest.mark.parametrize(("method", "path"), PROTECTED_ENDPOINTS)
    @pytest.mark.parametrize("kind", KINDS)
    async def test_bad_tokens_are_401(self, stack: Stack, actors: Actors, method: str, path: str, kind: str) -> None:
        actor = await actors.org_member()
        good = await stack.client.request(method, path, headers=actor.headers)
        assert good.status_code not in (401, 403), good.text  # the real token passes
        token = await _bad_token(stack, actor, kind)
        response = await stack.client.request(method, path, headers={"Authorization": f"Bearer {token}"})
        body = assert_problem(response, 401)
        assert "invalid" in response.headers["www-authenticate"]
        assert body["type"] == "urn:techmarket:problem:unauthorized"

    @pytest.mark.parametrize(("method", "path"), PROTECTED_ENDPOINTS)
    async def test_no_token_is_401(self, stack: Stack, method: str, path: str) -> None:
        response = await stack.client.request(method, path)
        assert_problem(response, 401)
        assert response.headers["www-authenticate"].startswith("Bearer")


class TestOtherServicesRefuseBadTokens:
    """The market and search services verify tokens against auth's JWKS: the same bad tokens fail there."""

    @pytest.mark.parametrize(("method", "path", "caller"), OTHER_SERVICES_ENDPOINTS)
    async def test_every_bad_token_is_401(
        self, stack: Stack, actors: Actors, method: str, path: str, caller: str
    ) -> None:
        member = await actors.org_member()
        actor = member
        if caller == "service":
            actor = await actors.service_client(scopes=["search:ingest"])
        elif caller == "statistician":
            actor = await actors.org_member(kind="government", roles=("statistician",))
        body = {"documents": []} if path == "/search/documents" else {}
        good = await stack.client.request(method, path, headers=actor.headers, json=body if method == "POST" else None)
        assert good.status_code not in (401, 403), good.text  # the real token passes
        for kind in KINDS:
            # Bad tokens are forged from the member's claims: the checks under test do not depend on them.
            token = await _bad_token(stack, member, kind)
            response = await stack.client.request(
                method,
                path,
                headers={"Authorization": f"Bearer {token}"},
                json=body if method == "POST" else None,
            )
            problem = assert_problem(response, 401)
            assert problem["type"] == "urn:techmarket:problem:unauthorized", kind
        missing = await stack.client.request(method, path, json=body if method == "POST" else None)
        assert_problem(missing, 401)
