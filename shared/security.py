"""Verify access tokens issued by the auth service, and the typed FastAPI dependencies built on it.

Tokens are ES256 JWTs. The verifier fetches the auth service's JWKS over HTTP and caches it; a token signed by
an unknown ``kid`` triggers one refetch (rate-limited), which is how a key rotation reaches every service without
a restart. It checks signature, ``iss``, ``aud``, ``exp`` and ``nbf``; ``alg: none`` and any algorithm other than
ES256 are refused before any key is looked at.

When the key set cannot be fetched (auth unreachable or answering 5xx, a database restart under it) and the keys at
hand cannot decide — none fetched yet, or the token's ``kid`` is not among them — the token is neither valid nor
invalid: :class:`SigningKeysUnavailable` answers 503 with Retry-After, never a 401 that would send a client with a
good token back to sign in.

Claims (the contract between auth and the other services)::

    iss, aud, sub, exp, iat, nbf, jti
    scope          space-separated scopes ("search:ingest" for the relay's service token)
    org            organization id (users) | absent for platform service clients
    org_kind       university | research_institute | enterprise | transfer_institution | sub_center | center |
                   registration_office | government
    org_path       materialized path of the org in the 1+4+N tree: "/<center id>/<sub-center id>/<id>/"
    org_verified   bool
    org_region     6-digit region code of the organization (when known)
    roles          ["org_admin", "member", "broker", "registrar", "statistician", "platform_admin"]
    broker_certificate_valid_until
                   "YYYY-MM-DD" (Beijing date), on user tokens whose roles hold broker and whose membership's
                   certificate has a recorded end; absent → no recorded end (see :func:`acts_as_broker`)
    client_id      present on client_credentials tokens
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import re
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

import httpx
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from shared.clock import today_in_china
from shared.errors import Forbidden, ServiceUnavailable, Unauthorized

__all__ = [
    "ACCESS_TOKEN_ALGORITHM",
    "BROKER_CERTIFICATE_CLAIM",
    "BROKER_CERTIFICATE_EXPIRED",
    "ORG_PATH_SEGMENT",
    "BrokerCertificateExpired",
    "CurrentPrincipal",
    "JWKSVerifier",
    "OptionalPrincipal",
    "Principal",
    "SigningKeysUnavailable",
    "TokenInvalid",
    "acts_as_broker",
    "is_org_path",
    "principal_requirement",
    "require_roles",
    "require_scopes",
]

ACCESS_TOKEN_ALGORITHM = "ES256"
CLOCK_LEEWAY_SECONDS = 30
VERIFIED_TOKEN_TTL = 60.0
VERIFIED_TOKEN_CACHE_SIZE = 10_000
# After a failed JWKS fetch, requests that need the keys answer 503 without another attempt for this long: a worker
# does not queue every request behind fetches that fail, yet picks the keys up within a second once auth answers.
FAILED_FETCH_RETRY_SECONDS = 1.0

logger = logging.getLogger("techmarket.security")


# The claim that carries a broker membership's certificate end (技术经纪人证书有效期至), a Beijing date.
BROKER_CERTIFICATE_CLAIM = "broker_certificate_valid_until"
# The problem slug (type …/problems/broker-certificate-expired) of a broker action refused for an expired certificate.
BROKER_CERTIFICATE_EXPIRED = "broker-certificate-expired"

# The org_path claim: one "/<canonical UUID>" segment per level of the 1+4+N tree, then a closing "/".
ORG_PATH_SEGMENT = 37  # "/" + a 36-character UUID
_ORG_PATH = re.compile(r"^(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})+/$")


def is_org_path(path: str) -> bool:
    """Whether ``path`` is a materialized path of canonical UUIDs ("/<id>/<id>/")."""
    return bool(_ORG_PATH.match(path))


class TokenInvalid(Exception):
    """A bearer token that must not be accepted; the message says why (never shown verbatim to clients)."""


class SigningKeysUnavailable(ServiceUnavailable):
    """503 auth-unavailable: the token cannot be checked now, because the auth service's key set could not be fetched
    and the keys at hand (if any) do not hold the token's ``kid``. Retry shortly; the token may well be valid."""

    slug, title = "auth-unavailable", "Auth service unavailable"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"Retry-After": str(math.ceil(FAILED_FETCH_RETRY_SECONDS))})


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a user acting for an organization, or a service client."""

    subject: str
    token_id: str
    roles: frozenset[str] = frozenset()
    scopes: frozenset[str] = frozenset()
    org_id: uuid.UUID | None = None
    org_kind: str | None = None
    org_path: str | None = None
    org_verified: bool = False
    org_region: str | None = None
    client_id: str | None = None
    claims: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_service(self) -> bool:
        """Whether this is a client_credentials (machine) caller."""
        return self.client_id is not None and self.claims.get("sub") == self.client_id

    def has_role(self, *roles: str) -> bool:
        """Whether the principal holds any of ``roles``."""
        return bool(self.roles.intersection(roles))

    @property
    def broker_certificate_valid_until(self) -> dt.date | None:
        """The end of the broker certificate the token carries (None when it carries none or an unreadable one)."""
        value = self.claims.get(BROKER_CERTIFICATE_CLAIM)
        if not isinstance(value, str):
            return None
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return None

    def in_subtree_of(self, org_path: str) -> bool:
        """Whether the principal's organization is ``org_path`` or below it in the 1+4+N tree."""
        return self.org_path is not None and self.org_path.startswith(org_path)

    @classmethod
    def from_claims(cls, claims: dict[str, Any]) -> Principal:
        """Build a principal from validated JWT claims."""
        org = claims.get("org")
        try:
            org_id = uuid.UUID(str(org)) if org else None
        except ValueError as exc:
            raise TokenInvalid("org claim is not a UUID") from exc
        roles = claims.get("roles") or []
        scope = claims.get("scope") or ""
        if not isinstance(roles, list) or not isinstance(scope, str):
            raise TokenInvalid("roles or scope claim has the wrong type")
        return cls(
            subject=str(claims["sub"]),
            token_id=str(claims.get("jti", "")),
            roles=frozenset(str(r) for r in roles),
            scopes=frozenset(scope.split()),
            org_id=org_id,
            org_kind=claims.get("org_kind"),
            org_path=claims.get("org_path"),
            org_verified=bool(claims.get("org_verified", False)),
            org_region=claims.get("org_region"),
            client_id=claims.get("client_id"),
            claims=claims,
        )


