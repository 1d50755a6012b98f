"""Endpoints of the organization directory: /market/directory/organizations."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends

from services.market.directory import feed
from services.market.directory import service as directory
from services.market.directory.schemas import DirectoryBatch, DirectoryReport, PublicOrganization
from shared.db import ReadSessionDep, SessionDep
from shared.errors import NotFound, problem_responses
from shared.security import Principal, require_scopes

__all__ = ["DIRECTORY_SCOPE", "router"]

DIRECTORY_SCOPE = "market:directory"

router = APIRouter(prefix="/directory", tags=["organization directory"])
FeedCaller = Annotated[Principal, Depends(require_scopes(DIRECTORY_SCOPE))]


@router.post(
    "/organizations",
    summary="Apply a batch of organization changes from auth",
    description=(
        "Called by auth's outbox relay (and nobody else) with a service token carrying the `market:directory` "
        "scope: 401 without a token, 403 without the scope. Each document carries one version of one organization "
        "(`fields` are auth's public facts: id, name, kind, credit_code, region_code, parent_id, path, status, "
        "version, updated_at). Documents apply in order, in one transaction with their consequences: a verified "
        "registration office gets its (active) office row, a suspended or rejected one is deactivated; the "
        "public listings of a renamed, re-kinded or moved organization are re-sent to search, those of a "
        "suspended one leave search and come back when it is reinstated. A document not newer than what market "
        "has (a replay, or one overtaken by a later version) changes nothing and counts as `stale` — still 200, so "
        "the relay marks it delivered. A malformed document is 422 naming its field, and nothing of the batch is "
        "applied."
    ),
    response_model=DirectoryReport,
    responses=problem_responses(401, 403, 413, 422),
)
async def apply_directory_organizations(
    batch: DirectoryBatch, session: SessionDep, _caller: FeedCaller
) -> DirectoryReport:
    report = await feed.apply_cards(session, feed.cards_of(batch))
    return DirectoryReport(applied=report.applied, stale=report.stale)


@router.get(
    "/organizations/{organization_id}",
    summary="The public card of a verified organization",
    description=(
        "Anyone, signed in or not: the name, kind and region of a verified organization as the market knows it — "
        "never its members or contacts. 404 for an organization the market does not know, and for one that is "
        "pending, rejected or suspended."
    ),
    response_model=PublicOrganization,
    responses=problem_responses(404, 422),
)
async def get_directory_organization(organization_id: uuid.UUID, session: ReadSessionDep) -> PublicOrganization:
    card = await directory.get(session, organization_id)
    if card is None or not card.verified:
        raise NotFound("No verified organization with this id.")
    return PublicOrganization(
        id=card.id, name=card.name, kind=card.kind, region_code=card.region_code, verified=card.verified
    )
