"""Business rules of proposals (撮合) and direct interest: who may propose, two-sided consent, contacts, expiry.

States::

    broker:    proposed ──seller accepts──► seller_accepted ──buyer accepts──►  agreed
                   └──────buyer accepts──► buyer_accepted  ──seller accepts─►  agreed
    interest:  buyer_accepted (the enterprise asked) ──seller accepts──► agreed
    open (proposed | seller_accepted | buyer_accepted) ──► declined (a side) | withdrawn (the proposer) | expired

Every transition bumps ``version`` and appends an audit row (entity kind ``proposal``) in the request's
transaction. Expiry: an open proposal past ``expires_at`` is recorded as expired by the maintenance sweep, or by
the first GET or list that meets it, whichever comes first (actor ``system`` either way); a transition on it is
409 ``proposal-expired`` even before that.

Contacts (the listings' private contact) are shown only once a proposal is agreed: the seller side sees the
buyer's, the buyer side the seller's, the broker and platform admins both.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.market.audit import service as audit_service
from services.market.audit.schemas import AuditEventPublic
from services.market.concurrency import require_if_match
from services.market.directory import service as directory
from services.market.directory.schemas import OrganizationCard
from services.market.listings import service as listings_service
from services.market.listings.kinds import ACHIEVEMENT, DEMAND, ListingKind
from services.market.listings.models import Achievement, Listing
from services.market.notifications import service as notifications_service
from services.market.proposals import draft as drafts
from services.market.proposals.models import OPEN_STATUSES, Proposal
from services.market.proposals.repository import ProposalRepository
from services.market.proposals.schemas import (
    ContractDraft,
    DeclineRequest,
    InterestCreate,
    ProposalContacts,
    ProposalCreate,
    ProposalPublic,
)
from shared.clock import today_in_china, utcnow
from shared.errors import Conflict, Forbidden, NotFound, ValidationFailed
from shared.pagination import Page, cursor_after, cursor_id
from shared.security import Principal, acts_as_broker, is_org_path

__all__ = [
    "BROKER_ORG_KINDS",
    "ENTITY_KIND",
    "Deal",
    "accept",
    "authorize_broker",
    "contract_draft",
    "create_proposal",
    "deal_for_contract",
    "deal_of",
    "decline",
    "expire_due",
    "express_interest",
    "get_proposal",
    "list_proposals",
    "notify_expiring",
    "proposal_history",
    "to_public",
    "to_public_many",
    "withdraw",
]

ENTITY_KIND = "proposal"
BROKER_ORG_KINDS = frozenset({"transfer_institution", "sub_center", "center"})
INTEREST_ORG_KINDS = frozenset({"enterprise"})
MEMBER_ROLES = ("member", "org_admin")
ROLES = ("seller", "buyer", "broker")
EXPIRY_BATCH = 500
# An open proposal is announced as expiring this long before its expires_at (issue 14: "expiring in 3 days").
EXPIRING_NOTICE = dt.timedelta(days=3)
# The listing states a deal may be proposed, expressed or accepted in.
DEAL_STATES = {
    ACHIEVEMENT.name: frozenset({"published", "negotiating"}),
    DEMAND.name: frozenset({"published", "matched"}),
}

Side = Literal["seller", "buyer"]


# -- who is who ----------------------------------------------------------------------------------------------------


def _parties_of(principal: Principal, row: Proposal) -> set[str]:
    """The roles the caller's organization plays in ``row``: seller, buyer and/or broker."""
    org = principal.org_id
    if org is None:
        return set()
    orgs = {"seller": row.seller_org_id, "buyer": row.buyer_org_id, "broker": row.broker_org_id}
    return {role for role, org_id in orgs.items() if org_id == org}


def _sees(principal: Principal, row: Proposal) -> bool:
    return bool(_parties_of(principal, row)) or principal.has_role("platform_admin")


