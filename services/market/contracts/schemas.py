"""Request and response models of technology contracts. Requests forbid unknown fields (mass assignment → 422)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from shared.clock import IsoDate
from shared.reference.codes import (
    CREDIT_CODE_DESCRIPTION,
    CREDIT_CODE_PATTERN,
    PARTY_REGION_PATTERN,
    documented_pattern,
)
from shared.text import LongText, ShortText

__all__ = [
    "AmendRequest",
    "AttachmentCreate",
    "ContractCreate",
    "ContractEventPublic",
    "ContractImportReport",
    "ContractPublic",
    "ContractUpdate",
    "FollowUp",
    "ImportRowReport",
    "PartyCreate",
    "PartyPublic",
    "RegisterRequest",
    "RejectRequest",
    "RevokeRequest",
    "Verification",
]

MAX_AMOUNT_FEN = 10**16  # 1万亿元: far above any single contract, far below BigInteger overflow in sums
# Strict: JSON true/false or "5" are no amounts (pydantic alone would take them as 1/0/5).
Money = Annotated[StrictInt, Field(ge=0, le=MAX_AMOUNT_FEN)]
# Every string of a request follows the kernel's text rule (shared.text): codes too, so none reaches the database.
Text = Annotated[ShortText, Field(min_length=1, max_length=300)]
Reason = Annotated[LongText, Field(min_length=1, max_length=2000)]


# Checked by the service (GB 32100 check character); the pattern states the shape.
PartyCreditCode = Annotated[ShortText, Field(json_schema_extra=documented_pattern(CREDIT_CODE_PATTERN))]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PartyCreate(_Request):
    """A contract party as written in the contract (stored as submitted, never linked to a profile)."""

    name: ShortText = Field(min_length=1, max_length=200, description="Name as in the contract.")
    credit_code: PartyCreditCode | None = Field(
        default=None,
        max_length=40,
        description="统一社会信用代码 (GB 32100); required for Chinese organizations (region a GB/T 2260 code), "
        "absent for a party abroad. " + CREDIT_CODE_DESCRIPTION,
    )
    region_code: ShortText = Field(
        min_length=2,
        max_length=6,
        description="6-digit GB/T 2260 code, or an ISO 3166-1 alpha-2 country code (not CN) for a party abroad; the "
        "seller is always in China.",
        json_schema_extra=documented_pattern(PARTY_REGION_PATTERN),
    )
    entity_type: ShortText = Field(
        description="university, research_institute, enterprise, individual, government or other "
        "(reference data: contract_entity_types)."
    )
    ownership: ShortText | None = Field(
        default=None,
        description="Enterprises only: state_owned, private, foreign_invested or hk_macao_taiwan.",
    )
    org_id: uuid.UUID | None = Field(
        default=None,
        description="The party's platform organization, when it is a member (lets its members see the contract). "
        "Filled from the directory when the credit code belongs to a verified organization; if given, it must be "
        "that organization.",
    )
    unverified: StrictBool = Field(
        default=False,
        description="Submitted as broker: true declares that the party is not a verified organization of the "
        "directory (no credit code, or one the directory does not know as verified); the registrar checks it. "
        "Without it such a party is refused (403 party-not-verified).",
    )


class AttachmentCreate(_Request):
    """Metadata of a document attached to the contract (the file itself is stored elsewhere)."""

    name: ShortText = Field(min_length=1, max_length=200)
    media_type: ShortText = Field(min_length=3, max_length=100, description="e.g. application/pdf")
    size_bytes: StrictInt = Field(ge=0, le=1_073_741_824)
    sha256: ShortText | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")


class _ContractFields(_Request):
    kind: ShortText = Field(max_length=60, description="Contract kind code (reference data: contract_kinds).")
    subkind: ShortText = Field(max_length=60, description="Subkind code belonging to the kind (contract_subkinds).")
    technical_field: ShortText = Field(max_length=60, description="One of the 11 technical field codes.")
    title: Text
    contract_no: ShortText = Field(min_length=1, max_length=100, description="The parties' own contract number.")
    signed_on: IsoDate = Field(description="Signing date (a legal date, Asia/Shanghai).")
    valid_from: IsoDate | None = None
    valid_to: IsoDate | None = None
    contract_amount_fen: Money = Field(description="合同成交额 in fen.")
    technology_amount_fen: Money = Field(description="技术交易额 claimed, in fen; at most the contract amount.")
    achievement_id: uuid.UUID | None = Field(
        default=None, description="The listed achievement this contract transfers."
    )
    demand_id: uuid.UUID | None = Field(default=None, description="The demand this contract answers.")
    attachments: list[AttachmentCreate] = Field(default_factory=list, max_length=20)


class ContractCreate(_ContractFields):
    """A contract submitted for registration by a member of the seller or by the broker of the deal."""

    seller: PartyCreate
    buyer: PartyCreate
    submitted_as: Literal["seller", "broker"] = Field(
        default="seller",
        description="seller: the caller's organization is the seller, so seller.credit_code must be its own "
        "(else 403 not-own-contract). broker: the caller brokered the deal (the broker role in a verified transfer "
        "institution, sub-center or the center; its organization is recorded as the broker); each party must be a "
        "verified organization of the directory or declared unverified (else 403 party-not-verified).",
    )
    office_id: uuid.UUID | None = Field(
        default=None,
        description="Registration office to send it to; default: the office serving the seller's region "
        "(the most specific region match).",
    )
    proposal_id: uuid.UUID | None = Field(
        default=None,
        description="The agreed proposal (撮合) this contract concludes (GET /market/proposals/{id}/contract-draft "
        "prefills the body). The submitter is the deal's seller side or its broker; seller and buyer must be the "
        "deal's two organizations (credit codes as in the directory, else 422 naming seller.credit_code / "
        "buyer.credit_code); achievement_id and demand_id default to the deal's; the deal's broker organization is "
        "recorded (and credited in the statistics) whoever submits.",
    )


class ContractUpdate(_Request):
    """Corrections while submitted or after a rejection (If-Match required); only the fields given change."""

    seller: PartyCreate | None = None
    buyer: PartyCreate | None = None
    kind: ShortText | None = Field(default=None, max_length=60)
    subkind: ShortText | None = Field(default=None, max_length=60)
    technical_field: ShortText | None = Field(default=None, max_length=60)
    title: Text | None = None
    contract_no: ShortText | None = Field(default=None, min_length=1, max_length=100)
    signed_on: IsoDate | None = None
    valid_from: IsoDate | None = None
    valid_to: IsoDate | None = None
    contract_amount_fen: Money | None = None
    technology_amount_fen: Money | None = None
    achievement_id: uuid.UUID | None = None
    demand_id: uuid.UUID | None = None
    attachments: list[AttachmentCreate] | None = Field(default=None, max_length=20)


class RegisterRequest(_Request):
    """The registrar's confirmation."""

    technology_amount_fen: Money | None = Field(
        default=None,
        description="Confirmed 技术交易额; default the claimed amount; never above the contract amount.",
    )


