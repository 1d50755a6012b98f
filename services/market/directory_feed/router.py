"""The endpoint auth's outbox relay feeds: POST /market/directory/organizations."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from services.market.directory.schemas import DirectoryBatch, DirectoryReport
from services.market.directory_feed import service as feed
from shared.db import SessionDep
from shared.errors import problem_responses
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
    report = await feed.apply_cards(session=session, cards=feed.cards_of(batch))
    return DirectoryReport(applied=report.applied, stale=report.stale)