class JWKSVerifier:
    """Validate access tokens against the auth service's JWKS, fetched with ``client`` and cached."""

    def __init__(
        self,
        *,
        client: httpx.AsyncClient,
        jwks_url: str,
        issuer: str,
        audience: str,
        cache_seconds: float = 300.0,
        min_refetch_interval: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._jwks_url = jwks_url
        self._issuer = issuer
        self._audience = audience
        self._cache_seconds = cache_seconds
        self._min_refetch_interval = min_refetch_interval
        self._clock = clock
        self._keys: KeySet | None = None
        self._fetched_at = float("-inf")  # the last successful fetch
        self._failed_at = float("-inf")  # the last failed one
        # Verified tokens: token → (principal, key set it was verified with, valid until). A client sends the same
        # token with every request for minutes; checking its ES256 signature again each time is the costliest
        # part of a small request. Bounded; an entry lasts until the token expires, VERIFIED_TOKEN_TTL seconds
        # at most, or until the key set changes (a removed key must stop its tokens).
        self._verified: OrderedDict[str, tuple[Principal, KeySet, float]] = OrderedDict()
        self._lock = asyncio.Lock()
        self._claims_registry = jwt.JWTClaimsRegistry(
            leeway=CLOCK_LEEWAY_SECONDS,
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": audience},
            sub={"essential": True},
            exp={"essential": True},
        )

    async def _fetch(self, *, force: bool) -> KeySet:
        """The key set: the cached one while fresh (``force``: while fetched in the last ``min_refetch_interval``),
        else fetched again. A failed fetch keeps the cached keys for tokens they know; with none, or when ``force``
        asks because a token's kid is not among them, it raises :class:`SigningKeysUnavailable`."""
        cached = self._cached(force=force)
        if cached is not None:
            return cached
        if self._keys is not None and not force and self._lock.locked():
            # Another request is fetching: the stale keys serve meanwhile, so a slow auth service holds up one
            # request per process, not all of them.
            return self._keys
        async with self._lock:
            cached = self._cached(force=force)  # fetched while this request waited
            if cached is not None:
                return cached
            now = self._clock()
            if now - self._failed_at < FAILED_FETCH_RETRY_SECONDS:
                return self._keys_at_hand(force=force)
            try:
                response = await self._client.get(self._jwks_url)
                response.raise_for_status()
                keys = KeySet.import_key_set(response.json())
            except (httpx.HTTPError, ValueError, JoseError) as exc:
                self._failed_at = now
                logger.warning("cannot fetch the signing keys from %s: %s: %s", self._jwks_url, type(exc).__name__, exc)
                return self._keys_at_hand(force=force)
            self._keys, self._fetched_at = keys, now
            return keys

    def _cached(self, *, force: bool) -> KeySet | None:
        age = self._clock() - self._fetched_at
        if self._keys is not None and (age < self._min_refetch_interval or (age < self._cache_seconds and not force)):
            return self._keys
        return None

    def _keys_at_hand(self, *, force: bool) -> KeySet:
        # Stale keys still verify the tokens whose key they hold (an auth outage must not log everyone out); a token
        # they do not know, or no keys at all, cannot be decided until auth answers again.
        if self._keys is None or force:
            # The cause (an address, a status) goes to the log above, not to the client.
            raise SigningKeysUnavailable(
                "The access token cannot be checked now: the auth service's signing keys are unavailable. Retry shortly."
            )
        return self._keys

    async def verify(self, token: str) -> Principal:
        """Return the principal of a valid token; raise :class:`TokenInvalid` for one that must be refused, and
        :class:`SigningKeysUnavailable` when the keys to decide are out of reach."""
        keys = await self._fetch(force=False)
        cached = self._verified.get(token)
        if cached is not None:
            principal, verified_with, until = cached
            if verified_with is keys and self._clock() < until:
                self._verified.move_to_end(token)
                return principal
            del self._verified[token]
        principal = await self._verify(token, keys)
        expires = float(principal.claims["exp"])
        self._verified[token] = (principal, self._keys or keys, min(expires, self._clock() + VERIFIED_TOKEN_TTL))
        if len(self._verified) > VERIFIED_TOKEN_CACHE_SIZE:
            self._verified.popitem(last=False)
        return principal

    async def _verify(self, token: str, keys: KeySet) -> Principal:
        try:
            decoded = self._decode(token, keys)
        except _UnknownKey:
            keys = await self._fetch(force=True)
            try:
                decoded = self._decode(token, keys)
            except _UnknownKey as exc:
                raise TokenInvalid("token signed with an unknown key") from exc
        try:
            self._claims_registry.validate(decoded)
        except JoseError as exc:
            raise TokenInvalid(f"claims rejected: {exc}") from exc
        return Principal.from_claims(decoded)

    def _decode(self, token: str, keys: KeySet) -> dict[str, Any]:
        try:
            result = jwt.decode(token, keys, algorithms=[ACCESS_TOKEN_ALGORITHM])
        except JoseError as exc:
            if exc.error == "invalid_key_id":
                raise _UnknownKey from exc
            raise TokenInvalid(f"token rejected: {exc.error}") from exc
        except ValueError as exc:
            raise TokenInvalid("token is malformed") from exc
        claims = dict(result.claims)
        if "nbf" in claims and float(claims["nbf"]) > self._clock() + CLOCK_LEEWAY_SECONDS:
            raise TokenInvalid("token not yet valid")
        return claims


class _UnknownKey(Exception):
    pass


_bearer = HTTPBearer(auto_error=False, description="An access token from POST /auth/token.")


async def _optional_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal | None:
    if credentials is None:
        return None
    verifier: JWKSVerifier = request.app.state.token_verifier
    try:
        return await verifier.verify(credentials.credentials)
    except TokenInvalid as exc:
        # The reason stays out of the answer (it helps forgers) but goes to the log: it tells an operator an
        # expired token from one signed by a key this service does not know.
        logger.info("access token refused on %s %s: %s", request.method, request.url.path, exc)
        raise Unauthorized("The access token is invalid or expired.") from exc


async def _current_principal(
    principal: Annotated[Principal | None, Depends(_optional_principal)],
) -> Principal:
    if principal is None:
        raise Unauthorized("This endpoint needs a bearer access token.", headers={"WWW-Authenticate": "Bearer"})
    return principal


OptionalPrincipal = Annotated[Principal | None, Depends(_optional_principal)]
CurrentPrincipal = Annotated[Principal, Depends(_current_principal)]


def require_roles(*roles: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that admits principals holding any of ``roles``; others get 403."""

    async def dependency(principal: CurrentPrincipal) -> Principal:
        if not principal.has_role(*roles):
            raise Forbidden(f"This action needs one of the roles: {', '.join(roles)}.")
        return principal

    return dependency


class BrokerCertificateExpired(Forbidden):
    """403 broker-certificate-expired: the caller holds the broker role but its certificate has expired."""

    slug = BROKER_CERTIFICATE_EXPIRED
    title = "Broker certificate expired"


def acts_as_broker(principal: Principal, *, today: dt.date | None = None) -> bool:
    """Whether the caller may use the broker role's rights: the one check every broker action of market asks.

    False without the broker role (the caller decides what that means); True with it and a certificate valid on
    ``today`` (Beijing date, default today) or no recorded end (members made before certificates had an end keep
    their rights until an org admin records one); :class:`BrokerCertificateExpired` (403) when the certificate
    the token carries ended before ``today``. A token issued before a renewal still carries the old date: signing in
    again (or refreshing) picks the renewal up.
    """
    if not principal.has_role("broker"):
        return False
    valid_until = principal.broker_certificate_valid_until
    today = today or today_in_china()
    if valid_until is not None and valid_until < today:
        raise BrokerCertificateExpired(
            f"Your broker certificate (技术经纪人证书) expired on {valid_until.isoformat()}; renew it: an admin of "
            "your organization records the new validity, then sign in again.",
            extra={"certificate_valid_until": valid_until.isoformat()},
        )
    return True


def require_scopes(*scopes: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that admits principals whose token carries every scope in ``scopes``; others get 403."""

    async def dependency(principal: CurrentPrincipal) -> Principal:
        missing = set(scopes) - principal.scopes
        if missing:
            raise Forbidden(f"This action needs the scopes: {', '.join(sorted(missing))}.")
        return principal

    _SCOPES_OF[dependency] = frozenset(scopes)
    return dependency


# The scopes each require_scopes dependency demands, so that the OpenAPI document can state them.
_SCOPES_OF: dict[Callable[..., Any], frozenset[str]] = {}


def principal_requirement(call: Callable[..., Any]) -> tuple[str, frozenset[str]] | None:
    """What a dependency asks of the caller's token: ("required" | "optional", scopes), or None if nothing.

    The OpenAPI post-processor (shared/openapi.py) walks each route's dependencies with it, so a route's
    documented security is the one its dependencies enforce.
    """
    if call is _optional_principal:
        return "optional", frozenset()
    if call is _current_principal:
        return "required", frozenset()
    scopes = _SCOPES_OF.get(call)
    if scopes is not None:
        return "required", scopes
    return None
