"""Technology contract registration: submission, the registrar's workflow, signed deltas, visibility, import.

Status machine::

    submitted ──register──► registered ──amend──► amended ──amend──► amended
        │  ▲                    │                    │
     reject│ resubmit          revoke              revoke
        ▼  │                    ▼                    ▼
     rejected                 revoked              revoked

Registration, amendment and revocation append signed deltas (contract_deltas) in the same transaction, unfolded:
the statistics count them at once and fold them into their rollup later (services.market.stats.fold, run by the
worker). A registered contract's own row is never edited again except for its status.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import operator
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NoReturn

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.market.audit import service as audit_service
from services.market.audit.models import AuditEvent
from services.market.concurrency import require_if_match
from services.market.contracts.models import AUDIT_ENTITY_KIND, delta_row
from services.market.contracts.repository import ContractRepository, Registration, Visibility, registration_no
from services.market.contracts.schemas import (
    AmendRequest,
    ContractCreate,
    ContractEventPublic,
    ContractPublic,
    ContractUpdate,
    FollowUp,
    PartyCreate,
    PartyPublic,
    RegisterRequest,
    RejectRequest,
    RevokeRequest,
    Verification,
)
from services.market.directory import service as directory
from services.market.directory.schemas import OrganizationCard
from services.market.listings import service as listings_service
from services.market.listings.kinds import ACHIEVEMENT, DEMAND, ListingKind
from services.market.notifications import service as notifications_service
from services.market.offices import service as offices_service
from services.market.proposals import service as proposals_service
from services.market.reference import contract_rules as reference
from shared.clock import today_in_china, utcnow
from shared.errors import Conflict, FieldError, Forbidden, NotFound, PreconditionFailed, ValidationFailed
from shared.ids import new_id
from shared.pagination import Page
from shared.reference.regions import flow_of, is_valid_region
from shared.reference.technical_fields import is_technical_field
from shared.requestid import current_request_id
from shared.security import Principal, is_org_path
from shared.text import normalize_code, normalize_text

__all__ = [
    "OVERDUE_AFTER",
    "amend_contract",
    "contract_columns",
    "contract_events",
    "get_contract",
    "list_contracts",
    "register_contract",
    "registration_no",
    "reject_contract",
    "resubmit_contract",
    "revoke_contract",
    "submit_contract",
    "to_public",
    "update_contract",
    "visibility_for",
    "with_follow_ups",
]

Row = Mapping[Any, Any]
OVERDUE_AFTER = dt.timedelta(days=30)
EARLIEST_SIGNING = dt.date(1980, 1, 1)
_COUNTRY = re.compile(r"^[A-Z]{2}$")
REGISTERED = ("registered", "amended")


# -- validation ------------------------------------------------------------------------------------------------


def _code(value: str) -> str:
    """normalize_code with a fast path for plain ASCII (the bulk import calls this millions of times)."""
    return value.strip().upper() if value.isascii() else normalize_code(value)


_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUES = {c: i for i, c in enumerate(_USCC_ALPHABET)}
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


@lru_cache(maxsize=65_536)
def _valid_credit_code(code: str) -> bool:
    """GB 32100 unified social credit code: 18 characters, 8 leading digits, mod-31 check character.

    The same rule as python-stdnum's cn.uscc (a test pins them together), in a form fast enough for bulk import.
    """
    if len(code) != 18 or not code[:8].isdigit():
        return False
    try:
        # map() keeps the loop in C: this runs for every party of every imported row.
        total: int = sum(map(operator.mul, map(_USCC_VALUES.__getitem__, code[:17]), _USCC_WEIGHTS))
        last = _USCC_VALUES[code[17]]
    except KeyError:
        return False
    return last == (31 - total % 31) % 31


class _Errors:
    """Collects field errors so one response names every bad field."""

    def __init__(self) -> None:
        self.items: list[FieldError] = []

    def add(self, field: str, message: str, type: str = "invalid") -> None:
        self.items.append({"field": field, "message": message, "type": type})

    def raise_if_any(self) -> None:
        if self.items:
            detail = "; ".join(f"{e['field']}: {e['message']}" for e in self.items[:5])
            raise ValidationFailed(detail, errors=self.items)


@dataclass(frozen=True, slots=True)
class PartyData:
    """A party read from an import row: the fields of PartyCreate without pydantic's per-row cost."""

    name: str
    credit_code: str | None
    region_code: str
    entity_type: str
    ownership: str | None
    org_id: uuid.UUID | None = None


def _party(
    party: PartyCreate | PartyData, prefix: str, rules_version: str, errors: _Errors, *, seller: bool
) -> dict[str, Any]:
    name = normalize_text(party.name)
    region = _code(party.region_code)
    abroad = bool(_COUNTRY.match(region))
    if abroad and (seller or region == "CN"):
        errors.add(
            f"{prefix}.region_code",
            "the seller must be in China (6-digit GB/T 2260 code)" if seller else "use the 6-digit code inside China",
            "region_invalid",
        )
    elif not abroad and not is_valid_region(region):
        errors.add(f"{prefix}.region_code", "not a GB/T 2260 region code or a country code", "region_invalid")
    types = reference.entity_types(rules_version)
    entity = types.get(party.entity_type)
    if entity is None:
        errors.add(f"{prefix}.entity_type", f"unknown entity type (known: {', '.join(types)})", "unknown_code")
    ownership = party.ownership
    if entity is not None and entity.needs_ownership:
        if ownership not in reference.ownerships(rules_version):
            errors.add(f"{prefix}.ownership", "enterprises state their ownership", "unknown_code")
    elif ownership is not None:
        errors.add(f"{prefix}.ownership", "only enterprises state an ownership", "not_allowed")
    credit = _code(party.credit_code) if party.credit_code else None
    individual = party.entity_type == "individual"
    if credit is not None and (individual or abroad):
        errors.add(f"{prefix}.credit_code", "only Chinese organizations have a credit code", "not_allowed")
    elif credit is None and not individual and not abroad:
        errors.add(f"{prefix}.credit_code", "required for a Chinese organization", "missing")
    elif credit is not None and not _valid_credit_code(credit):
        errors.add(f"{prefix}.credit_code", "not a valid unified social credit code (GB 32100)", "credit_code_invalid")
    if not name:
        errors.add(f"{prefix}.name", "must not be blank", "blank")
    return {
        "name": name,
        "credit_code": credit,
        "region_code": region,
        "entity_type": party.entity_type,
        "ownership": ownership,
        "org_id": party.org_id,
    }


