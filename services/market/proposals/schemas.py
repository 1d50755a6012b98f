"""Request and response schemas of proposals (撮合), direct interest and contract drafts.

Requests forbid unknown fields (status, parties, timestamps are the service's: 422 naming the field). Money is
the listings' ``Money`` (integer fen, fixed | range | negotiable), a contact the listings' ``Contact``; the
cooperation mode and the proposal statuses are code lists of the reference domain (``reference.codes``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.market.listings.schemas import Contact, Money
from services.market.reference.codes import CooperationMode, ProposalStatus
from shared.text import LongText

__all__ = [
    "ContractDraft",
    "ContractDraftBody",
    "DeclineRequest",
    "InterestCreate",
    "PartyDraft",
    "ProposalContacts",
    "ProposalCreate",
    "ProposalPublic",
    "ProposalRole",
    "ProposalStatus",
]


ProposalRole = Literal["seller", "buyer", "broker"]


Note = Annotated[LongText, Field(min_length=1, max_length=2000)]
Reason = Annotated[LongText, Field(min_length=1, max_length=2000)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProposalCreate(_Strict):
    """A broker's match between one published demand and one published achievement."""

    demand_id: uuid.UUID = Field(description="A published (or matched) demand.")
    achievement_id: uuid.UUID = Field(description="A published (or negotiating) achievement of another organization.")
    cooperation_mode: CooperationMode = Field(description="How the two would work together (合作方式).")
    note: Note | None = Field(default=None, description="Why they fit, for both sides (≤2000 characters).")
    price: Money | None = Field(default=None, description="A suggested price in fen; none when omitted.")


class InterestCreate(_Strict):
    """An enterprise's direct interest in an achievement, without a broker."""

    note: Note = Field(description="What the enterprise wants, for the achievement's owner (≤2000 characters).")
    demand_id: uuid.UUID | None = Field(
        default=None, description="One of the enterprise's own published (or matched) demands this answers."
    )
    contact: Contact | None = Field(
        default=None,
        description="Who the owner may contact once it accepts. Required without demand_id; with one, the "
        "demand's contact is used when omitted.",
    )
    cooperation_mode: CooperationMode | None = None
    price: Money | None = Field(default=None, description="An offered price in fen.")


class DeclineRequest(_Strict):
    """Why a side declines."""

    reason: Reason = Field(description="Shown to the other parties (≤2000 characters).")


class ProposalContacts(BaseModel):
    """The listing contacts a party may see: both null until the proposal is agreed."""

    seller: Contact | None = Field(
        description="The achievement's contact: for the buyer side, the broker and platform admins once agreed."
    )
    buyer: Contact | None = Field(
        description="The demand's contact (interest: the one given): for the seller side, the broker and platform "
        "admins once agreed."
    )


class ProposalPublic(BaseModel):
    """A proposal as one of its parties (or a platform admin) sees it."""

    id: uuid.UUID
    origin: Literal["broker", "interest"] = Field(description="broker: a broker's match; interest: an enterprise's.")
    status: ProposalStatus
    version: int = Field(description="Increases with every transition; the ETag is built from it.")
    achievement_id: uuid.UUID
    demand_id: uuid.UUID | None
    seller_org_id: uuid.UUID = Field(description="The achievement's owner.")
    buyer_org_id: uuid.UUID = Field(description="The demand's owner, or the interested enterprise.")
    broker_org_id: uuid.UUID | None = Field(description="The broker's organization (null for direct interest).")
    broker_subject: str | None = Field(description="The broker who proposed (token `sub`).")
    note: str | None
    cooperation_mode: CooperationMode | None
    price: Money | None
    decline_reason: str | None
    declined_side: Literal["seller", "buyer"] | None
    expires_at: dt.datetime = Field(description="An open proposal expires at this instant.")
    seller_accepted_at: dt.datetime | None
    buyer_accepted_at: dt.datetime | None
    agreed_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    contacts: ProposalContacts


class PartyDraft(BaseModel):
    """A contract party prefilled from the organization directory (PartyCreate of POST /market/contracts)."""

    name: str | None
    credit_code: str | None
    region_code: str | None
    entity_type: str | None
    ownership: str | None = Field(description="Enterprises: state_owned, private, … — the submitter adds it.")
    org_id: uuid.UUID


class ContractDraftBody(BaseModel):
    """A body for POST /market/contracts; the fields in ``missing`` are null and the submitter fills them in."""

    seller: PartyDraft
    buyer: PartyDraft
    kind: str | None
    subkind: str | None
    technical_field: str
    title: str
    contract_no: str | None
    signed_on: dt.date | None
    valid_from: dt.date | None
    valid_to: dt.date | None
    contract_amount_fen: int | None
    technology_amount_fen: int | None
    achievement_id: uuid.UUID
    demand_id: uuid.UUID | None
    attachments: list[dict[str, Any]]
    submitted_as: Literal["seller", "broker"]
    office_id: uuid.UUID | None
    proposal_id: uuid.UUID


class ContractDraft(BaseModel):
    """The contract of an agreed deal, prefilled: post ``contract`` once ``missing`` is filled in."""

    contract: ContractDraftBody
    missing: list[str] = Field(description="Fields of `contract` the submitter must add, e.g. contract_no, signed_on.")
    notes: list[str] = Field(description="How the draft was inferred (kind, subkind) and what to check.")
