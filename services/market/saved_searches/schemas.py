"""Request and response schemas of /market/saved-searches.

The filters carry the names of the search API (GET /search/achievements | /search/demands): the amount bounds are
``price_min_fen``/``price_max_fen`` on achievement searches and ``budget_min_fen``/``budget_max_fen`` on demand
searches, the mode ``transfer_mode`` (achievements) or ``cooperation_mode`` (demands); ``ip_type`` is for
achievements only. A filter of the other kind is a 422 naming it. Limits are the search API's.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictInt, field_validator

from shared.text import ShortText

__all__ = [
    "FILTER_FIELDS",
    "SavedSearchCreate",
    "SavedSearchPublic",
    "SavedSearchUpdate",
]

MAX_QUERY_CHARS = 200  # the search API's limit on q
MAX_FEN = 10**16  # as listings: far above any listing, inside BIGINT
CODE_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"  # the search API's pattern of ip_type and the modes

Kind = Literal["achievement", "demand"]
Matching = Literal["last", "all"]
Channel = Literal["inbox", "webhook"]
Frequency = Literal["instant", "daily"]


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


Name = Annotated[ShortText, Field(min_length=1, max_length=100, description="A name for the search, 1–100 characters.")]
Query = Annotated[
    ShortText,
    Field(
        max_length=MAX_QUERY_CHARS,
        description="Words to find, as q of the search API (at most 200 characters; empty: filters only).",
    ),
]
TechnicalField = Annotated[
    str, BeforeValidator(_lower), Field(description="One of the 11 technical field codes, e.g. new_energy.")
]
Region = Annotated[
    str,
    Field(description="GB/T 2260 code; a province (510000) or prefecture (510100) code matches every region below it."),
]
Trl = Annotated[StrictInt, Field(ge=1, le=9, description="Technology readiness level bound, 1–9.")]
Fen = Annotated[StrictInt, Field(ge=0, le=MAX_FEN, description="Amount bound in fen; ranges overlapping it match.")]
Code = Annotated[str, Field(pattern=CODE_PATTERN, description="A code as market defines it.")]

# API name → (the kind it belongs to or None for both, the column it is stored in).
FILTER_FIELDS: dict[str, tuple[str | None, str]] = {
    "technical_field": (None, "technical_field"),
    "region": (None, "region"),
    "trl_min": (None, "trl_min"),
    "trl_max": (None, "trl_max"),
    "price_min_fen": ("achievement", "amount_min_fen"),
    "price_max_fen": ("achievement", "amount_max_fen"),
    "budget_min_fen": ("demand", "amount_min_fen"),
    "budget_max_fen": ("demand", "amount_max_fen"),
    "ip_type": ("achievement", "ip_type"),
    "transfer_mode": ("achievement", "mode"),
    "cooperation_mode": ("demand", "mode"),
}

_MATCHING_DESCRIPTION = (
    "Which listings match when not all words do, as in search: `last` (default) — words are dropped from the end "
    "of the query one at a time; `all` — only listings with every word. `frequency` is refused (422): it depends on "
    "the word frequencies of the whole index, so whether a listing matches would change as others are published."
)


def _no_frequency(value: Any) -> Any:
    if value == "frequency":
        raise ValueError(
            "frequency is not available for saved searches: it depends on the whole index, so a listing's match "
            "would change as others are published; use last or all"
        )
    return value


class _Filters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    technical_field: TechnicalField | None = None
    region: Region | None = Field(
        default=None,
        description="GB/T 2260 code; a province (510000) or prefecture (510100) code matches every region below it.",
    )
    trl_min: Trl | None = Field(default=None, description="Lowest technology readiness level, 1–9; at most trl_max.")
    trl_max: Trl | None = Field(default=None, description="Highest technology readiness level, 1–9.")
    price_min_fen: Fen | None = Field(default=None, description="Lowest price in fen (achievement searches).")
    price_max_fen: Fen | None = Field(default=None, description="Highest price in fen (achievement searches).")
    budget_min_fen: Fen | None = Field(default=None, description="Lowest budget in fen (demand searches).")
    budget_max_fen: Fen | None = Field(default=None, description="Highest budget in fen (demand searches).")
    ip_type: Code | None = Field(default=None, description="Kind of intellectual property (achievement searches).")
    transfer_mode: Code | None = Field(default=None, description="Transfer mode (achievement searches).")
    cooperation_mode: Code | None = Field(default=None, description="Cooperation mode (demand searches).")

    @field_validator("matching", mode="before", check_fields=False)
    @classmethod
    def _matching(cls, value: Any) -> Any:
        return _no_frequency(value)


class SavedSearchCreate(_Filters):
    """A new saved search of the caller (acting for their organization). At least q or one filter."""

    name: Name
    kind: Kind = Field(default="achievement", description="What it searches: achievement (default) or demand.")
    q: Query = ""
    matching: Matching = Field(default="last", description=_MATCHING_DESCRIPTION)
    channel: Channel = Field(
        default="inbox",
        description="Where alerts go: inbox (a notification to you) or webhook (your organization's webhooks).",
    )
    frequency: Frequency = Field(
        default="instant",
        description="instant (one alert per new match) or daily (one digest at 09:00 Asia/Shanghai).",
    )
    active: StrictBool = Field(default=True, description="An inactive search keeps its settings and alerts nothing.")


class SavedSearchUpdate(_Filters):
    """A partial update: only the fields sent change; null clears a filter. The kind cannot change."""

    name: Name | None = None
    q: Query | None = Field(default=None, description="Words to find, at most 200 characters (empty: filters only).")
    matching: Matching | None = Field(default=None, description=_MATCHING_DESCRIPTION)
    channel: Channel | None = Field(default=None, description="inbox or webhook.")
    frequency: Frequency | None = Field(default=None, description="instant or daily (digest at 09:00 Asia/Shanghai).")
    active: StrictBool | None = None


class SavedSearchPublic(BaseModel):
    """A saved search of the caller."""

    id: uuid.UUID = Field(description="Saved search id (UUIDv7).")
    name: str = Field(description="Its name.")
    kind: Kind = Field(description="achievement or demand: what it searches.")
    q: str = Field(description="Words to find (empty: filters only).")
    technical_field: str | None = Field(description="Technical field code filter.")
    region: str | None = Field(description="Region code filter (matches every region below it).")
    trl_min: int | None = Field(description="Lowest technology readiness level.")
    trl_max: int | None = Field(description="Highest technology readiness level.")
    price_min_fen: int | None = Field(description="Lowest price in fen (achievement searches; else null).")
    price_max_fen: int | None = Field(description="Highest price in fen (achievement searches; else null).")
    budget_min_fen: int | None = Field(description="Lowest budget in fen (demand searches; else null).")
    budget_max_fen: int | None = Field(description="Highest budget in fen (demand searches; else null).")
    ip_type: str | None = Field(description="Kind of intellectual property (achievement searches; else null).")
    transfer_mode: str | None = Field(description="Transfer mode (achievement searches; else null).")
    cooperation_mode: str | None = Field(description="Cooperation mode (demand searches; else null).")
    matching: Matching = Field(description="last or all, as in search.")
    channel: Channel = Field(description="inbox or webhook.")
    frequency: Frequency = Field(description="instant or daily (digest at 09:00 Asia/Shanghai).")
    active: bool = Field(description="Whether it alerts.")
    version: int = Field(description="Increases with every change; the ETag is built from it.")
    created_at: dt.datetime = Field(description="When it was saved (UTC).")
    updated_at: dt.datetime = Field(description="When it last changed (UTC).")
    last_alert_at: dt.datetime | None = Field(description="When it last alerted (UTC); null before the first.")
    alerts_sent: int = Field(description="How many matches it has alerted (a digest counts each of its items).")