def _contract_fields(data: Mapping[str, Any], errors: _Errors, *, today: dt.date | None = None) -> dict[str, Any]:
    """Validate and normalize the contract's own fields; the rules version follows the signing date.

    ``today`` (in China) is taken now unless given: a bulk import takes it once for all its rows.
    """
    signed_on: dt.date = data["signed_on"]
    rules_version = reference.rules_version_for(signed_on)
    today = today or today_in_china()
    if signed_on > today:
        errors.add("signed_on", "cannot be in the future", "date_in_future")
    if signed_on < EARLIEST_SIGNING:
        errors.add("signed_on", f"cannot be before {EARLIEST_SIGNING}", "date_too_early")
    valid_from, valid_to = data.get("valid_from"), data.get("valid_to")
    if valid_from and valid_to and valid_to < valid_from:
        errors.add("valid_to", "must not be before valid_from", "date_order")
    kinds = reference.kinds(rules_version)
    if data["kind"] not in kinds:
        errors.add("kind", f"unknown kind in rules {rules_version} (known: {', '.join(kinds)})", "unknown_code")
    sub = reference.subkinds(rules_version).get(data["subkind"])
    if sub is None:
        errors.add("subkind", f"unknown subkind in rules {rules_version}", "unknown_code")
    elif sub.kind != data["kind"] and data["kind"] in kinds:
        errors.add("subkind", f"belongs to kind {sub.kind}, not {data['kind']}", "subkind_mismatch")
    if not is_technical_field(data["technical_field"]):
        errors.add("technical_field", "not one of the 11 technical field codes", "unknown_code")
    if data["technology_amount_fen"] > data["contract_amount_fen"]:
        errors.add("technology_amount_fen", "cannot exceed the contract amount", "amount_exceeds")
    title = normalize_text(data["title"])
    contract_no = normalize_text(data["contract_no"])
    if not title:
        errors.add("title", "must not be blank", "blank")
    if not contract_no:
        errors.add("contract_no", "must not be blank", "blank")
    return {
        "rules_version": rules_version,
        "kind": data["kind"],
        "subkind": data["subkind"],
        "technical_field": data["technical_field"],
        "title": title,
        "contract_no": contract_no,
        "signed_on": signed_on,
        "valid_from": valid_from,
        "valid_to": valid_to,
        "contract_amount_fen": data["contract_amount_fen"],
        "claimed_technology_amount_fen": data["technology_amount_fen"],
        "achievement_id": data.get("achievement_id"),
        "demand_id": data.get("demand_id"),
        "attachments": [dict(a) for a in data.get("attachments") or []],
    }


def _party_identity(party: Mapping[str, Any]) -> str:
    if party["credit_code"]:
        return str(party["credit_code"])
    return "name:" + "".join(str(party["name"]).casefold().split()) + "@" + str(party["region_code"])


def dedupe_key(seller: Mapping[str, Any], buyer: Mapping[str, Any], contract_no: str, signed_on: dt.date) -> str:
    """The duplicate key: same seller and buyer (credit codes), own contract number and signing date."""
    raw = "|".join([_party_identity(seller), _party_identity(buyer), _code(contract_no), signed_on.isoformat()])
    return hashlib.sha256(raw.encode()).hexdigest()


def _party_columns(prefix: str, party: Mapping[str, Any]) -> dict[str, Any]:
    return {f"{prefix}_{name}": value for name, value in party.items()}


_PARTY_FIELDS = ("name", "credit_code", "region_code", "entity_type", "ownership", "org_id")


def _stored_party_fields(row: Row, prefix: str) -> dict[str, Any]:
    """A party's fields, its verification aside, read back from its ``<prefix>_*`` columns (see _party_columns)."""
    return {name: row[f"{prefix}_{name}"] for name in _PARTY_FIELDS}


def contract_columns(fields: Mapping[str, Any], seller: Mapping[str, Any], buyer: Mapping[str, Any]) -> dict[str, Any]:
    """The columns a contract's checked fields and parties give: those, the parties', its flow and duplicate key."""
    return {
        **fields,
        **_party_columns("seller", seller),
        **_party_columns("buyer", buyer),
        "flow": flow_of(seller["region_code"], buyer["region_code"]),
        "dedupe_key": dedupe_key(seller, buyer, fields["contract_no"], fields["signed_on"]),
    }


# -- authorization -----------------------------------------------------------------------------------------------


def visibility_for(principal: Principal) -> Visibility:
    """Which contracts ``principal`` may see: its parties' and broker's own, its office's, its statistical scope."""
    if principal.has_role("platform_admin"):
        return Visibility(everything=True)
    statistician = principal.has_role("statistician")
    if statistician and principal.org_kind in ("center", "government"):
        return Visibility(everything=True)
    return Visibility(
        org_id=principal.org_id,
        office_id=principal.org_id if offices_service.is_registrar(principal) else None,
        broker_subtree=principal.org_path if statistician and principal.org_path else None,
    )


