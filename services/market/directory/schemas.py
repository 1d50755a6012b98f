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
    "CertifiedBrokerCounts",
    "DemonstrationInstitutionCounts",
    "Designation",
    "DesignationFields",
    "DirectoryBatch",
    "DirectoryDocument",
    "DirectoryReport",
    "InstitutionStats",
    "OrganizationCard",
    "OrganizationCardPublic",
    "OrganizationFields",
    "SubCenterCount",
    "SubCenterRef",
    "YearCount",
]

# Auth's statuses of an organization. Only ``verified`` counts as verified; ``suspended`` (and ``rejected``) keep its
# listings out of search until it is verified again.
ORGANIZATION_STATUSES = ("pending", "verified", "rejected", "suspended")
OrganizationStatus = Literal["pending", "verified", "rejected", "suspended"]


@dataclass(frozen=True, slots=True)
class Designation:
    """A transfer institution's designation as demonstration institution (示范机构)."""

    level: str
    year: int
    revoked: bool = False


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
    designation: Designation | None = None
    # The last valid day of each broker certificate of its members that has one, sorted.
    broker_certificates_valid_until: tuple[dt.date, ...] = ()

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


class DesignationFields(BaseModel):
    """The designation of a demonstration institution as auth publishes it."""

    model_config = ConfigDict(extra="ignore")

    level: Literal["national", "provincial"] = Field(description="national (国家级) or provincial (省级).")
    year: StrictInt = Field(ge=2000, le=2200)
    revoked: bool = Field(default=False, description="Whether the designation was revoked.")


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
    designation: DesignationFields | None = Field(
        default=None, description="示范机构 designation of a transfer institution; null or absent: none."
    )
    broker_certificates_valid_until: list[dt.date] = Field(
        default_factory=list,
        max_length=100_000,
        description="The last valid day of each broker membership's certificate that has one; absent: none.",
    )

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
            designation=(
                Designation(level=self.designation.level, year=self.designation.year, revoked=self.designation.revoked)
                if self.designation is not None
                else None
            ),
            broker_certificates_valid_until=tuple(sorted(self.broker_certificates_valid_until)),
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


class OrganizationCardPublic(BaseModel):
    """The public card of a verified organization: who it is, never its members or contacts."""

    id: uuid.UUID
    name: str
    kind: str = Field(description="university, enterprise, transfer_institution, registration_office, …")
    region_code: str | None = Field(description="GB/T 2260 code of its region.")
    verified: bool = Field(description="Always true: only verified organizations have a public card.")


class SubCenterRef(BaseModel):
    """A sub-center (分中心) of the 1+4+N tree."""

    id: uuid.UUID
    name: str


class SubCenterCount(BaseModel):
    """A count within one sub-center's subtree."""

    sub_center: SubCenterRef | None = Field(
        description="The sub-center whose subtree holds them; null: directly under the center (or the center)."
    )
    count: int = Field(description="How many.")


class YearCount(BaseModel):
    """Demonstration institutions designated in one year."""

    year: int
    count: int = Field(description="How many were designated that year (and count on the day asked).")


class DemonstrationInstitutionCounts(BaseModel):
    """Demonstration institutions (示范机构) on the day asked."""

    total: int = Field(description="Verified transfer institutions designated that year or earlier, not revoked.")
    by_level: dict[Literal["national", "provincial"], int] = Field(description="national and provincial, always both.")
    by_sub_center: list[SubCenterCount] = Field(description="Largest first, then by name; null sub-center last.")
    by_year: list[YearCount] = Field(description="By year of designation, oldest first.")


class CertifiedBrokerCounts(BaseModel):
    """Broker certificates (技术经纪人证书) valid on the day asked."""

    total: int = Field(description="Broker memberships of verified organizations whose certificate is valid that day.")
    by_sub_center: list[SubCenterCount] = Field(description="Largest first, then by name; null sub-center last.")


class InstitutionStats(BaseModel):
    """GET /market/stats/institutions: demonstration institutions and certified brokers for the dashboard."""

    on: dt.date = Field(description="The day counted (Beijing date).")
    demonstration_institutions: DemonstrationInstitutionCounts = Field(description="示范机构 on the day asked.")
    certified_brokers: CertifiedBrokerCounts = Field(description="技术经纪人 certificates valid on the day asked.")
