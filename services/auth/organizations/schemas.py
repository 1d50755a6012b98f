"""Request and response bodies of organizations and signup."""

from __future__ import annotations

import datetime as dt
import re
import uuid

from pydantic import BaseModel, ConfigDict, Field, field_validator
from stdnum.cn import uscc
from stdnum.exceptions import ValidationError as StdnumValidationError

from services.auth.vocabulary import OrgKind, OrgStatus
from shared.reference.regions import is_valid_region
from shared.text import normalize_code, normalize_text

__all__ = [
    "EMAIL_PATTERN",
    "OrganizationCreate",
    "OrganizationPublic",
    "RejectRequest",
    "SignupRequest",
    "SignupResponse",
    "SignupUser",
    "SignupUserPublic",
    "normalize_credit_code",
    "normalize_email",
]

# Deliberately loose: one @, no spaces, a dot in the domain. Deliverability is the mail server's business.
EMAIL_PATTERN = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


def normalize_credit_code(value: str) -> str:
    """Normalize (full-width, case) and validate a unified social credit code (GB 32100); ValueError if bad."""
    code = normalize_code(value).replace(" ", "").replace("-", "")
    try:
        return str(uscc.validate(code))
    except StdnumValidationError as exc:
        raise ValueError(f"not a valid unified social credit code (GB 32100): {exc}") from exc


def normalize_email(value: str) -> str:
    """Trim and lower-case an email; ValueError when it does not look like one."""
    email = normalize_code(value).lower()
    if len(email) > 254 or not EMAIL_PATTERN.match(email):
        raise ValueError("not an email address")
    return email


class OrganizationCreate(BaseModel):
    """The organization part of a signup."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="Registered name, e.g. 四川大学.")
    kind: OrgKind = Field(description="What the organization is; decides its tier parent and allowed roles.")
    credit_code: str = Field(
        max_length=40,
        description="统一社会信用代码: 18 characters with the GB 32100 check character; full-width and lower case "
        "are normalized.",
    )
    region_code: str = Field(max_length=12, description="GB/T 2260 six-digit region code, e.g. 510107.")
    parent_id: uuid.UUID | None = Field(
        default=None,
        description="Tier parent: the center for a sub_center; a sub_center or the center for a "
        "transfer_institution; absent for other kinds.",
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        value = normalize_text(value)
        if not value:
            raise ValueError("must not be blank")
        return value

    @field_validator("credit_code")
    @classmethod
    def _credit_code(cls, value: str) -> str:
        return normalize_credit_code(value)

    @field_validator("region_code")
    @classmethod
    def _region_code(cls, value: str) -> str:
        code = normalize_code(value)
        if not is_valid_region(code):
            raise ValueError("not a GB/T 2260 region code known to this service")
        return code


class SignupUser(BaseModel):
    """The first user of the organization; becomes its org_admin."""

    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=254, description="Login name; stored lower-cased.")
    password: str = Field(max_length=256, description="At least 10 characters, not one of the most common passwords.")
    name: str = Field(min_length=1, max_length=200, description="Display name.")

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return normalize_email(value)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        value = normalize_text(value)
        if not value:
            raise ValueError("must not be blank")
        return value


class SignupRequest(BaseModel):
    """POST /auth/signup."""

    model_config = ConfigDict(extra="forbid")

    organization: OrganizationCreate
    user: SignupUser


class RejectRequest(BaseModel):
    """Why an organization is rejected."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=1000, description="Shown to the organization's users.")

    @field_validator("reason")
    @classmethod
    def _reason(cls, value: str) -> str:
        value = normalize_text(value)
        if not value:
            raise ValueError("must not be blank")
        return value


class OrganizationPublic(BaseModel):
    """An organization as the API shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    kind: OrgKind
    credit_code: str | None = Field(description="统一社会信用代码 (absent for the bootstrap center).")
    region_code: str | None
    parent_id: uuid.UUID | None = Field(description="Tier parent in the 1+4+N tree.")
    path: str = Field(description='Materialized path "/<root id>/…/<id>/".')
    status: OrgStatus
    rejection_reason: str | None
    created_at: dt.datetime
    decided_at: dt.datetime | None = Field(description="When it was verified or rejected.")


class SignupUserPublic(BaseModel):
    """The user created by a signup."""

    id: uuid.UUID
    email: str
    name: str
    roles: list[str]


class SignupResponse(BaseModel):
    """The pending organization and its first user."""

    organization: OrganizationPublic
    user: SignupUserPublic
