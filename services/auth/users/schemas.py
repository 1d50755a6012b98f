"""Request and response bodies of members and /auth/me."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from services.auth.organizations.schemas import Email, OrganizationPublic
from services.auth.vocabulary import Role
from shared.text import RequiredShortText, normalize_code

__all__ = ["MePublic", "MemberCreate", "MemberPublic", "MemberUpdate", "MembershipPublic", "UserPublic"]

_CERTIFICATE = re.compile(r"^[A-Z0-9][A-Z0-9\-/]{3,63}$")


# A certificate's last valid day: a Beijing date in this range.
CERTIFICATE_FIRST_DAY = dt.date(2000, 1, 1)
CERTIFICATE_LAST_DAY = dt.date(2099, 12, 31)


def _valid_until(value: dt.date) -> dt.date:
    if not CERTIFICATE_FIRST_DAY <= value <= CERTIFICATE_LAST_DAY:
        raise ValueError(f"a date from {CERTIFICATE_FIRST_DAY} to {CERTIFICATE_LAST_DAY}")
    return value


def _certificate(value: str) -> str:
    code = normalize_code(value)
    if not _CERTIFICATE.match(code):
        raise ValueError("4 to 64 letters, digits, '-' or '/'")
    return code


# The broker certificate's fields, validated alike wherever a membership is written (create and update).
CertificateNo = Annotated[str, AfterValidator(_certificate)]
CertificateIssuer = RequiredShortText
CertificateValidUntil = Annotated[dt.date, AfterValidator(_valid_until)]


def _roles(value: list[Role]) -> list[Role]:
    if not value:
        raise ValueError("at least one role")
    return sorted(set(value))


# _roles refuses an empty list (with its own message); minItems says so in the schema.
NonEmptyRoles = Annotated[list[Role], Field(json_schema_extra={"minItems": 1}), AfterValidator(_roles)]
# The roles of an answer: always of the Role vocabulary.
RoleNames = Annotated[
    list[str], Field(json_schema_extra={"items": {"type": "string", "enum": [r.value for r in Role]}})
]


class MemberCreate(BaseModel):
    """POST /auth/organizations/{id}/members: a new user of the organization."""

    model_config = ConfigDict(extra="forbid")

    email: Email = Field(max_length=254, description="Login name; stored lower-cased.")
    name: RequiredShortText = Field(min_length=1, max_length=200, description="Display name.")
    password: str = Field(max_length=256, description="At least 10 characters, not a common password.")
    roles: NonEmptyRoles = Field(
        description="Roles in this organization, at least one (see the tier rules in docs/auth.md)."
    )
    broker_certificate_no: CertificateNo | None = Field(
        default=None, max_length=64, description="技术经纪人证书编号; required with the broker role."
    )
    broker_certificate_issuer: CertificateIssuer | None = Field(
        default=None, max_length=200, description="Who issued the broker certificate (发证机构); needs the number."
    )
    broker_certificate_valid_until: CertificateValidUntil | None = Field(
        default=None,
        description="The certificate's last valid day (Beijing date); needs the number. Past it, the broker role's "
        "rights stop (403 broker-certificate-expired) until it is renewed and the member signs in again.",
    )


class MemberUpdate(BaseModel):
    """PATCH a membership: new roles and/or broker certificate number (fields left out stay)."""

    model_config = ConfigDict(extra="forbid")

    roles: NonEmptyRoles | None = Field(default=None, description="The complete new role list, at least one role.")
    broker_certificate_no: CertificateNo | None = Field(default=None, max_length=64, description="技术经纪人证书编号.")
    broker_certificate_issuer: CertificateIssuer | None = Field(
        default=None, max_length=200, description="Who issued the broker certificate (发证机构)."
    )
    broker_certificate_valid_until: CertificateValidUntil | None = Field(
        default=None,
        description="The certificate's last valid day (Beijing date); a renewal sets a later one (the member signs "
        "in again to use it).",
    )


class MemberPublic(BaseModel):
    """A user's membership in one organization."""

    user_id: uuid.UUID
    organization_id: uuid.UUID
    email: str
    name: str
    roles: RoleNames
    broker_certificate_no: str | None
    broker_certificate_issuer: str | None = Field(description="Who issued the broker certificate.")
    broker_certificate_valid_until: dt.date | None = Field(
        description="The certificate's last valid day (Beijing date); null: no recorded end."
    )
    created_at: dt.datetime


class UserPublic(BaseModel):
    """A user."""

    id: uuid.UUID
    email: str
    name: str
    created_at: dt.datetime


class MembershipPublic(BaseModel):
    """One of the caller's memberships."""

    organization: OrganizationPublic
    roles: RoleNames
    broker_certificate_no: str | None
    broker_certificate_issuer: str | None = Field(description="Who issued the broker certificate.")
    broker_certificate_valid_until: dt.date | None = Field(
        description="The certificate's last valid day (Beijing date); null: no recorded end."
    )


class MePublic(BaseModel):
    """GET /auth/me: who the token belongs to."""

    user: UserPublic
    memberships: list[MembershipPublic]
    organization_id: uuid.UUID | None = Field(description="The organization the token acts for.")
    roles: RoleNames = Field(description="The roles the token carries.")
    scope: str = Field(description="The token's scopes, space-separated.")
