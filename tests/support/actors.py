"""Who acts in a test: users of organizations of each kind, platform admins, service clients.

INTERIM IMPLEMENTATION (until the auth service lands): tokens are minted by a test authority whose public key
the market and search apps of the stack are told to trust. The interface (``Actors`` and ``Actor``) is what
tests use; the auth work replaces the implementation with real calls to /auth/signup, /verify, /members and
/auth/token, and deletes ``_TestAuthority``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from shared.ids import new_id
from shared.security import JWKSVerifier
from tests.conftest import Stack

__all__ = ["Actor", "Actors"]


@dataclass
class Actor:
    """A caller with a valid access token."""

    token: str
    subject: str
    org_id: uuid.UUID | None
    org_kind: str | None
    org_path: str | None
    roles: list[str]
    region_code: str | None = None
    credit_code: str | None = None
    org_name: str | None = None
    scopes: list[str] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        """The Authorization header."""
        return {"Authorization": f"Bearer {self.token}"}


class _TestAuthority:
    def __init__(self, issuer: str, audience: str) -> None:
        self.issuer = issuer
        self.audience = audience
        self.key = ECKey.generate_key("P-256", parameters={"kid": f"test-{uuid.uuid4().hex[:8]}"})

    def jwks(self) -> dict[str, object]:
        return KeySet([self.key]).as_dict(private=False)

    def mint(self, claims: dict[str, object], ttl: int = 900) -> str:
        now = int(time.time())
        payload = {"iss": self.issuer, "aud": self.audience, "iat": now, "exp": now + ttl, "jti": str(new_id())}
        payload.update(claims)
        return jwt.encode({"alg": "ES256", "kid": self.key.kid}, payload, self.key)


class Actors:
    """Makes actors for a running stack."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        settings = stack.market_settings
        self._authority = _TestAuthority(settings.jwt_issuer, settings.jwt_audience)
        jwks = self._authority.jwks()
        transport = httpx.MockTransport(lambda request: httpx.Response(200, json=jwks))
        self._client = httpx.AsyncClient(transport=transport)
        for name in ("market", "search"):
            app = stack.service_app(name)
            app.state.token_verifier = JWKSVerifier(
                client=self._client,
                jwks_url="http://test-authority/jwks.json",
                issuer=settings.jwt_issuer,
                audience=settings.jwt_audience,
            )
        self._center: Actor | None = None

    async def org_member(
        self,
        *,
        kind: str = "university",
        verified: bool = True,
        roles: Sequence[str] = ("org_admin", "member"),
        parent: Actor | None = None,
        region_code: str = "510100",
        name: str | None = None,
    ) -> Actor:
        """A user of a new organization of ``kind`` (below ``parent`` in the 1+4+N tree when given)."""
        org_id = new_id()
        parent_path = parent.org_path if parent and parent.org_path else "/"
        path = f"{parent_path}{org_id}/"
        credit_code = _fake_credit_code(org_id)
        return self._actor(
            org_id=org_id,
            kind=kind,
            path=path,
            verified=verified,
            roles=list(roles),
            region_code=region_code,
            credit_code=credit_code,
            name=name or f"{kind} {str(org_id)[-6:]}",
        )

    async def colleague(self, of: Actor, *, roles: Sequence[str] = ("member",)) -> Actor:
        """Another user of the same organization as ``of``."""
        return self._actor(
            org_id=of.org_id,
            kind=of.org_kind,
            path=of.org_path,
            verified=True,
            roles=list(roles),
            region_code=of.region_code,
            credit_code=of.credit_code,
            name=of.org_name,
        )

    async def platform_admin(self) -> Actor:
        """A platform admin of the center (国家技术转移西南中心)."""
        if self._center is None:
            self._center = await self.org_member(kind="center", roles=("platform_admin", "org_admin", "member"))
        return self._center

    async def service_client(
        self, *, scopes: Sequence[str] = ("search:ingest",), client_id: str = "test-client"
    ) -> Actor:
        """A client_credentials caller with ``scopes``."""
        token = self._authority.mint({"sub": client_id, "client_id": client_id, "scope": " ".join(scopes), "roles": []})
        return Actor(
            token=token, subject=client_id, org_id=None, org_kind=None, org_path=None, roles=[], scopes=list(scopes)
        )

    def _actor(
        self,
        *,
        org_id: uuid.UUID | None,
        kind: str | None,
        path: str | None,
        verified: bool,
        roles: list[str],
        region_code: str | None,
        credit_code: str | None,
        name: str | None,
    ) -> Actor:
        subject = str(new_id())
        token = self._authority.mint(
            {
                "sub": subject,
                "scope": "",
                "org": str(org_id) if org_id else None,
                "org_kind": kind,
                "org_path": path,
                "org_verified": verified,
                "org_region": region_code,
                "roles": roles,
            }
        )
        return Actor(
            token=token,
            subject=subject,
            org_id=org_id,
            org_kind=kind,
            org_path=path,
            roles=roles,
            region_code=region_code,
            credit_code=credit_code,
            org_name=name,
        )

    async def aclose(self) -> None:
        await self._client.aclose()


def _fake_credit_code(org_id: uuid.UUID) -> str:
    """A checksum-valid unified social credit code derived from the id (GB 32100)."""
    from stdnum.cn import uscc

    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    body = "91510100" + "".join(alphabet[b % 31] for b in org_id.bytes[:9])
    return body + uscc.calc_check_digit(body)
