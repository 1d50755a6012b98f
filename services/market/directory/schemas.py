"""The directory's data: the card of an organization and the documents that carry changes to it."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

__all__ = [
    "ORGANIZATION_STATUSES",
    "Applied",
    "DirectoryBatch",
    "DirectoryDocument",
    "DirectoryReport",
    "OrganizationCard",
    "OrganizationFields",
    "PublicOrganization",
]

# Auth's statuses of an organization. Only ``verified`` counts as verified; ``suspended`` (and ``rejected``) keep its
# listings out of search until it is verified again.
ORGANIZATION_STATUSES = ("pending", "verified", "rejected", "suspended")
OrganizationStatus = Literal["pending", "verified", "rejected", "suspended"]


@dataclass(frozen=True, slots=True)
class OrganizationCard:
    """What market knows of an organization."""

    id: uuid.UUID
    name: str
    kind: str
    credit_code: str | None
    region_code: str | None
    parent_id: uuid.UUID | None
    path: str
    status: str
    version: int
    source_updated_at: dt.datetime | None = None

    @property
    def verified(self) -> bool:
        """Whether auth has verified it (and not suspended it since)."""
        return self.status == "verified"

    @property
    def suspended(self) -> bool:
        """Whether auth has suspended it."""
        return self.status == "suspended"

    @property
    def listings_hidden(self) -> bool:
        """Whether its listings stay out of search: suspended (until reinstated), or rejected."""
        return self.status in ("suspended", "rejected")


@dataclass(frozen=True, slots=True)
class Applied:
    """A change that took effect: the card before (None when new) and after."""

    before: OrganizationCard | None
    after: OrganizationCard


class OrganizationFields(BaseModel):
    """An organization's public facts as auth publishes them."""

    model_config = ConfigDict(extra="ignore")

    id: uuid.UUID
    name: str = Field(min_length=1, max_length=200)
    kind: str = Field(min_length=1, max_length=32, pattern=r"^[a-z_]+$")
    credit_code: str | None = Field(default=None, max_length=40)
    region_code: str | None = Field(default=None, pattern=r"^\d{6}$")
    parent_id: uuid.UUID | None = None
    path: str = Field(min_length=3, max_length=400, pattern=r"^/([0-9a-f-]{36}/)+$")
    status: OrganizationStatus
    version: StrictInt = Field(ge=1)
    updated_at: dt.datetime | None = None

    def card(self) -> OrganizationCard:
        """The card these fields describe."""
        return OrganizationCard(
            id=self.id,
            name=self.name,
            kind=self.kind,
            credit_code=self.credit_code,
            region_code=self.region_code,
            parent_id=self.parent_id,
            path=self.path,
            status=self.status,
            version=self.version,
            source_updated_at=self.updated_at,
        )


class DirectoryDocument(BaseModel):
    """One change of one organization, as auth's relay delivers it."""

    model_config = ConfigDict(extra="forbid")

    op: Literal["upsert"]
    kind: Literal["organization"]
    id: uuid.UUID
    version: StrictInt = Field(ge=1)
    event_type: str = Field(min_length=1, max_length=64)
    fields: OrganizationFields


class DirectoryBatch(BaseModel):
    """What the relay POSTs."""

    model_config = ConfigDict(extra="forbid")

    documents: list[DirectoryDocument] = Field(max_length=1000)


class DirectoryReport(BaseModel):
    """What a batch did."""

    applied: int = Field(description="Documents newer than what market had: stored, with their consequences.")
    stale: int = Field(
        description="Documents not newer than what market had (a replay, or one overtaken by a later version): "
        "ignored. Still a success, so the relay marks them delivered."
    )


class PublicOrganization(BaseModel):
    """The public card of a verified organization: who it is, never its members or contacts."""

    id: uuid.UUID
    name: str
    kind: str = Field(description="university, enterprise, transfer_institution, registration_office, …")
    region_code: str | None = Field(description="GB/T 2260 code of its region.")
    verified: bool = Field(description="Always true: only verified organizations have a public card.")
