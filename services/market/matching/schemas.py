"""Responses of the suggestion endpoints: the counterpart's public card, a score and the reasons behind it.

Reasons are a discriminated union on ``kind``. Whatever the direction of the suggestion, ``offered`` is the
achievement's side and ``wanted`` / ``desired`` / ``budget`` the demand's side.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import BaseModel, Field

from services.market.listings.schemas import Money

__all__ = [
    "AchievementCard",
    "AchievementSuggestion",
    "AchievementSuggestionPage",
    "DemandCard",
    "DemandSuggestion",
    "DemandSuggestionPage",
    "IpcReason",
    "ModeReason",
    "PriceReason",
    "Reason",
    "RegionReason",
    "RegionRelation",
    "SemanticReason",
    "Suggestion",
    "SuggestionPage",
    "TechnicalFieldReason",
    "TextReason",
    "TrlReason",
]

RegionRelation = Literal["same_city", "same_province", "sichuan_chongqing", "other"]


class _Reason(BaseModel):
    label: str = Field(description="The reason in one short Chinese sentence, for display.")


class TextReason(_Reason):
    """Words of this listing's text found in the suggested one (full-text relevance)."""

    kind: Literal["text"] = "text"
    terms: list[str] = Field(description="The shared words, in the order of the query.")
    snippet: str = Field(description="HTML-escaped excerpt of the suggested listing, the shared words in <em>.")


class SemanticReason(_Reason):
    """The two texts mean similar things (cosine similarity of their embeddings)."""

    kind: Literal["semantic"] = "semantic"
    similarity: float = Field(ge=0, le=1, description="Cosine similarity of the two texts' embeddings, 0 to 1.")


class TechnicalFieldReason(_Reason):
    """Whether both listings are in the same of the 11 technical fields."""

    kind: Literal["technical_field"] = "technical_field"
    same: bool
    offered: str = Field(description="The achievement's technical field code.")
    wanted: str = Field(description="The demand's technical field code.")


class IpcReason(_Reason):
    """IPC subclasses (e.g. G06T) both listings carry. Only when both sides have IPC codes: demands have none
    today, so it does not appear between a demand and an achievement."""

    kind: Literal["ipc"] = "ipc"
    shared: list[str] = Field(description="The shared IPC subclasses (4 characters), sorted.")


class TrlReason(_Reason):
    """The achievement's technology readiness level against the level the demand asks for."""

    kind: Literal["trl"] = "trl"
    offered: int = Field(ge=1, le=9, description="The achievement's TRL.")
    desired: int = Field(ge=1, le=9, description="The lowest TRL the demand wants.")
    fits: bool = Field(description="offered >= desired.")


class PriceReason(_Reason):
    """The achievement's asking price against the demand's budget (both given in fen, neither negotiable)."""

    kind: Literal["price"] = "price"
    price: Money = Field(description="The achievement's asking price.")
    budget: Money = Field(description="The demand's budget.")
    fits: bool = Field(
        description="The lowest asking price is within the highest budget (the ranges overlap, or "
        "the price lies below the budget)."
    )


class RegionReason(_Reason):
    """Where the two organizations are, relative to each other."""

    kind: Literal["region"] = "region"
    relation: RegionRelation = Field(
        description="same_city (a municipality such as Chongqing counts as one city), same_province, "
        "sichuan_chongqing (one in Sichuan, the other in Chongqing), or other."
    )


class ModeReason(_Reason):
    """The achievement's transfer modes against the demand's cooperation modes."""

    kind: Literal["mode"] = "mode"
    offered: list[str] = Field(description="The achievement's transfer modes (transfer_modes codes).")
    wanted: list[str] = Field(description="The demand's cooperation modes (cooperation_modes codes).")
    shared: list[str] = Field(description="The demand's cooperation modes that an offered transfer mode answers.")
    fits: bool = Field(description="At least one cooperation mode is answered.")


Reason = Annotated[
    TextReason
    | SemanticReason
    | TechnicalFieldReason
    | IpcReason
    | TrlReason
    | PriceReason
    | RegionReason
    | ModeReason,
    Field(discriminator="kind"),
]


class _Card(BaseModel):
    id: uuid.UUID
    title: str
    summary: str | None = Field(
        description="The first 200 characters of the achievement's summary or of the demand's description."
    )
    owner_org_id: uuid.UUID = Field(description="The organization that owns the listing.")
    owner_org_name: str | None = Field(
        description="Its name, from the market's organization directory (null while neither it nor search knows it)."
    )
    technical_field: str
    region_code: str
    published_at: dt.datetime | None


class AchievementCard(_Card):
    """The public card of a suggested achievement (never its contact or other private fields)."""

    trl: int | None
    price: Money


class DemandCard(_Card):
    """The public card of a suggested demand (never its contact or other private fields)."""

    desired_trl: int | None
    budget: Money
    deadline: dt.date | None


CardT = TypeVar("CardT", AchievementCard, DemandCard)


class Suggestion(BaseModel, Generic[CardT]):
    """One suggested counterpart, its score and why."""

    listing: CardT
    score: float = Field(ge=0, le=1, description="RELEVANCE_WEIGHT · relevance + FIT_WEIGHT · fit (docs/market.md).")
    relevance: float = Field(ge=0, le=1, description="Text (and semantic) relevance from the search service.")
    fit: float = Field(ge=0, le=1, description="Weighted mean of the structured fits that could be computed.")
    reasons: list[Reason] = Field(min_length=1, description="Why it is suggested, misfits included.")


class SuggestionPage(BaseModel, Generic[CardT]):
    """One page of the ranked suggestions."""

    items: list[Suggestion[CardT]]
    next_cursor: str | None = Field(default=None, description="The cursor of the next page; null at the end.")
    semantic: bool = Field(description="Whether semantic similarity took part in the relevance.")


# Module-level parametrizations: pydantic caches generic classes weakly, so a `Suggestion[X]` written inside a
# function is rebuilt (milliseconds) each time the last instance of the previous one is gone.
AchievementSuggestion = Suggestion[AchievementCard]
DemandSuggestion = Suggestion[DemandCard]
AchievementSuggestionPage = SuggestionPage[AchievementCard]
DemandSuggestionPage = SuggestionPage[DemandCard]