def _is_submitter_side(principal: Principal, contract: Row) -> bool:
    org = principal.org_id
    return org is not None and org in (
        contract["submitter_org_id"],
        contract["seller_org_id"],
        contract["broker_org_id"],
    )


async def _visible(session: AsyncSession, principal: Principal, contract_id: uuid.UUID) -> Row:
    row = await ContractRepository.from_session(session).get(contract_id, visibility=visibility_for(principal))
    if row is None:
        raise NotFound("No such contract.")
    return row


async def _office_contract(session: AsyncSession, principal: Principal, contract_id: uuid.UUID) -> tuple[Row, Row]:
    """A contract the caller may see, checked to be in the caller's office (403 otherwise)."""
    contract = await _visible(session, principal, contract_id)
    office = await offices_service.require_registrar_office(session=session, principal=principal)
    if contract["office_id"] != office["id"]:
        raise Forbidden("Only a registrar of the contract's registration office may do this.")
    return contract, office


# -- the audit / history row -----------------------------------------------------------------------------------------


async def _audit(
    *,
    session: AsyncSession,
    principal: Principal,
    contract_id: uuid.UUID,
    action: str,
    from_status: str | None,
    to_status: str,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """THE one place a contract state change is recorded (actor, org, from → to, request id), same transaction.

    The row goes to the market audit trail (entity kind ``contract``), served by GET /market/contracts/{id}/events.
    Registration is the exception: its row is written by ContractRepository.register, inside the registering
    statement on PostgreSQL.
    """
    await audit_service.record(
        session=session,
        entity_kind=AUDIT_ENTITY_KIND,
        entity_id=contract_id,
        action=action,
        from_status=from_status,
        to_status=to_status,
        actor=principal,
        details=dict(detail or {}),
    )


def _event_public(event: AuditEvent) -> ContractEventPublic:
    """A contract's audit row in the shape GET …/events has always had (``detail``, ``created_at``)."""
    assert event.to_status is not None  # every contract event names the status it leads to
    return ContractEventPublic(
        id=event.id,
        action=event.action,
        from_status=event.from_status,
        to_status=event.to_status,
        actor_subject=event.actor_subject,
        actor_org_id=event.actor_org_id,
        request_id=event.request_id,
        detail=event.details or {},
        created_at=event.occurred_at,
    )


# -- reading ------------------------------------------------------------------------------------------------------


def to_public(row: Row, current: tuple[int, int, int] | None, *, now: dt.datetime | None = None) -> ContractPublic:
    """The API view of a contract row and the sum of its deltas."""
    now = now or utcnow()

    def party(prefix: str) -> PartyPublic:
        return PartyPublic(**_stored_party_fields(row, prefix), verification=row[f"{prefix}_verification"])

    registered = row["status"] in (*REGISTERED, "revoked")
    return ContractPublic(
        id=row["id"],
        status=row["status"],
        rules_version=row["rules_version"],
        kind=row["kind"],
        subkind=row["subkind"],
        technical_field=row["technical_field"],
        title=row["title"],
        contract_no=row["contract_no"],
        signed_on=row["signed_on"],
        valid_from=row["valid_from"],
        valid_to=row["valid_to"],
        seller=party("seller"),
        buyer=party("buyer"),
        flow=row["flow"],
        contract_amount_fen=row["contract_amount_fen"],
        claimed_technology_amount_fen=row["claimed_technology_amount_fen"],
        technology_amount_fen=row["technology_amount_fen"],
        current_contract_amount_fen=(current[1] if current else 0) if registered else None,
        current_technology_amount_fen=(current[2] if current else 0) if registered else None,
        broker_org_id=row["broker_org_id"],
        achievement_id=row["achievement_id"],
        demand_id=row["demand_id"],
        proposal_id=row["proposal_id"],
        attachments=list(row["attachments"] or []),
        office_id=row["office_id"],
        registration_no=row["registration_no"],
        registered_on=row["registered_on"],
        rejection_reason=row["rejection_reason"],
        submitted_at=row["submitted_at"],
        overdue=row["status"] == "submitted" and row["submitted_at"] < now - OVERDUE_AFTER,
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


# What a registered contract offers the owners of its listings: the transition that records the deal on each.
_FOLLOW_UPS: tuple[tuple[str, ListingKind, str], ...] = (
    ("achievement_id", ACHIEVEMENT, "transfer"),
    ("demand_id", DEMAND, "fulfill"),
)


async def with_follow_ups(*, session: AsyncSession, contracts: list[ContractPublic]) -> list[ContractPublic]:
    """Fill ``follow_ups`` of the registered contracts: for each linked listing whose status still allows it, the
    owner's transition (achievement → transfer, demand → fulfill). Offered only: nothing moves by itself."""
    registered = [c for c in contracts if c.status in REGISTERED]
    for attribute, kind, action in _FOLLOW_UPS:
        ids = [getattr(c, attribute) for c in registered if getattr(c, attribute) is not None]
        if not ids:
            continue
        listings = await listings_service.listings_by_id(session=session, kind=kind, listing_ids=ids)
        sources = kind.transition(action).sources
        for contract in registered:
            listing = listings.get(getattr(contract, attribute))
            if listing is not None and listing.status in sources:
                contract.follow_ups.append(
                    FollowUp(
                        listing=kind.name,
                        id=listing.id,
                        action=action,
                        href=f"/market/{kind.plural}/{listing.id}/{action}",
                    )
                )
    return contracts


_NOTICE_TITLES = {
    "contract.submitted": "有技术合同待认定登记",
    "contract.registered": "技术合同已认定登记",
    "contract.rejected": "技术合同未予登记",
}


async def _notify(session: AsyncSession, row: Mapping[str, Any], kind: str, **details: Any) -> None:
    """Same transaction as the change. A submission goes to the registrars of its office; an outcome to the
    submitter (the user) and the parties' and broker's organizations other than the submitter's own (whose member
    acted and is told personally)."""
    if kind == "contract.submitted":
        users: list[str | None] = []
        orgs: list[tuple[uuid.UUID | None, str | None]] = [(row["office_id"], "registrar")]
    else:
        users = [row["submitter_subject"]]
        orgs = [
            (org_id, None)
            for org_id in (row["seller_org_id"], row["buyer_org_id"], row["broker_org_id"])
            if org_id != row["submitter_org_id"]
        ]
    await notifications_service.notify(
        session=session,
        type=kind,
        title=_NOTICE_TITLES[kind],
        subject_type="contract",
        subject_id=row["id"],
        data={"contract_id": str(row["id"]), "title": row["title"], **details},
        users=users,
        orgs=orgs,
    )


async def public_many(*, session: AsyncSession, rows: Sequence[Row]) -> list[ContractPublic]:
    """API views of several rows (one query for their current amounts, one per listing kind for follow-ups)."""
    ids = [r["id"] for r in rows if r["status"] in (*REGISTERED, "revoked")]
    current = await ContractRepository.from_session(session).current_amounts(ids)
    now = utcnow()
    return await with_follow_ups(session=session, contracts=[to_public(r, current.get(r["id"]), now=now) for r in rows])


async def get_contract(*, session: AsyncSession, principal: Principal, contract_id: uuid.UUID) -> ContractPublic:
    """One contract the caller may see (404 otherwise)."""
    row = await _visible(session, principal, contract_id)
    return (await public_many(session=session, rows=[row]))[0]


async def list_contracts(
    *,
    session: AsyncSession,
    principal: Principal,
    status: str | None,
    overdue: bool | None,
    office_id: uuid.UUID | None,
    after_id: uuid.UUID | None,
    limit: int,
) -> list[ContractPublic]:
    """Contracts the caller may see; ``overdue`` keeps submissions pending more than 30 days."""
    if overdue and status not in (None, "submitted"):
        raise ValidationFailed.field("overdue", "only submitted contracts can be overdue", type="filter_conflict")
    if overdue:
        status = "submitted"
    if principal.has_role("registrar") and offices_service.is_registrar(principal):
        await offices_service.require_registrar_office(session=session, principal=principal)
    cutoff = utcnow() - OVERDUE_AFTER
    rows = await ContractRepository.from_session(session).list_visible(
        visibility=visibility_for(principal),
        status=status,
        office_id=office_id,
        submitted_before=cutoff if overdue else None,
        not_overdue_since=cutoff if overdue is False else None,
        after_id=after_id,
        limit=limit,
    )
    return await public_many(session=session, rows=rows)


async def contract_events(
    *, session: AsyncSession, principal: Principal, contract_id: uuid.UUID, after_id: uuid.UUID | None, limit: int
) -> Page[ContractEventPublic]:
    """One page of the history of a contract the caller may see, oldest first, after the event ``after_id``."""
    await _visible(session, principal, contract_id)
    return await audit_service.history_as(
        session=session,
        entity_kind=AUDIT_ENTITY_KIND,
        entity_id=contract_id,
        limit=limit,
        after=after_id,
        view=_event_public,
    )


# -- submission ------------------------------------------------------------------------------------------------------


def _submitter(principal: Principal, data: ContractCreate) -> dict[str, Any]:
    if principal.org_id is None:
        raise Forbidden("Contracts are submitted by members of an organization.")
    if not principal.org_verified:
        raise Forbidden("Your organization must be verified before it submits contracts.")
    if data.submitted_as == "broker":
        # The same rule as proposals: the broker role at a verified transfer institution, sub-center or center.
        broker_org_id = proposals_service.authorize_broker(principal)
        path = principal.org_path if principal.org_path and is_org_path(principal.org_path) else f"/{broker_org_id}/"
        return {"broker_org_id": broker_org_id, "broker_org_path": path}
    return {"broker_org_id": None, "broker_org_path": None}


@dataclass(slots=True)
class _Claim:
    """A party to verify: its normalized fields (updated in place) and whether the submitter declared it
    unverified."""

    prefix: str
    party: dict[str, Any]
    declared_unverified: bool


async def _own_card(session: AsyncSession, org_id: uuid.UUID) -> OrganizationCard:
    card = await directory.get(session=session, org_id=org_id)
    if card is None:
        raise Conflict(
            "Your organization is not in the market's directory yet; retry shortly.", slug="party-not-in-directory"
        )
    return card


def _verify_parties(
    claims: Sequence[_Claim],
    *,
    submitted_as: str,
    own: OrganizationCard | None,
    verified: Mapping[str, OrganizationCard],
    errors: _Errors,
) -> list[FieldError]:
    """Decide how each party is verified (sets its ``verification`` and ``org_id``); the refusals, by field.

    Submitted as seller, the seller is the submitting organization itself: its credit code must be the one the
    directory has for it. Otherwise a party is the submitter's own organization (self), a verified organization of
    the directory (directory), or declared unverified for the registrar to check; a seller's buyer that is none of
    the first two is recorded unverified without being refused (the seller answers for its own contract).
    ``verified`` maps credit codes to verified directory organizations. A party's org_id, if given, must be the
    organization its credit code names (422): nobody puts a contract in front of an organization it does not name.
    ``own`` is None for an import (the registrar is no party; each party is checked as a broker's would be).
    """
    own_code = own.credit_code if own is not None else None
    refused: list[FieldError] = []
    for claim in claims:
        party, code = claim.party, claim.party["credit_code"]
        org_id: uuid.UUID | None
        verification: Verification
        if submitted_as == "seller" and claim.prefix == "seller":
            assert own is not None
            if code is None or code != own_code:
                refused.append(
                    {
                        "field": "seller.credit_code",
                        "message": f"submitted as seller, the seller is your own organization {own.name} "
                        f"({own.credit_code or 'no credit code on record'}); a broker submits as broker",
                        "type": "not_own_contract",
                    }
                )
                continue
            verification, org_id = "self", own.id
        elif own is not None and code is not None and code == own_code:
            verification, org_id = "self", own.id
        elif code is not None and code in verified:
            verification, org_id = "directory", verified[code].id
        elif claim.declared_unverified or submitted_as == "seller":
            verification, org_id = "unverified", None
        else:
            refused.append(
                {
                    "field": f"{claim.prefix}.credit_code",
                    "message": "not the credit code of a verified organization in the directory; declare the party "
                    "unverified (unverified: true; in an import the column "
                    f"{claim.prefix}_unverified) for the registrar to check it",
                    "type": "party_not_verified",
                }
            )
            continue
        if party["org_id"] is not None and party["org_id"] != org_id:
            errors.add(
                f"{claim.prefix}.org_id",
                "must be the organization of the party's credit code" if org_id else "only for a verified party",
                "party_mismatch",
            )
        party["org_id"] = org_id
        party["verification"] = verification
    return refused


def _refuse(refused: list[FieldError]) -> None:
    if not refused:
        return
    own = any(e["type"] == "not_own_contract" for e in refused)
    raise Forbidden(
        "; ".join(f"{e['field']}: {e['message']}" for e in refused),
        slug="not-own-contract" if own else "party-not-verified",
        errors=refused,
    )


async def _verify_submission(
    session: AsyncSession, claims: Sequence[_Claim], *, submitted_as: str, own_org_id: uuid.UUID, errors: _Errors
) -> None:
    """_verify_parties with the directory read (the submitter's card, the parties' verified organizations)."""
    own = await _own_card(session, own_org_id)
    codes = [c.party["credit_code"] for c in claims if c.party["credit_code"]]
    verified = await directory.verified_by_credit_code(session=session, codes=codes)
    refused = _verify_parties(claims, submitted_as=submitted_as, own=own, verified=verified, errors=errors)
    errors.raise_if_any()
    _refuse(refused)


def _deal_verification(deal: proposals_service.Deal, party: dict[str, Any], own_org_id: uuid.UUID) -> None:
    """A party of an agreed deal is one of its two organizations (_match_deal checked the credit code)."""
    card = deal.seller if party["org_id"] == deal.seller_org_id else deal.buyer
    if party["org_id"] == own_org_id:
        party["verification"] = "self"
    elif card is not None and card.verified:
        party["verification"] = "directory"
    else:
        party["verification"] = "unverified"


async def _route(session: AsyncSession, office_id: uuid.UUID | None, seller_region: str) -> Row:
    if office_id is not None:
        office = await offices_service.get_office_or_none(session=session, office_id=office_id)
        if office is None or not office["active"]:
            raise ValidationFailed.field("office_id", "no such active registration office", type="office_unknown")
        return office
    office = await offices_service.office_for_region(session=session, region_code=seller_region)
    if office is None:
        raise ValidationFailed.field(
            "seller.region_code",
            "no registration office serves this region yet; name one in office_id",
            type="no_office",
        )
    return office


async def _duplicate_conflict(session: AsyncSession, key: str) -> None:
    existing = await ContractRepository.from_session(session).id_by_dedupe_key(key)
    if existing is not None:
        raise Conflict(
            "A contract with the same seller, buyer, contract number and signing date exists.",
            slug="duplicate-contract",
            extra={"existing_id": str(existing), "existing_url": f"/market/contracts/{existing}"},
        )


def _match_deal(
    deal: proposals_service.Deal, fields: dict[str, Any], seller: dict[str, Any], buyer: dict[str, Any], errors: _Errors
) -> None:
    """A contract of an agreed proposal names the deal's two organizations (credit codes as the directory has
    them) and its listings; the parties' org ids and missing listing ids are taken from the deal."""
    for prefix, party, card, org_id in (
        ("seller", seller, deal.seller, deal.seller_org_id),
        ("buyer", buyer, deal.buyer, deal.buyer_org_id),
    ):
        if card is None:
            raise Conflict(
                f"The deal's {prefix} organization is not in the market's directory yet; retry shortly.",
                slug="party-not-in-directory",
            )
        expected = _code(card.credit_code) if card.credit_code else None
        if party["credit_code"] != expected:
            errors.add(
                f"{prefix}.credit_code",
                f"must be the credit code of the deal's {prefix}, {card.name} ({expected or 'none on record'})",
                "party_mismatch",
            )
        if party["org_id"] not in (None, org_id):
            errors.add(f"{prefix}.org_id", f"must be the deal's {prefix} organization {org_id}", "party_mismatch")
        party["org_id"] = org_id
    for name, value in (("achievement_id", deal.achievement_id), ("demand_id", deal.demand_id)):
        if fields[name] is None:
            fields[name] = value
        elif fields[name] != value:
            errors.add(name, f"must be the deal's {name.removesuffix('_id')} ({value})", "deal_mismatch")


@dataclass(frozen=True, slots=True)
class _Submission:
    """A submission validated and its parties verified: the contract's fields, its parties, its broker columns."""

    fields: dict[str, Any]
    seller: dict[str, Any]
    buyer: dict[str, Any]
    submitter: dict[str, Any]


async def _checked_submission(session: AsyncSession, principal: Principal, data: ContractCreate) -> _Submission:
    """Validate a submission and verify its parties: against the agreed deal it names, or the directory."""
    errors = _Errors()
    submitter = _submitter(principal, data)
    assert principal.org_id is not None  # _submitter refuses callers without an organization
    deal = None
    if data.proposal_id is not None:
        deal = await proposals_service.deal_for_contract(
            session=session, principal=principal, proposal_id=data.proposal_id, submitted_as=data.submitted_as
        )
    fields = _contract_fields(data.model_dump(), errors)
    seller = _party(data.seller, "seller", fields["rules_version"], errors, seller=True)
    buyer = _party(data.buyer, "buyer", fields["rules_version"], errors, seller=False)
    if deal is not None:
        _match_deal(deal, fields, seller, buyer, errors)
        # The deal's broker is credited whoever submits (a direct interest has none).
        submitter = {"broker_org_id": deal.broker_org_id, "broker_org_path": deal.broker_org_path}
        errors.raise_if_any()
        for party in (seller, buyer):
            _deal_verification(deal, party, principal.org_id)
    else:
        errors.raise_if_any()
        claims = [
            _Claim("seller", seller, data.seller.unverified),
            _Claim("buyer", buyer, data.buyer.unverified),
        ]
        await _verify_submission(
            session, claims, submitted_as=data.submitted_as, own_org_id=principal.org_id, errors=errors
        )
    return _Submission(fields=fields, seller=seller, buyer=buyer, submitter=submitter)


async def submit_contract(*, session: AsyncSession, principal: Principal, data: ContractCreate) -> ContractPublic:
    """Submit a contract for registration; 409 pointing at an existing duplicate."""
    checked = await _checked_submission(session, principal, data)
    fields, seller, buyer = checked.fields, checked.seller, checked.buyer
    office = await _route(session, data.office_id, seller["region_code"])
    columns = contract_columns(fields, seller, buyer)
    key = columns["dedupe_key"]
    await _duplicate_conflict(session, key)
    now = utcnow()
    contract_id = new_id()
    values = {
        "id": contract_id,
        "status": "submitted",
        **columns,
        **checked.submitter,
        "office_id": office["id"],
        "submitter_subject": principal.subject,
        "submitter_org_id": principal.org_id,
        "submitted_at": now,
        "proposal_id": data.proposal_id,
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }
    repo = ContractRepository.from_session(session)
    try:
        async with session.begin_nested():
            await repo.insert(values)
    except IntegrityError as exc:
        # A concurrent submission of the same contract won the unique key.
        await _duplicate_conflict(session, key)
        raise Conflict("The contract conflicts with an existing one.") from exc
    await _audit(
        session=session,
        principal=principal,
        contract_id=contract_id,
        action="submit",
        from_status=None,
        to_status="submitted",
    )
    row = await repo.get(contract_id)
    assert row is not None
    await _notify(session, row, "contract.submitted")
    return to_public(row, None)


_CORRECTABLE = ("submitted", "rejected")
# Fields a correction may set to null; every other field keeps a value.
_NULLABLE = frozenset({"valid_from", "valid_to", "achievement_id", "demand_id"})


async def _correctable(
    session: AsyncSession, principal: Principal, contract_id: uuid.UUID, if_match: str | None
) -> Row:
    """The contract the caller may correct: visible, its submitter side, not registered yet, at If-Match's version."""
    row = await _visible(session, principal, contract_id)
    if not _is_submitter_side(principal, row):
        raise Forbidden("Only the submitting side may correct a contract.")
    if row["status"] not in _CORRECTABLE:
        raise Conflict(
            f"A {row['status']} contract cannot be edited; amend or revoke it instead.", slug="invalid-status"
        )
    require_if_match(if_match, version=row["version"])
    return row


def _corrected_fields(row: Row, changes: Mapping[str, Any]) -> dict[str, Any]:
    """The contract's own fields as stored, with the correction's (the parties are corrected apart)."""
    for name, value in changes.items():
        if value is None and name not in _NULLABLE:
            raise ValidationFailed.field(name, "cannot be null", type="null")
    merged: dict[str, Any] = {
        "kind": row["kind"],
        "subkind": row["subkind"],
        "technical_field": row["technical_field"],
        "title": row["title"],
        "contract_no": row["contract_no"],
        "signed_on": row["signed_on"],
        "valid_from": row["valid_from"],
        "valid_to": row["valid_to"],
        "contract_amount_fen": row["contract_amount_fen"],
        "technology_amount_fen": row["claimed_technology_amount_fen"],
        "achievement_id": row["achievement_id"],
        "demand_id": row["demand_id"],
        "attachments": row["attachments"],
    }
    merged.update({k: v for k, v in changes.items() if k not in ("seller", "buyer")})
    return merged


def _stored_party(row: Row, prefix: str) -> PartyCreate:
    """A party as stored, in the shape a correction sends it."""
    return PartyCreate(**_stored_party_fields(row, prefix), unverified=row[f"{prefix}_verification"] == "unverified")


async def _verify_correction(
    session: AsyncSession,
    row: Row,
    data: ContractUpdate,
    *,
    fields: dict[str, Any],
    parties: Mapping[str, dict[str, Any]],
    errors: _Errors,
) -> None:
    """The corrected contract still concludes its deal, or its corrected parties pass verification again."""
    if row["proposal_id"] is not None:
        # A correction cannot move the contract away from the deal it concludes.
        deal = await proposals_service.deal_of(session=session, proposal_id=row["proposal_id"])
        if deal is not None:
            _match_deal(deal, fields, parties["seller"], parties["buyer"], errors)
        errors.raise_if_any()
        return
    # A corrected party is verified again under the rule it was submitted by (as seller when the submitting
    # organization is the seller, else as broker): a correction cannot name another organization's contract.
    errors.raise_if_any()
    given = {"seller": data.seller, "buyer": data.buyer}
    claims = [_Claim(p, parties[p], party.unverified) for p, party in given.items() if party is not None]
    if claims and row["submitter_org_id"] is not None:
        submitted_as = "seller" if row["seller_org_id"] == row["submitter_org_id"] else "broker"
        await _verify_submission(
            session, claims, submitted_as=submitted_as, own_org_id=row["submitter_org_id"], errors=errors
        )


async def update_contract(
    *, session: AsyncSession, principal: Principal, contract_id: uuid.UUID, if_match: str | None, data: ContractUpdate
) -> ContractPublic:
    """Correct a submitted or rejected contract (its submitter side; If-Match on its version)."""
    row = await _correctable(session, principal, contract_id, if_match)
    changes = data.model_dump(exclude_unset=True)
    errors = _Errors()
    fields = _contract_fields(_corrected_fields(row, changes), errors)
    parties = {}
    for prefix, given in (("seller", data.seller), ("buyer", data.buyer)):
        party = _party(
            given if given is not None else _stored_party(row, prefix),
            prefix,
            fields["rules_version"],
            errors,
            seller=prefix == "seller",
        )
        party["verification"] = row[f"{prefix}_verification"]
        parties[prefix] = party
    await _verify_correction(session, row, data, fields=fields, parties=parties, errors=errors)
    values = {**contract_columns(fields, parties["seller"], parties["buyer"]), "updated_at": utcnow()}
    if values["seller_region_code"] != row["seller_region_code"]:
        values["office_id"] = (await _route(session, None, values["seller_region_code"]))["id"]
    if values["dedupe_key"] != row["dedupe_key"]:
        await _duplicate_conflict(session, values["dedupe_key"])
    repo = ContractRepository.from_session(session)
    if not await repo.update_if_version(contract_id, version=row["version"], values=values):
        raise PreconditionFailed("The contract changed since you read it; fetch it again.")
    await _audit(
        session=session,
        principal=principal,
        contract_id=contract_id,
        action="update",
        from_status=row["status"],
        to_status=row["status"],
        detail={"fields": sorted(changes)},
    )
    return await get_contract(session=session, principal=principal, contract_id=contract_id)


async def resubmit_contract(*, session: AsyncSession, principal: Principal, contract_id: uuid.UUID) -> ContractPublic:
    """Send a rejected contract back to the office (after correcting it)."""
    row = await _visible(session, principal, contract_id)
    if not _is_submitter_side(principal, row):
        raise Forbidden("Only the submitting side may resubmit a contract.")
    await _transition(
        session, row, ("rejected",), {"status": "submitted", "submitted_at": utcnow(), "rejection_reason": None}
    )
    await _audit(
        session=session,
        principal=principal,
        contract_id=contract_id,
        action="resubmit",
        from_status="rejected",
        to_status="submitted",
    )
    await _notify(session, row, "contract.submitted", resubmitted=True)
    return await get_contract(session=session, principal=principal, contract_id=contract_id)


# -- the registrar's workflow ------------------------------------------------------------------------------------------


async def _transition(session: AsyncSession, row: Row, from_statuses: Sequence[str], values: Mapping[str, Any]) -> None:
    if row["status"] not in from_statuses:
        raise Conflict(f"Not possible on a {row['status']} contract.", slug="invalid-status")
    changed = await ContractRepository.from_session(session).transition(
        row["id"], from_statuses=from_statuses, values={"updated_at": utcnow(), **values}
    )
    if not changed:
        raise Conflict("The contract changed meanwhile; fetch it again.", slug="invalid-status")


@dataclass(frozen=True, slots=True)
class _Delta:
    action: str
    effective_on: dt.date
    count: int
    contract_fen: int
    technology_fen: int
    reason: str | None = None


async def _record_delta(session: AsyncSession, principal: Principal, row: Row, delta: _Delta) -> None:
    await ContractRepository.from_session(session).insert_deltas(
        [
            delta_row(
                id=new_id(),
                contract_id=row["id"],
                action=delta.action,
                effective_on=delta.effective_on,
                count=delta.count,
                contract_amount_fen=delta.contract_fen,
                technology_amount_fen=delta.technology_fen,
                reason=delta.reason,
                actor_subject=principal.subject,
                created_at=utcnow(),
            )
        ]
    )


async def register_contract(
    *, session: AsyncSession, principal: Principal, contract_id: uuid.UUID, data: RegisterRequest
) -> ContractPublic:
    """Register a submitted contract: confirm the technology amount, number it, count it."""
    if offices_service.is_registrar(principal) and principal.org_id is not None:
        outcome = await ContractRepository.from_session(session).register(
            Registration(
                contract_id=contract_id,
                office_id=principal.org_id,
                technology_amount_fen=data.technology_amount_fen,
                registered_on=today_in_china(),
                now=utcnow(),
                registrar_subject=principal.subject,
                request_id=current_request_id(),
                event_id=new_id(),
                delta_id=new_id(),
            )
        )
        if outcome.row is not None:
            return await _registered(session, outcome.row)
        if outcome.serial is not None:
            raise Conflict("The office has used every serial number of this year.", slug="serials-exhausted")
    await _refuse_registration(session, principal, contract_id, data)


async def _registered(session: AsyncSession, row: Row) -> ContractPublic:
    """Tell the parties, and show the contract as registered just now (its one delta is the registration's)."""
    await _notify(session, row, "contract.registered", registration_no=row["registration_no"])
    registered_now = to_public(row, (1, row["contract_amount_fen"], row["technology_amount_fen"]))
    return (await with_follow_ups(session=session, contracts=[registered_now]))[0]


async def _refuse_registration(
    session: AsyncSession, principal: Principal, contract_id: uuid.UUID, data: RegisterRequest
) -> NoReturn:
    """Nothing was registrable: name the reason (404, 403, 422 or 409)."""
    row, _ = await _office_contract(session, principal, contract_id)
    technology = (
        row["claimed_technology_amount_fen"] if data.technology_amount_fen is None else data.technology_amount_fen
    )
    if technology > row["contract_amount_fen"]:
        raise ValidationFailed.field(
            "technology_amount_fen", "cannot exceed the contract amount", type="amount_exceeds"
        )
    if row["status"] != "submitted":
        raise Conflict(f"Not possible on a {row['status']} contract.", slug="invalid-status")
    raise Conflict("The contract changed meanwhile; fetch it again.", slug="invalid-status")


async def reject_contract(
    *, session: AsyncSession, principal: Principal, contract_id: uuid.UUID, data: RejectRequest
) -> ContractPublic:
    """未予登记: refuse a submitted contract with a reason."""
    row, _ = await _office_contract(session, principal, contract_id)
    reason = normalize_text(data.reason)
    if not reason:
        raise ValidationFailed.field("reason", "must not be blank", type="blank")
    await _transition(session, row, ("submitted",), {"status": "rejected", "rejection_reason": reason})
    await _audit(
        session=session,
        principal=principal,
        contract_id=contract_id,
        action="reject",
        from_status="submitted",
        to_status="rejected",
        detail={"reason": reason},
    )
    await _notify(session, row, "contract.rejected", reason=reason)
    return await get_contract(session=session, principal=principal, contract_id=contract_id)


def _check_effective(day: dt.date, row: Row) -> None:
    if day > today_in_china():
        raise ValidationFailed.field("effective_on", "cannot be in the future", type="date_in_future")
    if row["registered_on"] is not None and day < row["registered_on"]:
        raise ValidationFailed.field("effective_on", "cannot be before the registration date", type="date_too_early")


async def _current(session: AsyncSession, contract_id: uuid.UUID) -> tuple[int, int, int]:
    amounts = await ContractRepository.from_session(session).current_amounts([contract_id])
    return amounts.get(contract_id, (0, 0, 0))


async def amend_contract(
    *, session: AsyncSession, principal: Principal, contract_id: uuid.UUID, data: AmendRequest
) -> ContractPublic:
    """Record a supplementary agreement: a signed delta of the amounts, dated when it takes effect."""
    row, _ = await _office_contract(session, principal, contract_id)
    if row["status"] not in REGISTERED:
        raise Conflict(f"Only registered contracts are amended; this one is {row['status']}.", slug="invalid-status")
    _check_effective(data.effective_on, row)
    if data.technology_amount_fen > data.contract_amount_fen:
        raise ValidationFailed.field(
            "technology_amount_fen", "cannot exceed the contract amount", type="amount_exceeds"
        )
    _, contract_now, technology_now = await _current(session, contract_id)
    delta = _Delta(
        "amend",
        data.effective_on,
        0,
        data.contract_amount_fen - contract_now,
        data.technology_amount_fen - technology_now,
        normalize_text(data.reason) if data.reason else None,
    )
    if delta.contract_fen == 0 and delta.technology_fen == 0:
        raise ValidationFailed.field("contract_amount_fen", "the amendment changes no amount", type="no_change")
    detail = {
        "effective_on": data.effective_on.isoformat(),
        "contract_amount_delta_fen": delta.contract_fen,
        "technology_amount_delta_fen": delta.technology_fen,
    }
    return await _change_registered(session, principal, row, to_status="amended", delta=delta, detail=detail)


async def revoke_contract(
    *, session: AsyncSession, principal: Principal, contract_id: uuid.UUID, data: RevokeRequest
) -> ContractPublic:
    """Revoke a registration: subtract the contract and its current amounts from the day it takes effect."""
    row, _ = await _office_contract(session, principal, contract_id)
    if row["status"] not in REGISTERED:
        raise Conflict(f"Only registered contracts are revoked; this one is {row['status']}.", slug="invalid-status")
    effective_on = data.effective_on or today_in_china()
    _check_effective(effective_on, row)
    count, contract_now, technology_now = await _current(session, contract_id)
    reason = normalize_text(data.reason)
    if not reason:
        raise ValidationFailed.field("reason", "must not be blank", type="blank")
    delta = _Delta("revoke", effective_on, -count, -contract_now, -technology_now, reason)
    detail = {"effective_on": effective_on.isoformat(), "reason": reason}
    return await _change_registered(session, principal, row, to_status="revoked", delta=delta, detail=detail)


async def _change_registered(
    session: AsyncSession, principal: Principal, row: Row, *, to_status: str, delta: _Delta, detail: dict[str, Any]
) -> ContractPublic:
    """An amendment or revocation: the status, its history row and its signed delta, in the request transaction."""
    await _transition(session, row, REGISTERED, {"status": to_status})
    await _audit(
        session=session,
        principal=principal,
        contract_id=row["id"],
        action=delta.action,
        from_status=row["status"],
        to_status=to_status,
        detail=detail,
    )
    await _record_delta(session, principal, row, delta)
    return await get_contract(session=session, principal=principal, contract_id=row["id"])
