"""Endpoints of /market/proposals (撮合) and POST /market/achievements/{id}/interest (thin: parse, call, shape)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from services.market.audit.schemas import AuditEventPublic
from services.market.concurrency import IfMatchHeader, etag_for
from services.market.idempotency import IdempotencyDep, StoredResponse
from services.market.proposals import service
from services.market.proposals.models import Proposal
from services.market.proposals.schemas import (
    ContractDraft,
    DeclineRequest,
    InterestCreate,
    ProposalCreate,
    ProposalPublic,
    ProposalRole,
    ProposalStatus,
)
from shared.db import SessionDep
from shared.errors import problem_responses
from shared.pagination import DEFAULT_LIMIT, Cursor, Limit, Page
from shared.security import CurrentPrincipal, Principal

__all__ = ["interest_router", "router"]

router = APIRouter(prefix="/proposals", tags=["proposals"])
interest_router = APIRouter(prefix="/achievements", tags=["proposals"])

ProposalId = Annotated[uuid.UUID, Path(description="The proposal id (UUIDv7).")]
_TRANSITION_ERRORS = problem_responses(401, 403, 404, 409, 412, 422, 428)


def _ttl(request: Request) -> dt.timedelta:
    return dt.timedelta(days=request.app.state.settings.proposal_ttl_days)


async def _created(request: Request, session: AsyncSession, principal: Principal, row: Proposal) -> StoredResponse:
    body = (await service.to_public(session=session, row=row, principal=principal)).model_dump(mode="json")
    location = request.url_for("get_proposal", proposal_id=str(row.id)).path
    return StoredResponse(201, body, {"Location": location, "ETag": etag_for(row.version)})


async def _answer(session: AsyncSession, principal: Principal, response: Response, row: Proposal) -> ProposalPublic:
    response.headers["ETag"] = etag_for(row.version)
    return await service.to_public(session=session, row=row, principal=principal)


@router.post(
    "",
    status_code=201,
    response_model=ProposalPublic,
    name="create_proposal",
    summary="Propose a match (撮合) between a demand and an achievement",
    description=(
        "A member with the `broker` role of a verified transfer institution, sub-center or the center proposes a "
        "match between one published (or matched) demand and one published (or negotiating) achievement of another "
        "organization. The proposal starts `proposed` and waits for both owners' consent; it expires after "
        "`MARKET_PROPOSAL_TTL_DAYS` (default 30). One open proposal per broker organization, demand and "
        "achievement: a second is 409 `proposal-exists` with `existing_id`. Unpublished or unknown listings, a "
        "listing matched with itself and two listings of one organization are 422 naming the field; nothing is "
        "stored. `Idempotency-Key` makes a retry return the first response. 201 with Location and ETag."
    ),
    responses=problem_responses(401, 403, 409, 422),
)
async def create_proposal(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    idempotency: IdempotencyDep,
    payload: Annotated[ProposalCreate, Body()],
) -> JSONResponse:
    async def run() -> StoredResponse:
        row = await service.create_proposal(session=session, principal=principal, payload=payload, ttl=_ttl(request))
        return await _created(request, session, principal, row)

    return await idempotency.replay_or_run(session, run)


@interest_router.post(
    "/{achievement_id}/interest",
    status_code=201,
    response_model=ProposalPublic,
    name="express_interest",
    summary="Express an enterprise's interest in an achievement (no broker)",
    description=(
        "A member of a verified enterprise asks for a published (or negotiating) achievement: a proposal of origin "
        "`interest`, already accepted by the buyer (`buyer_accepted`). The achievement's owner accepts (→ `agreed`, "
        "contacts revealed) or declines; the enterprise may withdraw. `demand_id` names one of the enterprise's own "
        "published demands (422 otherwise); `contact` is required without one (422 naming `contact`). One open "
        "interest per enterprise and achievement (409 `proposal-exists` with `existing_id`). Other organization "
        "kinds are 403. `Idempotency-Key` supported."
    ),
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def express_interest(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    idempotency: IdempotencyDep,
    achievement_id: Annotated[uuid.UUID, Path(description="The achievement id.")],
    payload: Annotated[InterestCreate, Body()],
) -> JSONResponse:
    async def run() -> StoredResponse:
        row = await service.express_interest(
            session=session, principal=principal, achievement_id=achievement_id, payload=payload, ttl=_ttl(request)
        )
        return await _created(request, session, principal, row)

    return await idempotency.replay_or_run(session, run)


@router.get(
    "",
    response_model=Page[ProposalPublic],
    name="list_proposals",
    summary="Proposals of the caller's organization",
    description=(
        "Proposals in which the caller's organization is the seller (owner of the achievement), the buyer (owner of "
        "the demand, or the interested enterprise) or the broker — `role` picks one, default all three — newest "
        "first, cursor-paginated. Contacts follow the reveal rule of GET /market/proposals/{id}."
    ),
    responses=problem_responses(401, 403, 422),
)
async def list_proposals(
    session: SessionDep,
    principal: CurrentPrincipal,
    role: Annotated[ProposalRole | None, Query(description="seller, buyer or broker; default: any.")] = None,
    status: Annotated[ProposalStatus | None, Query(description="Only proposals in this status.")] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[ProposalPublic]:
    return await service.list_proposals(
        session=session,
        principal=principal,
        role=role,
        status=str(status) if status is not None else None,
        limit=limit,
        cursor=cursor,
    )


@router.get(
    "/{proposal_id}",
    response_model=ProposalPublic,
    name="get_proposal",
    summary="One proposal",
    description=(
        "For members of the three parties' organizations (seller, buyer, broker) and platform admins; 404 for "
        "everybody else. `contacts` are null until the proposal is `agreed`; then the seller side sees the buyer's "
        "contact, the buyer side the seller's, the broker and platform admins both. An open proposal past "
        "`expires_at` is recorded as `expired` by this read if the sweep has not done it yet. The ETag is what "
        "the transitions need in If-Match."
    ),
    responses=problem_responses(401, 404, 422),
)
async def get_proposal(
    proposal_id: ProposalId, session: SessionDep, principal: CurrentPrincipal, response: Response
) -> ProposalPublic:
    row = await service.get_proposal(session=session, principal=principal, proposal_id=proposal_id)
    return await _answer(session, principal, response, row)


@router.post(
    "/{proposal_id}/accept",
    response_model=ProposalPublic,
    name="accept_proposal",
    summary="Accept a proposal for your side",
    description=(
        "An org_admin or member of the seller's or the buyer's organization consents for its side: proposed → "
        "seller_accepted | buyer_accepted; the second consent → agreed (contacts revealed). 403 for other callers "
        "who may see it, 409 when the side already accepted, the proposal is no longer open or expired, or one of "
        "its listings left the market. If-Match required (428 without, 412 when stale)."
    ),
    responses=_TRANSITION_ERRORS,
)
async def accept_proposal(
    proposal_id: ProposalId,
    session: SessionDep,
    principal: CurrentPrincipal,
    response: Response,
    if_match: IfMatchHeader = None,
) -> ProposalPublic:
    row = await service.accept(session=session, principal=principal, proposal_id=proposal_id, if_match=if_match)
    return await _answer(session, principal, response, row)


@router.post(
    "/{proposal_id}/decline",
    response_model=ProposalPublic,
    name="decline_proposal",
    summary="Decline a proposal, with a reason",
    description=(
        "An org_admin or member of either side's organization refuses an open proposal (also after accepting it, "
        "until both have): → declined, with `reason` shown to every party. For direct interest only the "
        "achievement's owner declines (the enterprise withdraws instead: 403). If-Match required."
    ),
    responses=_TRANSITION_ERRORS,
)
async def decline_proposal(
    proposal_id: ProposalId,
    session: SessionDep,
    principal: CurrentPrincipal,
    response: Response,
    payload: Annotated[DeclineRequest, Body()],
    if_match: IfMatchHeader = None,
) -> ProposalPublic:
    row = await service.decline(
        session=session, principal=principal, proposal_id=proposal_id, if_match=if_match, payload=payload
    )
    return await _answer(session, principal, response, row)


@router.post(
    "/{proposal_id}/withdraw",
    response_model=ProposalPublic,
    name="withdraw_proposal",
    summary="Withdraw a proposal",
    description=(
        "The proposer takes back an open proposal: a member with the broker role of the broker organization, or, "
        "for direct interest, an org_admin or member of the interested enterprise. → withdrawn. If-Match required."
    ),
    responses=_TRANSITION_ERRORS,
)
async def withdraw_proposal(
    proposal_id: ProposalId,
    session: SessionDep,
    principal: CurrentPrincipal,
    response: Response,
    if_match: IfMatchHeader = None,
) -> ProposalPublic:
    row = await service.withdraw(session=session, principal=principal, proposal_id=proposal_id, if_match=if_match)
    return await _answer(session, principal, response, row)


_PROPOSAL_EVENTS = (
    "Created, accepted (with the side), declined (with the reason), withdrawn, expired: actor, organization, from → "
    "to, time and request id, oldest first. Parties and platform admins (404 otherwise)."
)


async def proposal_events(
    proposal_id: ProposalId,
    session: SessionDep,
    principal: CurrentPrincipal,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[AuditEventPublic]:
    return await service.proposal_history(
        session=session, principal=principal, proposal_id=proposal_id, limit=limit, cursor=cursor
    )


# GET /{id}/events, the audit trail's path in every domain; /history, its former path, is a deprecated alias.
router.get(
    "/{proposal_id}/events",
    response_model=Page[AuditEventPublic],
    name="proposal_events",
    summary="Every transition of a proposal",
    description=_PROPOSAL_EVENTS,
    responses=problem_responses(401, 404, 422),
)(proposal_events)
router.get(
    "/{proposal_id}/history",
    response_model=Page[AuditEventPublic],
    name="proposal_history",
    summary="Every transition of a proposal (deprecated: use /events)",
    description=f"Deprecated alias of GET /market/proposals/{{proposal_id}}/events, same answer. {_PROPOSAL_EVENTS}",
    responses=problem_responses(401, 404, 422),
    deprecated=True,
)(proposal_events)


@router.get(
    "/{proposal_id}/contract-draft",
    response_model=ContractDraft,
    name="proposal_contract_draft",
    summary="The contract of an agreed deal, prefilled",
    description=(
        "For the seller side (org_admin or member) and the broker of an agreed proposal: `contract` is a body for "
        "POST /market/contracts — parties (names, credit codes, regions, entity types) from the organization "
        "directory, title and technical field from the achievement, kind and subkind inferred from the cooperation "
        "mode (see docs/brokerage.md), `submitted_as`, the listing ids and `proposal_id` — and `missing` names what "
        "the submitter adds (contract_no, signed_on, the amounts, an enterprise's ownership…). 409 unless agreed; "
        "403 for the buyer side and platform admins; 404 for everybody else."
    ),
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def contract_draft(proposal_id: ProposalId, session: SessionDep, principal: CurrentPrincipal) -> ContractDraft:
    return await service.contract_draft(session=session, principal=principal, proposal_id=proposal_id)
