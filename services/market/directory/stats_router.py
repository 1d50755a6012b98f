"""GET /market/stats/institutions: demonstration institutions (示范机构) and certified brokers (技术经纪人), counted
from the organization directory (auth's published designations and broker certificate ends)."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable
from typing import Annotated

from fastapi import APIRouter, Query

from services.market.directory import service as directory
from services.market.directory.schemas import (
    CertifiedBrokerCounts,
    DemonstrationInstitutionCounts,
    InstitutionStats,
    OrganizationCard,
    SubCenterCount,
    SubCenterRef,
    YearCount,
)
from shared.clock import IsoDate, today_in_china
from shared.db import ReadSessionDep
from shared.errors import problem_responses

__all__ = ["router"]

router = APIRouter(prefix="/stats", tags=["statistics"])


def _by_sub_center(
    counts: Iterable[tuple[OrganizationCard, int]], sub_centers: dict[uuid.UUID, OrganizationCard | None]
) -> list[SubCenterCount]:
    totals: Counter[uuid.UUID | None] = Counter()
    names: dict[uuid.UUID, str] = {}
    for card, count in counts:
        sub_center = sub_centers.get(card.id)
        key = sub_center.id if sub_center is not None else None
        if sub_center is not None:
            names[sub_center.id] = sub_center.name
        totals[key] += count
    rows = [
        SubCenterCount(sub_center=SubCenterRef(id=key, name=names[key]) if key is not None else None, count=count)
        for key, count in totals.items()
    ]
    rows.sort(key=lambda row: (row.sub_center is None, -row.count, row.sub_center.name if row.sub_center else ""))
    return rows


@router.get(
    "/institutions",
    summary="Demonstration institutions and certified brokers",
    description=(
        "Public (no token). Demonstration institutions (示范机构) on `on` (default today, Beijing date): verified "
        "transfer institutions whose designation (set in auth, `PUT /auth/organizations/{id}/designation`) is of "
        "`on`'s year or earlier and not revoked — by level, by sub-center (the 分中心 whose subtree holds it) and by "
        "year of designation. Certified brokers: broker memberships of verified organizations whose certificate is "
        "valid on `on` (its last valid day is `on` or later), by sub-center. Read from market's directory, which "
        "follows auth's organization feed within seconds."
    ),
    response_model=InstitutionStats,
    responses=problem_responses(422),
)
async def institution_stats(
    session: ReadSessionDep,
    on: Annotated[
        IsoDate | None, Query(description="The day to count (YYYY-MM-DD, Beijing date); default today.")
    ] = None,
) -> InstitutionStats:
    day = on or today_in_china()
    institutions = await directory.demonstration_institutions(
        session=session, on=day, region_prefixes=None, org_path=None
    )
    brokers = await directory.certified_broker_cards(session=session, on=day, region_prefixes=None, org_path=None)
    sub_centers = await directory.sub_center_of(session=session, cards=[*institutions, *brokers])
    levels = Counter(card.designation.level for card in institutions if card.designation is not None)
    years = Counter(card.designation.year for card in institutions if card.designation is not None)
    broker_counts = [(card, directory.valid_certificates(card, on=day)) for card in brokers]
    return InstitutionStats(
        on=day,
        demonstration_institutions=DemonstrationInstitutionCounts(
            total=len(institutions),
            by_level={"national": levels["national"], "provincial": levels["provincial"]},
            by_sub_center=_by_sub_center(((card, 1) for card in institutions), sub_centers),
            by_year=[YearCount(year=year, count=count) for year, count in sorted(years.items())],
        ),
        certified_brokers=CertifiedBrokerCounts(
            total=sum(count for _, count in broker_counts),
            by_sub_center=_by_sub_center(broker_counts, sub_centers),
        ),
    )
