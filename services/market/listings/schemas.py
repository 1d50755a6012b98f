"""Request and response schemas of achievements (科技成果) and demands (技术需求); their code lists (IpType, …) are the
reference domain's (services.market.reference.codes), re-exported here.

Request models forbid unknown fields: status, owner, ids, versions, timestamps and verification are set by the
service, and a body that tries to set them is a 422 naming the field (mass assignment). Text is NFC-normalized and
trimmed; codes typed in full width are normalized to ASCII. Private fields (contact, an achievement's external_id)
are null in the view of anyone but the owner organization and platform admins, and never sent to search.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationInfo,
    field_validator,
)

from services.market.listings.codes import (
    APPLICATION_NO_PATTERN,
    IPC_PATTERN,
    PUBLICATION_NO_PATTERN,
    normalize_application_no,
    normalize_ipc,
    normalize_publication_no,
)
from services.market.reference.codes import (
    AchievementStatus,
    CooperationMode,
    DemandStatus,
    IpType,
    PriceKind,
    TransferMode,
)
from shared.clock import IsoDate
from shared.reference.regions import is_valid_region
from shared.reference.technical_fields import is_technical_field, technical_fields
from shared.text import LongText, ShortText, clean_short_text, normalize_code

__all__ = [
    "AchievementCreate",
    "AchievementImportReport",
    "AchievementPublic",
    "AchievementStatus",
    "AchievementUpdate",
    "Contact",
    "CooperationMode",
    "DemandCreate",
    "DemandPublic",
    "DemandStatus",
    "DemandUpdate",
    "ImportRow",
    "IpType",
    "Money",
    "OwnerPublic",
    "PatentRef",
    "PriceKind",
    "TransferMode",
]

MAX_FEN = 10**16  # 1000亿元: far above any single listing, still well inside BIGINT


def _code(value: Any) -> Any:
    return normalize_code(value) if isinstance(value, str) else value


def _lower_code(value: Any) -> Any:
    return normalize_code(value).lower() if isinstance(value, str) else value


def _reference(value: Any) -> Any:
    if isinstance(value, str):
        value = clean_short_text(value)
        # isprintable() is False for control, format (invisible) and separator characters other than the space.
        if not value.isprintable():
            raise ValueError("only visible characters and spaces: no control or invisible characters")
    return value


# Free text follows the kernel's text rule (shared.text): one-line fields are ShortText, multi-line LongText.
Title = Annotated[ShortText, Field(min_length=1, max_length=200, description="Title, 1–200 characters.")]
Summary = Annotated[LongText, Field(max_length=1000)]
Description = Annotated[LongText, Field(max_length=20000)]
Keyword = Annotated[ShortText, Field(min_length=1, max_length=50)]
PersonName = Annotated[ShortText, Field(min_length=1, max_length=50)]
ExternalId = Annotated[
    str,
    BeforeValidator(_reference),
    Field(
        min_length=1,
        max_length=100,
        description="The transfer office's own reference, e.g. SCU-TT-2024-017: 1–100 visible characters, unique "
        "within the owner organization (409 otherwise), seen only by the owner organization and platform admins.",
    ),
]
# Strict ints: JSON true/false, 5.0 or "5" are refused (pydantic alone would coerce them).
Trl = Annotated[StrictInt, Field(ge=1, le=9, description="Technology readiness level 1–9 (GB/T 22900-2022).")]
FIELD_CODES = [f.code for f in technical_fields()]
TechnicalFieldCode = Annotated[
    str,
    BeforeValidator(_lower_code),
    Field(
        description="One of the 11 technical field codes (GET /market/reference/technical_fields).",
        json_schema_extra={"enum": FIELD_CODES},
    ),
]
RegionCode = Annotated[
    str, BeforeValidator(_code), Field(description="GB/T 2260 region code (6 digits), e.g. 510100 Chengdu.")
]
_PHONE = re.compile(r"^\+?[0-9][0-9\- ]{4,29}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _unique(values: list[Any]) -> list[Any]:
    return list(dict.fromkeys(values))


class Contact(_Strict):
    """Who to contact about a listing: a phone number or an e-mail address, at least one of them (else 422 on
    ``email``). Private: only the owning organization and platform admins see it."""

    name: PersonName = Field(description="Contact person.")
    phone: str | None = Field(default=None, max_length=30, description="Phone number, digits with optional + and -.")
    email: str | None = Field(default=None, max_length=254, validate_default=True, description="E-mail address.")

    @field_validator("phone", mode="before")
    @classmethod
    def _phone(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = normalize_code(value)
            if not _PHONE.match(value):
                raise ValueError("not a phone number")
        return value

    @field_validator("email", mode="before")
    @classmethod
    def _email(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = clean_short_text(value).lower()
            if not _EMAIL.match(value):
                raise ValueError("not an e-mail address")
        return value

    @field_validator("email")
    @classmethod
    def _one_channel(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None and info.data.get("phone") is None:
            raise ValueError("give a phone number or an e-mail address")
        return value


class Money(_Strict):
    """A price or budget in fen (1 元 = 100 fen): fixed (min_fen; max_fen empty or equal), range (both, min_fen ≤
    max_fen) or negotiable (min_fen and max_fen empty)."""

    kind: PriceKind = Field(description="fixed, range or negotiable.")
    min_fen: StrictInt | None = Field(
        default=None, ge=0, le=MAX_FEN, validate_default=True, description="Fixed amount, or lower bound (fen)."
    )
    max_fen: StrictInt | None = Field(
        default=None, ge=0, le=MAX_FEN, validate_default=True, description="Upper bound of a range (fen)."
    )

    @field_validator("min_fen")
    @classmethod
    def _min(cls, value: int | None, info: ValidationInfo) -> int | None:
        kind = info.data.get("kind")
        if kind in (PriceKind.FIXED, PriceKind.RANGE) and value is None:
            raise ValueError(f"required when kind is {kind}")
        if kind == PriceKind.NEGOTIABLE and value is not None:
            raise ValueError("must be empty when kind is negotiable")
        return value

    @field_validator("max_fen")
    @classmethod
    def _max(cls, value: int | None, info: ValidationInfo) -> int | None:
        kind = info.data.get("kind")
        low = info.data.get("min_fen")
        if kind == PriceKind.RANGE:
            if value is None:
                raise ValueError("required when kind is range")
            if low is not None and value < low:
                raise ValueError("must be at least min_fen")
        elif kind == PriceKind.FIXED and value is not None and value != low:
            raise ValueError("must be empty (or equal min_fen) when kind is fixed")
        elif kind == PriceKind.NEGOTIABLE and value is not None:
            raise ValueError("must be empty when kind is negotiable")
        return value


NEGOTIABLE = Money(kind=PriceKind.NEGOTIABLE)


# The patterns document the normalizers' checks (which keep their own 422 messages).
IpcCode = Annotated[str, Field(json_schema_extra={"pattern": IPC_PATTERN})]
PublicationNo = Annotated[str, Field(json_schema_extra={"pattern": PUBLICATION_NO_PATTERN})]


class PatentRef(_Strict):
    """One patent of an achievement."""

    application_no: str = Field(
        description="CN application number with its check digit, e.g. 202110123456.7 (a CN prefix and full-width "
        "digits are accepted and normalized). Check character: Σ dᵢ·wᵢ mod 11 over the 12 digits before the dot, "
        "w = 2,3,4,5,6,7,8,9,2,3,4,5; 10 is written X.",
        json_schema_extra={"pattern": APPLICATION_NO_PATTERN},
    )
    publication_no: PublicationNo | None = Field(default=None, description="Publication number, e.g. CN112345678A.")

    @field_validator("application_no", mode="before")
    @classmethod
    def _application(cls, value: Any) -> Any:
        return normalize_application_no(value) if isinstance(value, str) else value

    @field_validator("publication_no", mode="before")
    @classmethod
    def _publication(cls, value: Any) -> Any:
        return normalize_publication_no(value) if isinstance(value, str) else value


def _check_field(value: str | None) -> str | None:
    if value is not None and not is_technical_field(value):
        raise ValueError(f"unknown technical field; one of: {', '.join(FIELD_CODES)}")
    return value


def _check_region(value: str | None) -> str | None:
    if value is not None and not is_valid_region(value):
        raise ValueError("not a GB/T 2260 region code")
    return value


def _check_ipc(values: list[str] | None) -> list[str] | None:
    return None if values is None else _unique([normalize_ipc(v) for v in values])


class _ListingFields(_Strict):
    """The validators of the fields both kinds of listing have (inherited: pydantic runs a base's validators)."""

    @field_validator("technical_field", check_fields=False)
    @classmethod
    def _field(cls, value: str | None) -> str | None:
        return _check_field(value)

    @field_validator("region_code", check_fields=False)
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        return _check_region(value)


class _AchievementFields(_ListingFields):
    @field_validator("ipc_codes", mode="before", check_fields=False)
    @classmethod
    def _ipc(cls, value: Any) -> Any:
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return _check_ipc(value)
        return value

    @field_validator("keywords", "inventors", "transfer_modes", check_fields=False)
    @classmethod
    def _dedupe(cls, value: list[Any] | None) -> list[Any] | None:
        return None if value is None else _unique(value)

    @field_validator("patents", check_fields=False)
    @classmethod
    def _patents(cls, value: list[PatentRef] | None) -> list[PatentRef] | None:
        if value is not None:
            numbers = [p.application_no for p in value]
            if len(set(numbers)) != len(numbers):
                raise ValueError("the same application number is listed twice")
        return value


class AchievementCreate(_AchievementFields):
    """A new achievement listing; it starts as a draft of the caller's organization."""

    title: Title
    external_id: ExternalId | None = None
    summary: Summary | None = Field(default=None, description="One-paragraph summary (≤1000 characters).")
    description: Description | None = Field(default=None, description="Full description (≤20000 characters).")
    keywords: list[Keyword] = Field(default_factory=list, max_length=20, description="Up to 20 keywords.")
    technical_field: TechnicalFieldCode
    ipc_codes: list[IpcCode] = Field(
        default_factory=list, max_length=20, description="IPC symbols, e.g. 'G06F 16/33' or 'B64U 20/80'."
    )
    patents: list[PatentRef] = Field(default_factory=list, max_length=50, description="Patents of the achievement.")
    ip_type: IpType = Field(description="Kind of intellectual property.")
    trl: Trl | None = None
    transfer_modes: list[TransferMode] = Field(default_factory=list, description="Acceptable ways of transfer.")
    price: Money = Field(default=NEGOTIABLE, description="Asking price; negotiable when omitted.")
    inventors: list[PersonName] = Field(default_factory=list, max_length=50)
    region_code: RegionCode | None = Field(default=None, description="Defaults to the owner organization's region.")
    contact: Contact | None = Field(default=None, description="Private contact, seen only by the owner.")
    valid_until: IsoDate | None = Field(
        default=None, description="Last day (Beijing time) the listing is offered; it expires after that day."
    )


class AchievementUpdate(_AchievementFields):
    """A partial update: only the fields sent change; null clears an optional field."""

    title: Title | None = None
    external_id: ExternalId | None = None
    summary: Summary | None = None
    description: Description | None = None
    keywords: list[Keyword] | None = Field(default=None, max_length=20)
    technical_field: TechnicalFieldCode | None = None
    ipc_codes: list[IpcCode] | None = Field(default=None, max_length=20)
    patents: list[PatentRef] | None = Field(default=None, max_length=50)
    ip_type: IpType | None = None
    trl: Trl | None = None
    transfer_modes: list[TransferMode] | None = None
    price: Money | None = None
    inventors: list[PersonName] | None = Field(default=None, max_length=50)
    region_code: RegionCode | None = None
    contact: Contact | None = None
    valid_until: IsoDate | None = None


MATCH_ALERTS_DESCRIPTION = (
    "Whether the owner organization is told (notification demand.match) when a newly published or changed "
    "achievement of another organization matches this demand while it is published and open; default true."
)


class _DemandFields(_ListingFields):
    @field_validator("keywords", "cooperation_modes", check_fields=False)
    @classmethod
    def _dedupe(cls, value: list[Any] | None) -> list[Any] | None:
        return None if value is None else _unique(value)


class DemandCreate(_DemandFields):
    """A new technical demand; it starts as a draft of the caller's organization."""

    title: Title
    description: Description | None = Field(default=None, description="What is needed (≤20000 characters).")
    technical_field: TechnicalFieldCode
    keywords: list[Keyword] = Field(default_factory=list, max_length=20)
    desired_trl: Trl | None = Field(default=None, description="Minimum technology readiness level wanted.")
    cooperation_modes: list[CooperationMode] = Field(default_factory=list)
    budget: Money = Field(default=NEGOTIABLE, description="Budget; negotiable when omitted.")
    deadline: IsoDate | None = Field(default=None, description="Last day (Beijing time); it expires after that day.")
    region_code: RegionCode | None = Field(default=None, description="Defaults to the owner organization's region.")
    contact: Contact | None = Field(default=None, description="Private contact, seen only by the owner.")
    match_alerts: StrictBool = Field(default=True, description=MATCH_ALERTS_DESCRIPTION)


class DemandUpdate(_DemandFields):
    """A partial update: only the fields sent change; null clears an optional field."""

    title: Title | None = None
    description: Description | None = None
    technical_field: TechnicalFieldCode | None = None
    keywords: list[Keyword] | None = Field(default=None, max_length=20)
    desired_trl: Trl | None = None
    cooperation_modes: list[CooperationMode] | None = None
    budget: Money | None = None
    deadline: IsoDate | None = None
    region_code: RegionCode | None = None
    contact: Contact | None = None
    match_alerts: StrictBool | None = Field(default=None, description=MATCH_ALERTS_DESCRIPTION)


class OwnerPublic(BaseModel):
    """The organization that owns a listing, as the market's directory knows it (never its members or contacts)."""

    id: uuid.UUID
    name: str | None = Field(description="Its name; null while the directory does not know the organization yet.")
    kind: str | None = Field(description="university, research_institute, enterprise, …")
    region_code: str | None = Field(description="GB/T 2260 code of the organization's region (not the listing's).")


class _ListingPublic(BaseModel):
    id: uuid.UUID
    status: str = Field(description="Lifecycle status.")
    version: int = Field(
        description="Increases with every change (also when the owner organization is renamed, suspended or "
        "reinstated: the listing is then re-sent to search); the ETag is built from it."
    )
    owner_org_id: uuid.UUID = Field(description="Organization that owns the listing.")
    owner: OwnerPublic = Field(description="The owner organization's public card.")
    title: str
    technical_field: str
    keywords: list[str]
    region_code: str
    contact: Contact | None = Field(description="Only for the owner organization and platform admins; else null.")
    created_at: dt.datetime
    updated_at: dt.datetime
    published_at: dt.datetime | None


class AchievementPublic(_ListingPublic):
    """An achievement listing as the caller may see it."""

    external_id: str | None = Field(
        description="The owner's own reference: only for the owner organization and platform admins; else null."
    )
    summary: str | None
    description: str | None
    ipc_codes: list[str]
    patents: list[PatentRef]
    ip_type: IpType
    trl: int | None
    transfer_modes: list[TransferMode]
    price: Money
    inventors: list[str]
    valid_until: dt.date | None


class DemandPublic(_ListingPublic):
    """A demand posting as the caller may see it."""

    description: str | None
    desired_trl: int | None
    cooperation_modes: list[CooperationMode]
    budget: Money
    deadline: dt.date | None
    match_alerts: bool | None = Field(
        description=MATCH_ALERTS_DESCRIPTION + " Only for the owner organization and platform admins; else null."
    )


class ImportRow(BaseModel):
    """The outcome of one row of a bulk import."""

    row: int = Field(description="Row number: data rows of a CSV counted from 1 after the header; lines of JSON lines.")
    status: str = Field(
        description="created, existing (same natural key already listed: nothing stored, nothing updated) or error "
        "(nothing stored; also when the row's external_id belongs to another listing of your organization)."
    )
    id: uuid.UUID | None = Field(default=None, description="The achievement created or found.")
    errors: list[dict[str, Any]] = Field(default_factory=list, description="Field errors of a rejected row.")


class AchievementImportReport(BaseModel):
    """Per-row report of a bulk import."""

    total_rows: int
    created: int
    existing: int
    failed: int
    rows: list[ImportRow]
