"""Search responses: hits with the fields a result card needs, total, facet counts and processing time."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["AchievementHit", "AmountRangePublic", "DemandHit", "SearchResponse"]


class AmountRangePublic(BaseModel):
    """A price or budget in fen (integers); ``negotiable`` has no amounts."""

    kind: str
    min_fen: int | None = None
    max_fen: int | None = None


class _Hit(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: uuid.UUID
    title: str
    snippet: str = Field(description="HTML-escaped excerpt of the text, the matched words wrapped in <em>.")
    score: float | None = Field(
        description="Relevance (higher is better; scale depends on the engine); null without q."
    )
    keywords: list[str] = Field(default_factory=list)
    technical_field: str | None = Field(default=None, description="One of the 11 technical field codes.")
    region_code: str | None = Field(default=None, description="GB/T 2260 code of the owner's region.")
    owner_org_id: uuid.UUID | None = None
    owner_org_name: str | None = None
    status: str
    published_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None


class AchievementHit(_Hit):
    """An achievement (科技成果) in a result list."""

    summary: str | None = None
    ipc_codes: list[str] = Field(default_factory=list)
    ip_type: str | None = None
    trl: int | None = Field(default=None, description="Technology readiness level 1-9.")
    transfer_modes: list[str] = Field(default_factory=list)
    price: AmountRangePublic | None = None


class DemandHit(_Hit):
    """A demand (技术需求) in a result list."""

    desired_trl: int | None = None
    cooperation_modes: list[str] = Field(default_factory=list)
    budget: AmountRangePublic | None = None
    deadline: dt.date | None = None


HitT = TypeVar("HitT", bound=_Hit)


class SearchResponse(BaseModel, Generic[HitT]):
    """One page of results."""

    hits: list[HitT]
    total: int = Field(description="Number of matching documents.")
    total_is_exact: bool = Field(
        description="true when `total` is an exact count (embedded engine), false when estimated (Meilisearch)."
    )
    limit: int
    offset: int
    facets: dict[str, dict[str, int]] = Field(
        description="For each requested facet, the number of matching documents per value (largest first)."
    )
    processing_time_ms: float = Field(description="Time the search took inside the service, in milliseconds.")
    engine: str = Field(description="Which engine answered: embedded or meilisearch.")
