"""Request and response bodies of organizations and signup."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator
from stdnum.cn import uscc
from stdnum.exceptions import ValidationError as StdnumValidationError

from services.auth.vocabulary import DesignationLevel, OrgKind, OrgStatus
from shared.clock import today_in_china
from shared.reference.codes import CREDIT_CODE_DESCRIPTION, CREDIT_CODE_PATTERN, REGION_CODE_PATTERN, documented_pattern
from shared.reference.regions import is_valid_region
from shared.text import RequiredLongText, RequiredShortText, clean_short_text, normalize_code

__all__ = [
    "DESIGNATION_FIRST_YEAR",
    "EMAIL_PATTERN",
    "DesignationPublic",
    "DesignationRequest",
    "Email",
    "OrganizationCreate",
    "OrganizationPublic",
    "OrganizationUpdate",
    "RejectRequest",
    "SignupPublic",
    "SignupRequest",
    "SignupUser",
    "SuspendRequest",
    "normalize_credit_code",
    "normalize_email",
    "normalize_region_code",
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


def normalize_region_code(value: str) -> str:
    """Normalize and check a GB/T 2260 region code; ValueError if this service does not know it."""
    code = normalize_code(value)
    if not is_valid_region(code):
        raise ValueError("not a GB/T 2260 region code known to this service")
    return code


def normalize_email(value: str) -> str:
    """Trim and lower-case an email; ValueError when it does not look like one."""
    email = normalize_code(clean_short_text(value)).lower()
    if len(email) > 254 or not EMAIL_PATTERN.match(email):
        raise ValueError("not an email address")
    return email


# A login name, trimmed and lower-cased (signup and new members).
Email = Annotated[str, AfterValidator(normalize_email)]

# The registration facts, normalized and checked the same way at signup and in a PATCH.
OrganizationName = Annotated[RequiredShortText, Field(min_length=1, max_length=200)]
# The patterns state the canonical form; the validators also take full-width and lower-case input and check more.
CreditCode = Annotated[
    str,
    Field(max_length=40, json_schema_extra=documented_pattern(CREDIT_CODE_PATTERN)),
    AfterValidator(normalize_credit_code),
]
RegionCode = Annotated[
    str,
    Field(max_length=12, json_schema_extra=documented_pattern(REGION_CODE_PATTERN)),
    AfterValidator(normalize_region_code),
]


class OrganizationCreate(BaseModel):
    """The organization part of a signup."""

    model_config = ConfigDict(extra="forbid")

    name: OrganizationName = Field(description="Registered name, e.g. 四川大学.")
    kind: OrgKind = Field(description="What the organization is; decides its tier parent and allowed roles.")
    credit_code: CreditCode = Field(
        description="统一社会信用代码 (GB 32100); full-width and lower case are normalized. " + CREDIT_CODE_DESCRIPTION,
    )
    region_code: RegionCode = Field(
        description="GB/T 2260 six-digit region code, e.g. 510107; one this service knows (every province, and "
        "Sichuan and Chongqing down to counties)."
    )
    parent_id: uuid.UUID | None = Field(
        default=None,
        description="Tier parent: the center for a sub_center; a sub_center or the center for a "
        "transfer_institution; absent for other kinds.",
    )


class OrganizationUpdate(BaseModel):
    """PATCH /auth/organizations/{id}: the fields to change (absent ones stay). Kind and tier parent never change."""

    model_config = ConfigDict(extra="forbid")

    name: OrganizationName | None = Field(default=None, description="Registered name.")
    region_code: RegionCode | None = Field(default=None, description="GB/T 2260 six-digit region code.")
    credit_code: CreditCode | None = Field(
        default=None,
        description="统一社会信用代码 (GB 32100); only a platform admin may change it (409 when another organization "
        "has it). " + CREDIT_CODE_DESCRIPTION,
    )

    @field_validator("name", "region_code", "credit_code")
    @classmethod
    def _not_null(cls, value: str | None) -> str:
        # Only runs for fields the body names: an explicit null would erase a registered fact.
        if value is None:
            raise ValueError("must not be null; leave the field out to keep it")
        return value


class SignupUser(BaseModel):
    """The first user of the organization; becomes its org_admin."""

    model_config = ConfigDict(extra="forbid")

    email: Email = Field(max_length=254, description="Login name; stored lower-cased.")
    password: str = Field(max_length=256, description="At least 10 characters, not one of the most common passwords.")
    name: RequiredShortText = Field(min_length=1, max_length=200, description="Display name.")


class SignupRequest(BaseModel):
    """POST /auth/signup."""

    model_config = ConfigDict(extra="forbid")

    organization: OrganizationCreate
    user: SignupUser


class RejectRequest(BaseModel):
    """Why an organization is rejected."""

    model_config = ConfigDict(extra="forbid")

    reason: RequiredLongText = Field(min_length=1, max_length=1000, description="Shown to the organization's users.")


class SuspendRequest(RejectRequest):
    """Why an organization is suspended (the same shape as a rejection)."""


# The first year a designation may name; the last is next year (Beijing), for a designation announced in advance.
DESIGNATION_FIRST_YEAR = 2000


class DesignationRequest(BaseModel):
    """PUT /auth/organizations/{id}/designation: a demonstration institution's (示范机构) level and year."""

    model_config = ConfigDict(extra="forbid")

    level: DesignationLevel = Field(description="national (国家技术转移示范机构) or provincial (省级).")
    year: int = Field(
        ge=DESIGNATION_FIRST_YEAR,
        description=f"The year it was designated: {DESIGNATION_FIRST_YEAR} to next year (Beijing time).",
    )

    @field_validator("year")
    @classmethod
    def _not_after_next_year(cls, value: int) -> int:
        last = today_in_china().year + 1
        if value > last:
            raise ValueError(f"at most {last} (next year)")
        return value


class DesignationPublic(BaseModel):
    """A demonstration institution's designation; revoked ones keep their level and year."""

    level: DesignationLevel = Field(description="national (国家级) or provincial (省级).")
    year: int = Field(description="The year it was designated.")
    revoked: bool = Field(description="Whether the designation was revoked (DELETE …/designation).")
    revoked_at: dt.datetime | None = Field(description="When it was revoked (null unless revoked).")


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
    suspension_reason: str | None = Field(description="Why it is suspended (null unless status is suspended).")
    designation: DesignationPublic | None = Field(
        description="示范机构 designation of a transfer institution (null when it never had one)."
    )
    broker_certificates_valid_until: list[dt.date] = Field(
        description="The last valid day (Beijing date) of each broker membership's certificate that has one, sorted."
    )
    version: int = Field(description="1 at creation, +1 on every change; the ETag is built from it.")
    created_at: dt.datetime
    updated_at: dt.datetime = Field(description="When it last changed.")
    decided_at: dt.datetime | None = Field(description="When it was verified or rejected.")


class SignupPublic(BaseModel):
    """The answer to every accepted signup, whether the email was new or already had an account: the outcome is
    sent to the address (docs/auth.md, "Signup")."""

    status: Literal["accepted"] = Field(default="accepted", description="Always accepted.")
    email: str = Field(description="The address the outcome was sent to, lower-cased.")
    detail: str = Field(description="What happens next.")
