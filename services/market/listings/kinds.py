"""The two kinds of listing and their lifecycles, as data: the service and routers are written once for both.

Achievement: draft → published → negotiating → transferred; withdrawn and expired from any open state.
             A deal may conclude without a negotiation step: transfer also starts from published.
Demand:      draft → published → matched → closed;          withdrawn and expired from any open state.
             fulfilled (已满足): the need was met by a registered contract — from published or matched.
Open states are those before the last step (draft, published, negotiating | matched). Public states — seen by
anyone, sent to search as upserts — are published and the later ones; everything else is private to the owner
and deleted from search.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from services.market.listings.models import Achievement, Demand, Listing
from services.market.listings.schemas import (
    AchievementCreate,
    AchievementPublic,
    AchievementUpdate,
    DemandCreate,
    DemandPublic,
    DemandUpdate,
)
from services.market.reference.codes import AchievementStatus, CodeEnum, DemandStatus

__all__ = ["ACHIEVEMENT", "DEMAND", "KINDS", "ListingKind", "Transition"]


@dataclass(frozen=True)
class Transition:
    """A lifecycle step: from which states, to which state, and whether it needs a verified organization."""

    action: str
    sources: frozenset[str]
    target: str
    needs_verified_org: bool = False
    description: str = ""


@dataclass(frozen=True)
class ListingKind:
    """Everything that differs between achievements and demands."""

    name: str  # "achievement": entity kind in audit, outbox and search documents
    plural: str  # "achievements": the URL segment
    label_zh: str
    statuses: type[CodeEnum]  # every state, with its labels (served as <name>_statuses)
    model: type[Listing]
    create_schema: type[BaseModel]
    update_schema: type[BaseModel]
    public_schema: type[BaseModel]
    money_field: str  # "price" | "budget": stored as <field>_kind, <field>_min_fen, <field>_max_fen
    expiry_field: str  # "valid_until" | "deadline"
    private_fields: frozenset[str]  # null for anyone but the owner and platform admins; never sent to search
    creator_org_kinds: frozenset[str]
    open_states: frozenset[str]
    public_states: frozenset[str]
    transitions: tuple[Transition, ...]

    def __post_init__(self) -> None:
        # The lifecycle names states of the code list; a state outside it would be stored but never served.
        named = self.open_states | self.public_states | {s for t in self.transitions for s in (*t.sources, t.target)}
        unknown = named - {status.value for status in self.statuses}
        if unknown:
            raise ValueError(f"{self.name} states not in {self.statuses.__name__}: {sorted(unknown)}")

    def transition(self, action: str) -> Transition:
        """The transition named ``action``."""
        return next(t for t in self.transitions if t.action == action)


_ACH_OPEN = frozenset({"draft", "published", "negotiating"})
_DEM_OPEN = frozenset({"draft", "published", "matched"})

ACHIEVEMENT = ListingKind(
    name="achievement",
    plural="achievements",
    label_zh="科技成果",
    statuses=AchievementStatus,
    model=Achievement,
    create_schema=AchievementCreate,
    update_schema=AchievementUpdate,
    public_schema=AchievementPublic,
    money_field="price",
    expiry_field="valid_until",
    private_fields=frozenset({"contact", "external_id"}),
    creator_org_kinds=frozenset({"university", "research_institute"}),
    open_states=_ACH_OPEN,
    public_states=frozenset({"published", "negotiating", "transferred"}),
    transitions=(
        Transition("publish", frozenset({"draft"}), "published", True, "Offer the achievement on the market."),
        Transition("negotiate", frozenset({"published"}), "negotiating", False, "A buyer is negotiating."),
        Transition(
            "transfer", frozenset({"published", "negotiating"}), "transferred", False, "The transfer is concluded."
        ),
        Transition("withdraw", _ACH_OPEN, "withdrawn", False, "Take the listing off the market for good."),
    ),
)

DEMAND = ListingKind(
    name="demand",
    plural="demands",
    label_zh="技术需求",
    statuses=DemandStatus,
    model=Demand,
    create_schema=DemandCreate,
    update_schema=DemandUpdate,
    public_schema=DemandPublic,
    money_field="budget",
    expiry_field="deadline",
    private_fields=frozenset({"contact", "match_alerts"}),
    creator_org_kinds=frozenset({"enterprise", "research_institute", "university"}),
    open_states=_DEM_OPEN,
    public_states=frozenset({"published", "matched", "closed", "fulfilled"}),
    transitions=(
        Transition("publish", frozenset({"draft"}), "published", True, "Post the demand on the market."),
        Transition("match", frozenset({"published"}), "matched", False, "A supplier has been found."),
        Transition("close", frozenset({"matched"}), "closed", False, "The need is met."),
        Transition(
            "fulfill",
            frozenset({"published", "matched"}),
            "fulfilled",
            False,
            "A registered technology contract met the need (offered as a follow-up of the contract).",
        ),
        Transition("withdraw", _DEM_OPEN, "withdrawn", False, "Take the demand off the market for good."),
    ),
)

KINDS = {k.plural: k for k in (ACHIEVEMENT, DEMAND)}
