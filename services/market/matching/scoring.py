"""Reasons and score of one suggestion: pure functions of the two sides and the search hit (no I/O).

    score = RELEVANCE_WEIGHT · relevance + FIT_WEIGHT · fit
    relevance = the search service's score (0..1; text relevance, hybrid-mixed with semantic similarity)
    fit = Σ FIT_WEIGHTS[c] · value(c) / Σ FIT_WEIGHTS[c]   over the components c that can be computed

A component that cannot be computed (no TRL on a side, a negotiable price or budget, no modes on a side) leaves
the mean instead of counting as a misfit. A misfit lowers the score and is shown as a reason; it never hides the
suggestion. ``offer`` is always the achievement's side and ``want`` the demand's, whatever the direction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from services.market.matching.client import SimilarHit
from services.market.matching.models import Amount, Side
from services.market.matching.schemas import (
    IpcReason,
    ModeReason,
    PriceReason,
    Reason,
    RegionReason,
    RegionRelation,
    SemanticReason,
    TechnicalFieldReason,
    TextReason,
    TrlReason,
)
from services.market.reference.codes import CooperationMode, TransferMode, labels_zh
from shared.money import fen_to_wan_yuan
from shared.reference.regions import CHONGQING, SICHUAN, city_code, province_code, region
from shared.reference.technical_fields import technical_fields

__all__ = [
    "FIT_WEIGHT",
    "FIT_WEIGHTS",
    "RELEVANCE_WEIGHT",
    "TRANSFER_TO_COOPERATION",
    "Assessment",
    "ReasonMaker",
    "assess",
    "region_relation",
]

# Starting weights, set by judgement before any measurement (the lead tunes them on a labelled benchmark; the
# method and the result go in docs/market.md). Relevance dominates: a listing about something else is no
# suggestion however well its terms fit. Within the fit, the technical field says most about whether the two
# sides speak of the same thing; TRL and price decide whether a deal is feasible; region and cooperation mode
# are preferences that rarely block a deal.
RELEVANCE_WEIGHT = 0.7
FIT_WEIGHT = 0.3
FIT_WEIGHTS: dict[str, float] = {"technical_field": 0.4, "trl": 0.2, "price": 0.2, "region": 0.1, "mode": 0.1}

# A TRL below the desired one still helps a little when close: each level short takes a third of the component.
TRL_LEVELS_TO_ZERO = 3
# How near the two organizations are, as a fit value.
REGION_FIT: dict[str, float] = {"same_city": 1.0, "same_province": 0.75, "sichuan_chongqing": 0.5, "other": 0.25}
# Province-level cities (直辖市): all their districts and counties are one city.
MUNICIPALITIES = frozenset({"110000", "120000", "310000", "500000"})

# Achievement transfer mode (转化方式) → the demand cooperation modes (合作方式) it answers. A buyer asking for a
# licence (技术许可) takes any exclusivity; an achievement offered for co-development also answers commissioned
# development (both are 技术开发 contracts, 民法典 Art. 851). "other" on either side is unspecified, so it answers
# nothing; consulting and service (技术咨询/服务) are not offered by achievements and are never answered.
TRANSFER_TO_COOPERATION: dict[str, frozenset[str]] = {
    "transfer": frozenset({"transfer"}),
    "exclusive_license": frozenset({"license"}),
    "sole_license": frozenset({"license"}),
    "ordinary_license": frozenset({"license"}),
    "equity": frozenset({"equity"}),
    "co_development": frozenset({"co_development", "commissioned_development"}),
    "other": frozenset(),
}


# A reason not built yet: every candidate's score is needed, its reasons (labels, models) only on the page shown.
ReasonMaker = Callable[[], Reason]
# A structured fit component: its value in 0..1 and its reason.
Component = tuple[float, ReasonMaker]


@dataclass(frozen=True, slots=True)
class Assessment:
    """The score of a suggestion, its components, and its reasons to build."""

    relevance: float
    fit: float
    score: float
    makers: tuple[ReasonMaker, ...]

    def reasons(self) -> list[Reason]:
        """The reasons, built (and validated) now."""
        return [make() for make in self.makers]


def _clamp(value: float) -> float:
    return min(1.0, max(0.0, value))


@cache
def _field_label(code: str) -> str:
    return next((f.label_zh for f in technical_fields() if f.code == code), code)


def _money_label(amount: Amount) -> str:
    low = fen_to_wan_yuan(amount.min_fen or 0)
    if amount.kind == "range" and amount.max_fen is not None and amount.max_fen != amount.min_fen:
        return f"{low}–{fen_to_wan_yuan(amount.max_fen)}万元"
    return f"{low}万元"


def _money(amount: Amount) -> dict[str, Any]:
    return {"kind": amount.kind, "min_fen": amount.min_fen, "max_fen": amount.max_fen}


def _city(code: str) -> str:
    province = province_code(code)
    return province if province in MUNICIPALITIES else city_code(code)


def region_relation(a: str, b: str) -> RegionRelation:
    """same_city, same_province, sichuan_chongqing or other."""
    if _city(a) == _city(b):
        return "same_city"
    if province_code(a) == province_code(b):
        return "same_province"
    if {province_code(a), province_code(b)} == {SICHUAN, CHONGQING}:
        return "sichuan_chongqing"
    return "other"


def _region_name(code: str) -> str | None:
    found = region(code)
    return found.name if found is not None else None


def _text(hit: SimilarHit) -> ReasonMaker | None:
    if not hit.matched_terms:
        return None
    terms = list(hit.matched_terms)
    return lambda: TextReason(label="共同关键词：" + "、".join(terms), terms=terms, snippet=hit.snippet)


def _semantic(hit: SimilarHit) -> ReasonMaker | None:
    if hit.semantic_score is None:
        return None
    similarity = round(_clamp(hit.semantic_score), 4)
    return lambda: SemanticReason(label=f"语义相似度 {similarity:.2f}", similarity=similarity)


def _technical_field(offer: Side, want: Side) -> Component:
    offered, wanted = offer.technical_field, want.technical_field
    same = offered == wanted

    def reason() -> Reason:
        if same:
            label = f"同属“{_field_label(offered)}”领域"
        else:
            label = f"技术领域不同：成果属“{_field_label(offered)}”，需求属“{_field_label(wanted)}”"
        return TechnicalFieldReason(label=label, same=same, offered=offered, wanted=wanted)

    return 1.0 if same else 0.0, reason


def _ipc(offer: Side, want: Side) -> ReasonMaker | None:
    if not offer.ipc_codes or not want.ipc_codes:
        return None
    shared = sorted({code[:4] for code in offer.ipc_codes} & {code[:4] for code in want.ipc_codes})
    if not shared:
        return None
    return lambda: IpcReason(label="共同IPC小类：" + "、".join(shared), shared=shared)


def _trl(offer: Side, want: Side) -> Component | None:
    offered, desired = offer.trl, want.trl
    if offered is None or desired is None:
        return None
    fits = offered >= desired

    def reason() -> Reason:
        label = f"技术就绪水平 {offered} 级，{'达到' if fits else '低于'}需求的 {desired} 级"
        return TrlReason(label=label, offered=offered, desired=desired, fits=fits)

    return 1.0 if fits else _clamp(1 - (desired - offered) / TRL_LEVELS_TO_ZERO), reason


def _price(offer: Side, want: Side) -> Component | None:
    price, budget = offer.amount, want.amount
    if not price.known or not budget.known:
        return None
    lowest_price, highest_budget = price.min_fen or 0, budget.upper_fen or 0
    fits = lowest_price <= highest_budget

    def reason() -> Reason:
        if fits:
            label = f"报价 {_money_label(price)}，在预算 {_money_label(budget)} 以内"
        else:
            label = f"报价 {_money_label(price)}，超出预算 {_money_label(budget)}"
        return PriceReason(label=label, price=_money(price), budget=_money(budget), fits=fits)

    # Over budget: the share of the lowest asking price the budget covers.
    return 1.0 if fits else _clamp(highest_budget / lowest_price), reason


def _region(offer: Side, want: Side) -> Component:
    relation = region_relation(offer.region_code, want.region_code)

    def reason() -> Reason:
        if relation == "same_city":
            name = _region_name(_city(offer.region_code))
            label = f"同在{name}" if name else "同城"
        elif relation == "same_province":
            label = f"同在{_region_name(province_code(offer.region_code)) or '一省'}"
        elif relation == "sichuan_chongqing":
            label = "川渝合作：一方在四川，一方在重庆"
        else:
            label = "双方不在同一省市"
        return RegionReason(label=label, relation=relation)

    return REGION_FIT[relation], reason


def _mode(offer: Side, want: Side) -> Component | None:
    if not offer.modes or not want.modes:
        return None
    answered = set().union(*(TRANSFER_TO_COOPERATION.get(mode, frozenset()) for mode in offer.modes))
    shared = [mode for mode in want.modes if mode in answered]

    def reason() -> Reason:
        if shared:
            label = "合作方式匹配：" + labels_zh(shared, CooperationMode)
        else:
            label = (
                f"合作方式不匹配：成果可{labels_zh(offer.modes, TransferMode)}，"
                f"需求要{labels_zh(want.modes, CooperationMode)}"
            )
        return ModeReason(
            label=label, offered=list(offer.modes), wanted=list(want.modes), shared=shared, fits=bool(shared)
        )

    return 1.0 if shared else 0.0, reason


def assess(*, offer: Side, want: Side, hit: SimilarHit) -> Assessment:
    """The score of one pair and the makers of its reasons (text, semantic, technical_field, ipc, trl, price,
    region, mode, in this order)."""
    makers = [maker for maker in (_text(hit), _semantic(hit)) if maker is not None]
    field_value, field_reason = _technical_field(offer, want)
    makers.append(field_reason)
    ipc = _ipc(offer, want)
    if ipc is not None:
        makers.append(ipc)
    weighted = FIT_WEIGHTS["technical_field"] * field_value
    weights = FIT_WEIGHTS["technical_field"]
    for name, component in (
        ("trl", _trl(offer, want)),
        ("price", _price(offer, want)),
        ("region", _region(offer, want)),
        ("mode", _mode(offer, want)),
    ):
        if component is not None:
            weighted += FIT_WEIGHTS[name] * component[0]
            weights += FIT_WEIGHTS[name]
            makers.append(component[1])
    fit = weighted / weights
    relevance = _clamp(hit.score or 0.0)
    score = RELEVANCE_WEIGHT * relevance + FIT_WEIGHT * fit
    return Assessment(relevance=round(relevance, 4), fit=round(fit, 4), score=round(score, 4), makers=tuple(makers))
