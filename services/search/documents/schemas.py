"""The ingestion contract: a batch of document operations, and the explicit whitelist of indexable fields.

The field models ignore (drop) every key they do not declare: contacts, inventors, internal notes and anything
else a producer sends never reach the search database nor the index.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

__all__ = [
    "AchievementFields",
    "AmountRange",
    "DemandFields",
    "DocumentOperation",
    "IngestPublic",
    "IngestRequest",
]


def _code() -> Any:
    """A short machine code (technical field, IP type): letters, digits and _-./ only."""
    return Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9_\-./]+$")


class AmountRange(BaseModel):
    """A price (achievement) or budget (demand) in fen; ``negotiable`` has no amounts."""

    model_config = ConfigDict(extra="ignore")

    kind: str = Field(max_length=32, description="fixed, range, negotiable, ... (as market defines it).")
    min_fen: StrictInt | None = Field(default=None, ge=0)
    max_fen: StrictInt | None = Field(default=None, ge=0)


class _Common(BaseModel):
    model_config = ConfigDict(extra="ignore")

    title: str = Field(min_length=1, max_length=500)
    description: str | None = Field(default=None, max_length=50_000)
    keywords: list[str] = Field(default_factory=list, max_length=50)
    technical_field: str | None = _code()
    region_code: str | None = Field(default=None, pattern=r"^\d{6}$")
    owner_org_id: uuid.UUID | None = None
    owner_org_name: str | None = Field(default=None, max_length=200)
    owner_org_kind: str | None = _code()
    status: str = Field(max_length=32)
    published_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None


class AchievementFields(_Common):
    """The indexable fields of an achievement (科技成果); nothing else is kept."""

    summary: str | None = Field(default=None, max_length=5_000)
    ipc_codes: list[str] = Field(default_factory=list, max_length=50)
    ip_type: str | None = _code()
    trl: StrictInt | None = Field(default=None, ge=1, le=9)
    transfer_modes: list[str] = Field(default_factory=list, max_length=20)
    price: AmountRange | None = None


class DemandFields(_Common):
    """The indexable fields of a demand (技术需求); nothing else is kept."""

    desired_trl: StrictInt | None = Field(default=None, ge=1, le=9)
    cooperation_modes: list[str] = Field(default_factory=list, max_length=20)
    budget: AmountRange | None = None
    deadline: dt.date | None = None


class DocumentOperation(BaseModel):
    """One upsert or delete of a document at a version of the market entity."""

    model_config = ConfigDict(extra="forbid")

    op: Literal["upsert", "delete"]
    kind: Literal["achievement", "demand"]
    id: uuid.UUID
    version: StrictInt = Field(ge=0, description="The entity's version in market; an older one never overwrites.")
    fields: dict[str, Any] | None = Field(
        default=None, description="Upserts: the entity's fields; only the whitelist is kept. Absent on delete."
    )


class IngestRequest(BaseModel):
    """What the market outbox relay posts."""

    model_config = ConfigDict(extra="forbid")

    documents: list[DocumentOperation] = Field(min_length=1, max_length=1000)


class IngestPublic(BaseModel):
    """How many operations of the batch had each outcome."""

    received: int = Field(description="Operations in the batch.")
    indexed: int = Field(description="Upserts now searchable.")
    removed: int = Field(description="Deletes, and upserts whose status is not searchable (taken out of the index).")
    stale: int = Field(description="Ignored: an older version than the one already recorded.")
    duplicate: int = Field(description="Ignored: the version already recorded (a redelivery).")