class RejectRequest(_Request):
    """未予登记, with the reason given to the submitter."""

    reason: Reason


class AmendRequest(_Request):
    """A supplementary agreement (补充协议): the new amounts and the day they take effect."""

    effective_on: IsoDate = Field(description="Day the amendment takes effect: its statistics are dated then.")
    contract_amount_fen: Money = Field(description="New 合同成交额.")
    technology_amount_fen: Money = Field(description="New 技术交易额; at most the new contract amount.")
    reason: Reason | None = None


class RevokeRequest(_Request):
    """Revocation of a registration."""

    effective_on: IsoDate | None = Field(default=None, description="Day it takes effect; default today (Beijing).")
    reason: Reason


Verification = Literal["self", "directory", "unverified", "registrar"]


class PartyPublic(BaseModel):
    """A party as registered."""

    name: str
    credit_code: str | None
    region_code: str
    entity_type: str
    ownership: str | None
    org_id: uuid.UUID | None
    verification: Verification = Field(
        description="How the party was verified at submission: self (the submitting organization itself), "
        "directory (its credit code belongs to a verified organization of the directory), unverified (declared "
        "unverified, or not checked: the registrar must check it), registrar (confirmed by the registrar)."
    )


class FollowUp(BaseModel):
    """A step the owner of a linked listing may now take (nothing moves by itself)."""

    listing: Literal["achievement", "demand"]
    id: uuid.UUID
    action: Literal["transfer", "fulfill"] = Field(description="achievement → transferred, demand → fulfilled.")
    method: Literal["POST"] = "POST"
    href: str = Field(description="The listing transition to call (with If-Match from a GET of the listing).")


class ContractPublic(BaseModel):
    """A contract as its parties, its office and entitled statisticians see it."""

    id: uuid.UUID
    status: str = Field(description="submitted, rejected, registered, amended or revoked.")
    rules_version: str = Field(description="Rules version the kind and subkind were validated against.")
    kind: str
    subkind: str
    technical_field: str
    title: str
    contract_no: str
    signed_on: dt.date
    valid_from: dt.date | None
    valid_to: dt.date | None
    seller: PartyPublic
    buyer: PartyPublic
    flow: str = Field(description="local, to_chongqing, to_sichuan, other_province or abroad.")
    contract_amount_fen: int = Field(description="合同成交额 as submitted or registered.")
    claimed_technology_amount_fen: int
    technology_amount_fen: int | None = Field(description="技术交易额 confirmed at registration.")
    current_contract_amount_fen: int | None = Field(description="After amendments (sum of the deltas); 0 if revoked.")
    current_technology_amount_fen: int | None
    broker_org_id: uuid.UUID | None
    achievement_id: uuid.UUID | None
    demand_id: uuid.UUID | None
    proposal_id: uuid.UUID | None = Field(description="The agreed proposal (撮合) the contract concludes.")
    attachments: list[dict[str, object]]
    office_id: uuid.UUID
    registration_no: str | None
    registered_on: dt.date | None
    rejection_reason: str | None
    submitted_at: dt.datetime
    overdue: bool = Field(description="Still submitted more than 30 days after its (re)submission.")
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
    follow_ups: list[FollowUp] = Field(
        default_factory=list,
        description="Once registered: for each linked listing not yet in its final state, the transition its owner "
        "may now call (achievement → transfer, demand → fulfill). The owner's choice: nothing moves by itself.",
    )


class ContractEventPublic(BaseModel):
    """One step of a contract's history."""

    id: uuid.UUID
    action: str
    from_status: str | None
    to_status: str
    actor_subject: str
    actor_org_id: uuid.UUID | None
    request_id: str | None
    detail: dict[str, object]
    created_at: dt.datetime


class ImportRowReport(BaseModel):
    """What happened to one data row (row 2 is the first row after the header)."""

    row: int
    status: Literal["imported", "duplicate", "failed"]
    contract_id: uuid.UUID | None = None
    registration_no: str | None = None
    errors: list[dict[str, str]] = Field(default_factory=list, description="[{field, message}] for failed rows.")


class ContractImportReport(BaseModel):
    """Result of a bulk import."""

    import_id: uuid.UUID
    total_rows: int
    imported: int
    duplicates: int
    failed: int
    rows: list[ImportRowReport]
