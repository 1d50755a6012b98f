"""The percolation request (one ingestion document, up to 1000 queries) and its answer (the queries it matches)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator
from pydantic_core import PydanticCustomError

from services.search.documents.schemas import DocumentOperation
from shared.text import ShortText

__all__ = ["MAX_QUERIES", "PercolateMatch", "PercolatePublic", "PercolateQuery", "PercolateRequest"]

# Queries per request: a market job percolates a listing against its saved searches in chunks of this many.
MAX_QUERIES = 1000
# The search API's limits (services/search/query/router.py), repeated here as pydantic field constraints.
MAX_QUERY_CHARS = 200
_CODE = r"^[a-z][a-z0-9_]{0,31}$"


def _code(what: str) -> Any:
    return Field(default=None, pattern=_CODE, description=what)


class PercolateQuery(BaseModel):
    """One stored search: an opaque key, and q, filters and strategy named and checked as in GET /achievements."""

    model_config = ConfigDict(extra="forbid")

    key: ShortText = Field(
        min_length=1, max_length=64, description="The caller's name for this query (e.g. a saved search id)."
    )
    q: ShortText = Field(
        default="",
        max_length=MAX_QUERY_CHARS,
        description=(
            "Words to find, as the search API's q (segmented, stop words ignored, the first 10 words count, the last "
            "word also matches as the start of a longer word). Empty: every listing passing the filters. "
            "A q with no searchable word matches nothing."
        ),
    )
    technical_field: ShortText | None = Field(default=None, description="One of the 11 technical field codes.")
    region: ShortText | None = Field(
        default=None, description="GB/T 2260 code; a province or prefecture code covers every region below it."
    )
    trl_min: StrictInt | None = Field(default=None, ge=1, le=9, description="Lowest TRL; at most trl_max.")
    trl_max: StrictInt | None = Field(default=None, ge=1, le=9, description="Highest TRL.")
    amount_min: StrictInt | None = Field(
        default=None, ge=0, description="Lower bound of the price (achievements) or budget (demands) in fen."
    )
    amount_max: StrictInt | None = Field(
        default=None, ge=0, description="Upper bound in fen; ranges overlapping match."
    )
    ip_type: str | None = _code("Achievements only: the IP type code.")
    transfer_mode: str | None = _code("Achievements only: one transfer mode code.")
    cooperation_mode: str | None = _code("Demands only: one cooperation mode code.")
    matching: Literal["last", "all"] = Field(
        default="last",
        description=(
            "Matching strategy as in search: `last` (the first word is required) or `all` (every word). `frequency` "
            "is refused: it depends on the whole index's word counts, so a listing's match would change as others "
            "are published."
        ),
    )

    @field_validator("matching", mode="before")
    @classmethod
    def _no_frequency(cls, value: Any) -> Any:
        if value == "frequency":
            raise PydanticCustomError(
                "frequency_refused",
                "frequency cannot be percolated: which word it requires depends on the whole index's word counts",
            )
        return value


class PercolateRequest(BaseModel):
    """A listing, as the market relay sends it to POST /documents, and the queries to try it against."""

    model_config = ConfigDict(extra="forbid")

    document: DocumentOperation = Field(
        description=(
            "The listing's ingestion document ({op, kind, id, version, fields}), as in POST /documents; its kind is "
            "the path's. A delete, or a status that is not searchable, matches nothing."
        )
    )
    queries: list[PercolateQuery] = Field(max_length=MAX_QUERIES, description="Up to 1000 queries.")


class PercolateMatch(BaseModel):
    """A query the listing matches, with what a search hit would show."""

    key: str = Field(description="The query's key.")
    score: float | None = Field(
        description=(
            "Share of the query's word groups the listing holds in the strategy's order (1.0: every word; with "
            "`last`, words dropped from the end until one is held count against it). Null without q."
        )
    )
    snippet: str = Field(description="HTML-escaped excerpt of the listing's text, the query's words wrapped in <em>.")
    matched_terms: list[str] = Field(
        description="The query words the listing holds (whole, as sub-words or by prefix)."
    )


class PercolatePublic(BaseModel):
    """The queries the listing matches, in request order."""

    matches: list[PercolateMatch] = Field(description="The matching queries, in the order they were given.")
