"""The contract of an agreed deal, prefilled: parties from the directory, kind and subkind from the cooperation mode.

Kind and subkind follow the contract rules' reference data (services/market/reference/data) of the rules version in
force today; the submitter may change them (the contract is validated against the version of its signing date).

==========================  ===================  =====================================================================
cooperation_mode            kind                 subkind
==========================  ===================  =====================================================================
transfer                    transfer (技术转让)   patent_right_transfer when the achievement is a patent with a granted
                                                 publication (B/C/U/Y/S) or an unknown one; patent_application_right_
                                                 transfer when all its publications are applications (A);
                                                 technical_secret_transfer for know-how; other_transfer otherwise
equity (作价入股)            transfer             as transfer: contributing a technology as equity assigns its rights
license                     license (技术许可)    patent_license for patents, technical_secret_license for know-how,
                                                 other_license otherwise
co_development              development          cooperative_development (合作开发)
commissioned_development    development          commissioned_development (委托开发)
consulting                  consulting           technical_consulting
service                     service              technical_service
other, or none given        transfer             other_transfer (其他技术转让): the deal is about a listed achievement
==========================  ===================  =====================================================================
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any, Literal

from services.market.directory.schemas import OrganizationCard
from services.market.listings.models import Achievement
from services.market.proposals.models import Proposal
from services.market.proposals.schemas import ContractDraft, ContractDraftBody, PartyDraft
from services.market.reference import contract_rules

__all__ = ["ENTITY_TYPES", "build_draft", "infer_kind"]

# Directory kind → contract entity type (contract_entity_types); any other kind of organization is "other".
ENTITY_TYPES = {
    "university": "university",
    "research_institute": "research_institute",
    "enterprise": "enterprise",
    "government": "government",
}
_PATENT_IP = frozenset({"invention_patent", "utility_model", "design"})
# Publication kind letters of a granted patent: invention B/C, utility model U/Y, design S (A: an application).
_GRANTED = frozenset("BCUYS")
# Always left to the submitter: the deal does not know them.
_SUBMITTER_FIELDS = ("contract_no", "signed_on", "contract_amount_fen", "technology_amount_fen")


def _granted(patents: Sequence[dict[str, Any]]) -> bool | None:
    """Whether the patents are granted, as far as their publication numbers tell (None: none given)."""
    letters = {str(p["publication_no"])[-1] for p in patents if p.get("publication_no")}
    if not letters:
        return None
    return bool(letters & _GRANTED)


def _transfer_subkind(achievement: Achievement, notes: list[str]) -> str:
    if achievement.ip_type in _PATENT_IP and achievement.patents:
        if _granted(achievement.patents) is False:
            notes.append(
                "The patents are published applications (kind A): drafted as a patent application right "
                "transfer (专利申请权转让)."
            )
            return "patent_application_right_transfer"
        return "patent_right_transfer"
    if achievement.ip_type == "technical_secret":
        return "technical_secret_transfer"
    return "other_transfer"


def _license_subkind(achievement: Achievement) -> str:
    if achievement.ip_type in _PATENT_IP and achievement.patents:
        return "patent_license"
    if achievement.ip_type == "technical_secret":
        return "technical_secret_license"
    return "other_license"


def infer_kind(
    cooperation_mode: str | None, achievement: Achievement, *, rules_version: str
) -> tuple[str | None, str | None, list[str]]:
    """Contract kind and subkind of a deal (None, None when the rules version lacks them) and notes on the choice."""
    notes: list[str] = []
    mode = cooperation_mode or "other"
    if mode in ("transfer", "equity"):
        kind, subkind = "transfer", _transfer_subkind(achievement, notes)
        if mode == "equity":
            notes.append("作价入股 (equity): drafted as a technology transfer of the contributed rights.")
    elif mode == "license":
        kind, subkind = "license", _license_subkind(achievement)
    elif mode == "co_development":
        kind, subkind = "development", "cooperative_development"
    elif mode == "commissioned_development":
        kind, subkind = "development", "commissioned_development"
    elif mode == "consulting":
        kind, subkind = "consulting", "technical_consulting"
    elif mode == "service":
        kind, subkind = "service", "technical_service"
    else:
        kind, subkind = "transfer", "other_transfer"
        notes.append(
            "No specific cooperation mode: drafted as 其他技术转让; change kind and subkind if the deal is a "
            "development, consulting or service contract."
        )
    known = contract_rules.subkinds(rules_version).get(subkind)
    if kind not in contract_rules.kinds(rules_version) or known is None or known.kind != kind:
        notes.append(f"Rules {rules_version} have no {kind}/{subkind}: choose the kind and subkind.")
        return None, None, notes
    return kind, subkind, notes


def _party(card: OrganizationCard | None, org_id: uuid.UUID, prefix: str, missing: list[str]) -> PartyDraft:
    if card is None:
        missing.extend(f"{prefix}.{name}" for name in ("name", "credit_code", "region_code", "entity_type"))
        return PartyDraft(
            name=None, credit_code=None, region_code=None, entity_type=None, ownership=None, org_id=org_id
        )
    entity_type = ENTITY_TYPES.get(card.kind, "other")
    for name, value in (("credit_code", card.credit_code), ("region_code", card.region_code)):
        if value is None:
            missing.append(f"{prefix}.{name}")
    if entity_type == "enterprise":
        # Ownership (国有、民营…) is a statistics dimension the directory does not hold: the submitter states it.
        missing.append(f"{prefix}.ownership")
    return PartyDraft(
        name=card.name,
        credit_code=card.credit_code,
        region_code=card.region_code,
        entity_type=entity_type,
        ownership=None,
        org_id=org_id,
    )


def build_draft(
    *,
    proposal: Proposal,
    achievement: Achievement,
    seller: OrganizationCard | None,
    buyer: OrganizationCard | None,
    submitted_as: Literal["seller", "broker"],
    today: dt.date,
) -> ContractDraft:
    """The POST /market/contracts body of an agreed proposal, with what the submitter still has to add."""
    missing: list[str] = []
    seller_party = _party(seller, proposal.seller_org_id, "seller", missing)
    buyer_party = _party(buyer, proposal.buyer_org_id, "buyer", missing)
    kind, subkind, notes = infer_kind(
        proposal.cooperation_mode, achievement, rules_version=contract_rules.rules_version_for(today)
    )
    if kind is None:
        missing += ["kind", "subkind"]
    missing += _SUBMITTER_FIELDS
    if buyer_party.entity_type == "enterprise" or seller_party.entity_type == "enterprise":
        notes.append("Enterprises state their ownership (state_owned, private, foreign_invested, hk_macao_taiwan).")
    body = ContractDraftBody(
        seller=seller_party,
        buyer=buyer_party,
        kind=kind,
        subkind=subkind,
        technical_field=achievement.technical_field,
        title=achievement.title,
        contract_no=None,
        signed_on=None,
        valid_from=None,
        valid_to=None,
        contract_amount_fen=None,
        technology_amount_fen=None,
        achievement_id=proposal.achievement_id,
        demand_id=proposal.demand_id,
        attachments=[],
        submitted_as=submitted_as,
        office_id=None,
        proposal_id=proposal.id,
    )
    return ContractDraft(contract=body, missing=missing, notes=notes)
