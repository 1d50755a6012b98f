"""Search responses: hits with the fields a result card needs, total, facet counts and processing time."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from shared.text import LongText, ShortText

__all__ = ["AchievementHit", "AmountRangePublic", "DemandHit", "SearchPage", "SimilarRequest"]


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
        description=(
            "Relevance in 0..1 (higher is better): documents holding more of the query words score higher, then "
            "by text relevance; blended with semantic similarity when `semantic` is true. Null without q."
        )
    )
    matched_terms: list[str] = Field(
        default_factory=list, description="The query words this document holds (whole, as sub-words or by prefix)."
    )
    semantic_score: float | None = Field(
        default=None,
        description=(
            "Semantic similarity of the query and this document in 0..1, when semantic similarity took part and "
            "the document's embedding is ready; else null."
        ),
    )
    keywords: list[str] = Field(default_factory=list)
    technical_field: str | None = Field(default=None, description="One of the 11 technical field codes.")
    region_code: str | None = Field(default=None, description="GB/T 2260 code of the owner's region.")
    owner_org_id: uuid.UUID | None = None
    owner_org_name: str | None = Field(default=None, description="The owner organization's name.")
    owner_org_kind: str | None = Field(
        default=None, description="The owner organization's kind: university, research_institute, enterprise, …"
    )
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


class SearchPage(BaseModel, Generic[HitT]):
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
    query_words: list[str] = Field(
        default_factory=list,
        description="The words the query was matched on (stop words left out; at most 10), in query order.",
    )
    matching: str = Field(default="last", description="The matching strategy used: last, all or frequency.")
    semantic: bool = Field(
        default=False, description="Whether semantic similarity took part (an embedder is configured and ratio > 0)."
    )


class SimilarRequest(BaseModel):
    """A long text (a need or an offer written as sentences) to find the listings closest to it."""

    model_config = ConfigDict(extra="forbid")

    text: LongText = Field(
        min_length=1,
        max_length=4000,
        description=(
            "The text to match, e.g. a demand's title, keywords and description. Its 10 most salient words (TF-IDF, "
            "stop words left out) are searched; its first 500 characters are embedded for semantic similarity."
        ),
        examples=["寻求图像识别方面的技术合作，用于工业产品表面缺陷检测"],
    )
    matching: Literal["last", "all", "frequency"] = Field(
        default="last",
        description=(
            "Matching strategy of each keyword search (one per pivot word, the other words following in order of "
            "salience); `last` by default."
        ),
    )
    # Numbers are strict (here and below): `"offset": false` or `"limit": "5"` is a client bug to report (422), not
    # a value to coerce.
    semantic_ratio: float | None = Field(
        default=None,
        strict=True,
        ge=0,
        le=1,
        description="Share of semantic similarity, 0..1; null: 0.5 where an embedder is configured, else 0.",
    )
    exclude_owner_org: uuid.UUID | None = Field(default=None, description="Leave out this organization's listings.")
    exclude_ids: list[uuid.UUID] = Field(default_factory=list, max_length=100, description="Leave out these ids.")
    technical_field: ShortText | None = Field(default=None, description="One of the 11 technical field codes.")
    region: ShortText | None = Field(
        default=None, description="GB/T 2260 code; a province or prefecture covers its regions."
    )
    trl_min: StrictInt | None = Field(default=None, ge=1, le=9, description="Lowest technology readiness level.")
    trl_max: StrictInt | None = Field(default=None, ge=1, le=9, description="Highest technology readiness level.")
    limit: StrictInt = Field(default=50, ge=1, le=100, description="Hits per page, 1 to 100.")
    offset: StrictInt = Field(default=0, ge=0, le=1000, description="Hits to skip, up to 1000.")