def _acting_side(principal: Principal, row: Proposal) -> Side:
    """The side (seller or buyer) the caller consents for: an org_admin or member of that side's organization."""
    parties = _parties_of(principal, row)
    if principal.has_role(*MEMBER_ROLES):
        if "seller" in parties:
            return "seller"
        if "buyer" in parties:
            return "buyer"
    raise Forbidden(
        "Only an org_admin or member of the seller's or the buyer's organization accepts or declines a proposal.",
        slug="not-a-side",
    )


def _is_overdue(row: Proposal, now: dt.datetime | None = None) -> bool:
    return row.status in OPEN_STATUSES and row.expires_at <= (now or utcnow())


# -- reading -------------------------------------------------------------------------------------------------------


def _money(row: Proposal) -> dict[str, Any] | None:
    if row.price_kind is None:
        return None
    return {"kind": row.price_kind, "min_fen": row.price_min_fen, "max_fen": row.price_max_fen}


def _contacts_shown(principal: Principal, row: Proposal) -> tuple[bool, bool]:
    """Whether the caller sees the seller's and the buyer's contact: only on agreed proposals, the other side's."""
    if row.status != "agreed":
        return False, False
    if principal.has_role("platform_admin"):
        return True, True
    parties = _parties_of(principal, row)
    return bool(parties & {"buyer", "broker"}), bool(parties & {"seller", "broker"})


def _view(row: Proposal, contacts: ProposalContacts) -> ProposalPublic:
    return ProposalPublic.model_validate(
        {
            "id": row.id,
            "origin": row.origin,
            "status": row.status,
            "version": row.version,
            "achievement_id": row.achievement_id,
            "demand_id": row.demand_id,
            "seller_org_id": row.seller_org_id,
            "buyer_org_id": row.buyer_org_id,
            "broker_org_id": row.broker_org_id,
            "broker_subject": row.broker_subject,
            "note": row.note,
            "cooperation_mode": row.cooperation_mode,
            "price": _money(row),
            "decline_reason": row.decline_reason,
            "declined_side": row.declined_side,
            "expires_at": row.expires_at,
            "seller_accepted_at": row.seller_accepted_at,
            "buyer_accepted_at": row.buyer_accepted_at,
            "agreed_at": row.agreed_at,
            "created_at": row.created_at,
            "updated_at": row.updated_at,
            "contacts": contacts,
        }
    )


async def to_public_many(
    *, session: AsyncSession, rows: Sequence[Proposal], principal: Principal
) -> list[ProposalPublic]:
    """The views of ``rows`` for ``principal``; the listings' contacts are read (in two queries) only where shown."""
    shown = {row.id: _contacts_shown(principal, row) for row in rows}
    achievement_ids = [row.achievement_id for row in rows if shown[row.id][0]]
    demand_ids = [row.demand_id for row in rows if shown[row.id][1] and row.contact is None and row.demand_id]
    achievements = await listings_service.listings_by_id(session=session, kind=ACHIEVEMENT, listing_ids=achievement_ids)
    demands = await listings_service.listings_by_id(session=session, kind=DEMAND, listing_ids=demand_ids)
    views = []
    for row in rows:
        seller_shown, buyer_shown = shown[row.id]
        seller = achievements[row.achievement_id].contact if seller_shown else None
        buyer: dict[str, Any] | None = None
        if buyer_shown:
            buyer = row.contact if row.contact is not None else _contact_of(demands, row.demand_id)
        views.append(_view(row, ProposalContacts.model_validate({"seller": seller, "buyer": buyer})))
    return views


def _contact_of(listings: dict[uuid.UUID, Listing], listing_id: uuid.UUID | None) -> dict[str, Any] | None:
    listing = listings.get(listing_id) if listing_id is not None else None
    return listing.contact if listing is not None else None


async def to_public(*, session: AsyncSession, row: Proposal, principal: Principal) -> ProposalPublic:
    """The view of one proposal for ``principal`` (contacts per the reveal rule)."""
    return (await to_public_many(session=session, rows=[row], principal=principal))[0]


