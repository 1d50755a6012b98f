"""The directory's public read: GET /market/directory/organizations/{id} (auth's feed writes through directory_feed)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from services.market.directory import service as directory
from services.market.directory.schemas import OrganizationCardPublic
from shared.db import ReadSessionDep
from shared.errors import NotFound, problem_responses

__all__ = ["router"]

router = APIRouter(prefix="/directory", tags=["organization directory"])


@router.get(
    "/organizations/{organization_id}",
    summary="The public card of a verified organization",
    description=(
        "Anyone, signed in or not: the name, kind and region of a verified organization as the market knows it — "
        "never its members or contacts. 404 for an organization the market does not know, and for one that is "
        "pending, rejected or suspended."
    ),
    response_model=OrganizationCardPublic,
    responses=problem_responses(404, 422),
)
async def get_directory_organization(organization_id: uuid.UUID, session: ReadSessionDep) -> OrganizationCardPublic:
    card = await directory.get(session=session, org_id=organization_id)
    if card is None or not card.verified:
        raise NotFound("No verified organization with this id.")
    return OrganizationCardPublic(
        id=card.id, name=card.name, kind=card.kind, region_code=card.region_code, verified=card.verified
    )