async def _load(
    session: AsyncSession, *, principal: Principal, proposal_id: uuid.UUID, for_update: bool = False
) -> Proposal:
    """A proposal the caller may see: its three parties' organizations and platform admins (404 for others)."""
    row = await ProposalRepository(session).get(proposal_id, for_update=for_update)
    if row is None or not _sees(principal, row):
        raise NotFound(f"No proposal {proposal_id} that you can see.")
    return row


async def get_proposal(*, session: AsyncSession, principal: Principal, proposal_id: uuid.UUID) -> Proposal:
    """One proposal the caller may see; an overdue open one is recorded as expired first."""
    row = await _load(session, principal=principal, proposal_id=proposal_id)
    if _is_overdue(row):
        await _expire(session, row)
    return row


async def list_proposals(
    *,
    session: AsyncSession,
    principal: Principal,
    role: str | None,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> Page[ProposalPublic]:
    """Proposals where the caller's organization is ``role`` (default: any of the three), newest first."""
    if principal.org_id is None:
        raise Forbidden("Proposals are listed for an organization; this caller has none.")
    before = cursor_id(cursor)
    await expire_due(session=session)
    rows = await ProposalRepository(session).page(
        org_id=principal.org_id,
        roles=[role] if role is not None else list(ROLES),
        status=status,
        before_id=before,
        limit=limit + 1,
    )
    next_cursor = cursor_after(rows, limit, id_of=lambda row: row.id)
    items = await to_public_many(session=session, rows=rows[:limit], principal=principal)
    return Page[ProposalPublic](items=items, next_cursor=next_cursor)


async def proposal_history(
    *, session: AsyncSession, principal: Principal, proposal_id: uuid.UUID, limit: int, cursor: str | None
) -> Page[AuditEventPublic]:
    """Every transition of a proposal with actor and time, oldest first (parties and platform admins)."""
    row = await get_proposal(session=session, principal=principal, proposal_id=proposal_id)
    return await audit_service.history(
        session=session, entity_kind=ENTITY_KIND, entity_id=row.id, limit=limit, cursor=cursor
    )


# -- creating --------------------------------------------------------------------------------------------------------


async def _deal_listing(session: AsyncSession, kind: ListingKind, listing_id: uuid.UUID, field: str) -> Listing:
    """A listing a deal may name (published, or in negotiation / matched), else 422 naming ``field``."""
    row = await listings_service.peek_listing(session=session, kind=kind, listing_id=listing_id)
    # Drafts and other private states count as unknown: their existence is the owner's business.
    if row is None or listings_service.access_of(kind, None, row) != "public":
        raise ValidationFailed.field(field, f"no published {kind.name} with this id", type="listing_unavailable")
    allowed = DEAL_STATES[kind.name]
    if row.status not in allowed:
        raise ValidationFailed.field(
            field, f"must be {' or '.join(sorted(allowed))}, not {row.status}", type="listing_unavailable"
        )
    if await _owner_suspended(session, row):
        raise ValidationFailed.field(
            field, f"the {kind.name}'s owner organization is suspended", type="owner_suspended"
        )
    return row


async def _owner_suspended(session: AsyncSession, row: Listing) -> bool:
    """Whether auth suspended (or rejected) the listing's owner: its listings left search and take no deals."""
    card = await directory.get(session=session, org_id=row.owner_org_id)
    return card is not None and card.status in ("suspended", "rejected")


def authorize_broker(principal: Principal) -> uuid.UUID:
    """The caller's organization, if the caller acts as a broker: the broker role at a verified transfer institution,
    sub-center or the center (403 otherwise). Proposals and contracts submitted as broker both ask this."""
    if principal.org_id is None or not acts_as_broker(principal):
        raise Forbidden(
            "Proposals and contracts submitted as broker need a technology broker (the broker role).",
            slug="broker-role-required",
        )
    if principal.org_kind not in BROKER_ORG_KINDS:
        raise Forbidden(
            "Brokers act for a transfer institution, a sub-center or the center.",
            slug="organization-kind-not-allowed",
        )
    if not principal.org_verified:
        raise Forbidden(
            "Your organization must be verified before it acts as a broker.", slug="organization-not-verified"
        )
    return principal.org_id


async def _broker_path(session: AsyncSession, principal: Principal, org_id: uuid.UUID) -> str:
    """The broker organization's 1+4+N path: the directory's, else the token's (the statistics credit it)."""
    card = await directory.get(session=session, org_id=org_id)
    if card is not None:
        return card.path
    if principal.org_path and is_org_path(principal.org_path):
        return principal.org_path
    return f"/{org_id}/"


def _money_columns(price: Any) -> dict[str, Any]:
    if price is None:
        return {"price_kind": None, "price_min_fen": None, "price_max_fen": None}
    return {"price_kind": str(price.kind), "price_min_fen": price.min_fen, "price_max_fen": price.max_fen}


def _already_open(existing: Proposal) -> Conflict:
    return Conflict(
        "An open proposal for the same listings already exists.",
        slug="proposal-exists",
        extra={"existing_id": str(existing.id)},
    )


async def _free_slot(session: AsyncSession, existing: Proposal | None) -> None:
    """409 when ``existing`` is still open; an overdue one is recorded as expired and makes room."""
    if existing is None:
        return
    if _is_overdue(existing):
        await _expire(session, existing)
        return
    raise _already_open(existing)


async def _insert(session: AsyncSession, row: Proposal, principal: Principal) -> None:
    repository = ProposalRepository(session)
    try:
        async with session.begin_nested():
            await repository.add(row)
    except IntegrityError as exc:
        # A concurrent twin took the open slot between our check and our insert.
        twin = await repository.open_twin_of(row)
        if twin is not None:
            raise _already_open(twin) from exc
        raise Conflict("The proposal conflicts with another one; retry.", slug="proposal-exists") from exc
    await audit_service.record(
        session=session,
        entity_kind=ENTITY_KIND,
        entity_id=row.id,
        action="created",
        from_status=None,
        to_status=row.status,
        actor=principal,
        details={"origin": row.origin},
    )
    if row.origin == "broker":
        await _notify(session, row, "proposal.received", sides=("seller", "buyer"), broker=False)
    else:
        await _notify(session, row, "interest.received", sides=("seller",), broker=False)


# -- notifications ---------------------------------------------------------------------------------------------------

_NOTICE_TITLES = {
    "proposal.received": "收到新的撮合方案",
    "interest.received": "有企业对您的成果感兴趣",
    "proposal.accepted": "对方已接受撮合方案",
    "proposal.agreed": "撮合达成，双方联系方式已可查看",
    "proposal.declined": "撮合方案被拒绝",
    "proposal.expiring": "撮合方案将在3天内过期，请尽快答复",
}


def _notice_data(row: Proposal, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """The public data of a proposal notification: ids and states, never contacts."""
    return {
        "proposal_id": str(row.id),
        "origin": row.origin,
        "status": row.status,
        "achievement_id": str(row.achievement_id),
        "demand_id": str(row.demand_id) if row.demand_id is not None else None,
        **(details or {}),
    }


async def _notify(
    session: AsyncSession,
    row: Proposal,
    kind: str,
    *,
    sides: Sequence[Side],
    broker: bool,
    details: dict[str, Any] | None = None,
) -> None:
    """Tell the named sides' organizations (every member) and the proposing broker (the user), in this
    transaction. The data is public: ids and states, never contacts."""
    orgs = {"seller": row.seller_org_id, "buyer": row.buyer_org_id}
    await notifications_service.notify(
        session=session,
        type=kind,
        title=_NOTICE_TITLES[kind],
        subject_type=ENTITY_KIND,
        subject_id=row.id,
        data=_notice_data(row, details),
        users=[row.broker_subject] if broker else (),
        orgs=[(orgs[side], None) for side in sides],
    )


async def create_proposal(
    *, session: AsyncSession, principal: Principal, payload: ProposalCreate, ttl: dt.timedelta
) -> Proposal:
    """A broker proposes a match between a published demand and a published achievement of two organizations."""
    broker_org_id = authorize_broker(principal)
    if payload.demand_id == payload.achievement_id:
        raise ValidationFailed.field("demand_id", "a listing cannot be matched with itself", type="same_listing")
    achievement = await _deal_listing(session, ACHIEVEMENT, payload.achievement_id, "achievement_id")
    demand = await _deal_listing(session, DEMAND, payload.demand_id, "demand_id")
    if achievement.owner_org_id == demand.owner_org_id:
        raise ValidationFailed.field(
            "demand_id", "the demand and the achievement belong to the same organization", type="same_organization"
        )
    repository = ProposalRepository(session)
    await _free_slot(
        session,
        await repository.open_broker_proposal(
            broker_org_id=broker_org_id, demand_id=demand.id, achievement_id=achievement.id
        ),
    )
    now = utcnow()
    row = Proposal(
        origin="broker",
        status="proposed",
        broker_org_id=broker_org_id,
        broker_org_path=await _broker_path(session, principal, broker_org_id),
        broker_subject=principal.subject,
        demand_id=demand.id,
        achievement_id=achievement.id,
        seller_org_id=achievement.owner_org_id,
        buyer_org_id=demand.owner_org_id,
        note=payload.note,
        cooperation_mode=str(payload.cooperation_mode),
        **_money_columns(payload.price),
        expires_at=now + ttl,
        version=1,
        created_at=now,
        updated_at=now,
    )
    await _insert(session, row, principal)
    return row


def _authorize_interest(principal: Principal) -> uuid.UUID:
    if principal.org_id is None or not principal.has_role(*MEMBER_ROLES):
        raise Forbidden("Interest is expressed by a member of an organization.")
    if principal.org_kind not in INTEREST_ORG_KINDS:
        raise Forbidden(
            "Direct interest is for enterprises; others reach an achievement through a broker.",
            slug="organization-kind-not-allowed",
        )
    if not principal.org_verified:
        raise Forbidden(
            "Your organization must be verified before it expresses interest.", slug="organization-not-verified"
        )
    return principal.org_id


async def _interest_target(session: AsyncSession, achievement_id: uuid.UUID) -> Listing:
    row = await listings_service.peek_listing(session=session, kind=ACHIEVEMENT, listing_id=achievement_id)
    if row is None or listings_service.access_of(ACHIEVEMENT, None, row) != "public":
        raise NotFound(f"No published achievement {achievement_id}.")
    if row.status not in DEAL_STATES[ACHIEVEMENT.name]:
        raise Conflict(
            f"An achievement in status {row.status} takes no more interest.",
            slug="listing-unavailable",
            extra={"current_status": row.status},
        )
    if await _owner_suspended(session, row):
        raise Conflict("The achievement's owner organization is suspended.", slug="owner-suspended")
    return row


async def express_interest(
    *,
    session: AsyncSession,
    principal: Principal,
    achievement_id: uuid.UUID,
    payload: InterestCreate,
    ttl: dt.timedelta,
) -> Proposal:
    """An enterprise asks for an achievement: a proposal without broker, already accepted by the buyer."""
    buyer_org_id = _authorize_interest(principal)
    achievement = await _interest_target(session, achievement_id)
    if achievement.owner_org_id == buyer_org_id:
        raise Conflict("Your organization owns this achievement.", slug="own-listing")
    demand: Listing | None = None
    if payload.demand_id is not None:
        demand = await _deal_listing(session, DEMAND, payload.demand_id, "demand_id")
        if demand.owner_org_id != buyer_org_id:
            raise ValidationFailed.field("demand_id", "must be one of your organization's demands", type="not_own")
    if payload.contact is None and (demand is None or demand.contact is None):
        message = "required without demand_id" if demand is None else "required: your demand has no contact"
        raise ValidationFailed.field("contact", message, type="missing")
    repository = ProposalRepository(session)
    await _free_slot(session, await repository.open_interest(buyer_org_id=buyer_org_id, achievement_id=achievement.id))
    now = utcnow()
    row = Proposal(
        origin="interest",
        status="buyer_accepted",
        demand_id=demand.id if demand is not None else None,
        achievement_id=achievement.id,
        seller_org_id=achievement.owner_org_id,
        buyer_org_id=buyer_org_id,
        note=payload.note,
        cooperation_mode=str(payload.cooperation_mode) if payload.cooperation_mode is not None else None,
        **_money_columns(payload.price),
        contact=payload.contact.model_dump(mode="json") if payload.contact is not None else None,
        expires_at=now + ttl,
        buyer_accepted_at=now,
        version=1,
        created_at=now,
        updated_at=now,
    )
    await _insert(session, row, principal)
    return row


# -- transitions -----------------------------------------------------------------------------------------------------


async def _change(
    session: AsyncSession,
    row: Proposal,
    *,
    status: str,
    action: str,
    actor: Principal | None,
    details: dict[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> None:
    previous = row.status
    row.status = status
    row.version += 1
    row.updated_at = now or utcnow()
    await ProposalRepository(session).flush()
    await audit_service.record(
        session=session,
        entity_kind=ENTITY_KIND,
        entity_id=row.id,
        action=action,
        from_status=previous,
        to_status=status,
        actor=actor,
        details=details,
    )


async def _expire(session: AsyncSession, row: Proposal) -> None:
    await _change(session, row, status="expired", action="expired", actor=None)


async def expire_due(*, session: AsyncSession, limit: int = EXPIRY_BATCH) -> int:
    """Record open proposals past their expiry as expired; returns how many (the maintenance sweep)."""
    rows = await ProposalRepository(session).due_for_expiry(now=utcnow(), limit=limit)
    for row in rows:
        await _expire(session, row)
    return len(rows)


def _expiring_notice(row: Proposal) -> notifications_service.Notice:
    """To the sides that have not accepted yet (the others have nothing left to do) and the proposing broker."""
    orgs = [
        (org_id, None)
        for org_id, accepted_at in (
            (row.seller_org_id, row.seller_accepted_at),
            (row.buyer_org_id, row.buyer_accepted_at),
        )
        if accepted_at is None
    ]
    expires_at = row.expires_at.astimezone(dt.UTC).isoformat()
    return notifications_service.Notice(
        # The expiry instant is the occasion: a proposal whose expiry is moved later is announced again.
        occasion=expires_at,
        title=_NOTICE_TITLES["proposal.expiring"],
        subject_type=ENTITY_KIND,
        subject_id=row.id,
        data=_notice_data(row, {"expires_at": expires_at}),
        users=[row.broker_subject],
        orgs=orgs,
    )


async def notify_expiring(
    *,
    session: AsyncSession,
    now: dt.datetime | None = None,
    batch: int = EXPIRY_BATCH,
) -> int:
    """``proposal.expiring`` for every open proposal that expires within 3 days (EXPIRING_NOTICE) of ``now`` (default:
    the current instant), once per proposal and expiry instant; returns how many were announced (maintenance job)."""
    now = now or utcnow()
    repository = ProposalRepository(session)
    announced = 0
    after_id: uuid.UUID | None = None
    while True:
        rows = await repository.expiring(after=now, until=now + EXPIRING_NOTICE, after_id=after_id, limit=batch)
        notices = [_expiring_notice(row) for row in rows]
        announced += await notifications_service.notify_once(
            session=session, type="proposal.expiring", notices=notices, now=now
        )
        if len(rows) < batch:
            return announced
        after_id = rows[-1].id


async def _load_for_transition(session: AsyncSession, *, principal: Principal, proposal_id: uuid.UUID) -> Proposal:
    return await _load(session, principal=principal, proposal_id=proposal_id, for_update=True)


def _require_open(row: Proposal, action: str) -> None:
    """409 unless ``row`` still waits for consent. An overdue one is expired even before the sweep records it (the
    error rolls the request back, so nothing is written here: the next GET or sweep records it)."""
    if _is_overdue(row):
        raise Conflict(
            f"The proposal expired at {row.expires_at.isoformat()}: too late to {action} it.",
            slug="proposal-expired",
            extra={"current_status": "expired"},
        )
    if row.status not in OPEN_STATUSES:
        raise Conflict(
            f"Cannot {action} a proposal in status {row.status}.",
            slug="illegal-transition",
            extra={"current_status": row.status, "allowed_from": list(OPEN_STATUSES)},
        )


async def _require_listings_open(session: AsyncSession, row: Proposal) -> None:
    """Consent needs the listings still on the market (the owner may have withdrawn one meanwhile)."""
    named: list[tuple[ListingKind, uuid.UUID]] = [(ACHIEVEMENT, row.achievement_id)]
    if row.demand_id is not None:
        named.append((DEMAND, row.demand_id))
    for kind, listing_id in named:
        listing = await listings_service.peek_listing(session=session, kind=kind, listing_id=listing_id)
        if (
            listing is None
            or listings_service.access_of(kind, None, listing) != "public"
            or listing.status not in DEAL_STATES[kind.name]
        ):
            raise Conflict(
                f"The {kind.name} of this proposal is no longer on the market.",
                slug="listing-unavailable",
                extra={"listing": kind.name, "listing_id": str(listing_id)},
            )


async def accept(
    *, session: AsyncSession, principal: Principal, proposal_id: uuid.UUID, if_match: str | None
) -> Proposal:
    """A side consents; the second consent makes the proposal agreed (and reveals the contacts)."""
    row = await _load_for_transition(session, principal=principal, proposal_id=proposal_id)
    side = _acting_side(principal, row)
    require_if_match(if_match, version=row.version)
    _require_open(row, "accept")
    accepted_at = {"seller": row.seller_accepted_at, "buyer": row.buyer_accepted_at}
    if accepted_at[side] is not None:
        raise Conflict(f"The {side} side has already accepted.", slug="already-accepted")
    await _require_listings_open(session, row)
    now = utcnow()
    if side == "seller":
        row.seller_accepted_at = now
    else:
        row.buyer_accepted_at = now
    other: Side = "buyer" if side == "seller" else "seller"
    agreed = accepted_at[other] is not None
    if agreed:
        row.agreed_at = now
    await _change(
        session,
        row,
        status="agreed" if agreed else f"{side}_accepted",
        action="accepted",
        actor=principal,
        details={"side": side},
        now=now,
    )
    if agreed:
        await _notify(session, row, "proposal.agreed", sides=("seller", "buyer"), broker=True)
    else:
        await _notify(session, row, "proposal.accepted", sides=(other,), broker=True, details={"side": side})
    return row


async def decline(
    *,
    session: AsyncSession,
    principal: Principal,
    proposal_id: uuid.UUID,
    if_match: str | None,
    payload: DeclineRequest,
) -> Proposal:
    """A side refuses (with a reason shown to the others); final."""
    row = await _load_for_transition(session, principal=principal, proposal_id=proposal_id)
    side = _acting_side(principal, row)
    if row.origin == "interest" and side == "buyer":
        raise Forbidden("The interested organization withdraws its interest instead.", slug="withdraw-instead")
    require_if_match(if_match, version=row.version)
    _require_open(row, "decline")
    row.decline_reason = payload.reason
    row.declined_side = side
    await _change(
        session,
        row,
        status="declined",
        action="declined",
        actor=principal,
        details={"side": side, "reason": payload.reason},
    )
    other: Side = "buyer" if side == "seller" else "seller"
    await _notify(
        session, row, "proposal.declined", sides=(other,), broker=True, details={"side": side, "reason": payload.reason}
    )
    return row


async def withdraw(
    *, session: AsyncSession, principal: Principal, proposal_id: uuid.UUID, if_match: str | None
) -> Proposal:
    """The proposer takes it back: a broker of the broker organization, or a member of the interested one."""
    row = await _load_for_transition(session, principal=principal, proposal_id=proposal_id)
    parties = _parties_of(principal, row)
    if row.origin == "broker":
        allowed = "broker" in parties and acts_as_broker(principal)
        who = "a broker of the proposing organization"
    else:
        allowed = "buyer" in parties and principal.has_role(*MEMBER_ROLES)
        who = "a member of the interested organization"
    if not allowed:
        raise Forbidden(f"Only {who} withdraws this proposal.", slug="not-the-proposer")
    require_if_match(if_match, version=row.version)
    _require_open(row, "withdraw")
    await _change(session, row, status="withdrawn", action="withdrawn", actor=principal)
    return row


# -- from a deal to a contract -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Deal:
    """What a contract of an agreed proposal must match and records."""

    proposal_id: uuid.UUID
    achievement_id: uuid.UUID
    demand_id: uuid.UUID | None
    seller_org_id: uuid.UUID
    buyer_org_id: uuid.UUID
    broker_org_id: uuid.UUID | None
    broker_org_path: str | None
    seller: OrganizationCard | None
    buyer: OrganizationCard | None


async def _deal(session: AsyncSession, row: Proposal) -> Deal:
    cards = await directory.get_many(
        session=session, ids=[org for org in (row.seller_org_id, row.buyer_org_id, row.broker_org_id) if org]
    )
    broker_path = row.broker_org_path
    if row.broker_org_id is not None and row.broker_org_id in cards:
        # The directory's path is current: an institution moved in the 1+4+N tree is credited where it is now.
        broker_path = cards[row.broker_org_id].path
    return Deal(
        proposal_id=row.id,
        achievement_id=row.achievement_id,
        demand_id=row.demand_id,
        seller_org_id=row.seller_org_id,
        buyer_org_id=row.buyer_org_id,
        broker_org_id=row.broker_org_id,
        broker_org_path=broker_path,
        seller=cards.get(row.seller_org_id),
        buyer=cards.get(row.buyer_org_id),
    )


def _require_agreed(row: Proposal) -> None:
    if row.status != "agreed":
        raise Conflict(
            f"The proposal is {row.status}: only an agreed deal becomes a contract.",
            slug="proposal-not-agreed",
            extra={"current_status": row.status},
        )


async def deal_for_contract(
    *, session: AsyncSession, principal: Principal, proposal_id: uuid.UUID, submitted_as: str
) -> Deal:
    """The agreed deal a contract submission names: the submitter is its seller side or its broker (422 naming
    ``proposal_id`` otherwise, without telling whether it exists), and it must be agreed (409)."""
    row = await ProposalRepository(session).get(proposal_id)
    parties = _parties_of(principal, row) if row is not None else set()
    side = "broker" if submitted_as == "broker" else "seller"
    if row is None or side not in parties:
        raise ValidationFailed.field(
            "proposal_id",
            f"no proposal of which your organization is the {side}",
            type="proposal_unknown",
        )
    _require_agreed(row)
    return await _deal(session, row)


async def deal_of(*, session: AsyncSession, proposal_id: uuid.UUID) -> Deal | None:
    """The deal of a proposal already linked to a contract (no authorization: the contract's own rules apply)."""
    row = await ProposalRepository(session).get(proposal_id)
    return await _deal(session, row) if row is not None else None


async def contract_draft(*, session: AsyncSession, principal: Principal, proposal_id: uuid.UUID) -> ContractDraft:
    """The POST /market/contracts body of an agreed proposal, for its seller side and its broker."""
    row = await _load(session, principal=principal, proposal_id=proposal_id)
    parties = _parties_of(principal, row)
    submitted_as: Literal["seller", "broker"]
    if "seller" in parties and principal.has_role(*MEMBER_ROLES):
        submitted_as = "seller"
    elif "broker" in parties and acts_as_broker(principal):
        submitted_as = "broker"
    else:
        raise Forbidden("The contract of a deal is drafted by its seller side or its broker.", slug="not-the-submitter")
    _require_agreed(row)
    achievement = await listings_service.peek_listing(session=session, kind=ACHIEVEMENT, listing_id=row.achievement_id)
    assert isinstance(achievement, Achievement)  # listings are never deleted
    deal = await _deal(session, row)
    return drafts.build_draft(
        proposal=row,
        achievement=achievement,
        seller=deal.seller,
        buyer=deal.buyer,
        submitted_as=submitted_as,
        today=today_in_china(),
    )
