"""The directory's read model: only a newer version of an organization replaces what is stored."""

from __future__ import annotations

import dataclasses
import uuid

from services.market.directory import service as directory
from services.market.directory.schemas import OrganizationCard
from tests.conftest import Stack


def _card(org_id: uuid.UUID, *, version: int, name: str, status: str = "verified") -> OrganizationCard:
    return OrganizationCard(
        id=org_id,
        name=name,
        kind="university",
        credit_code="12510000450717549J",
        region_code="510104",
        parent_id=None,
        path=f"/{org_id}/",
        status=status,
        version=version,
    )


async def test_newer_versions_replace_older_ones_and_replays_change_nothing(stack: Stack) -> None:
    sessionmaker = stack.service_app("market").state.sessionmaker
    org_id = uuid.uuid4()
    v1, v2, v3 = (_card(org_id, version=v, name=f"四川大学 v{v}") for v in (1, 2, 3))
    async with sessionmaker() as session, session.begin():
        applied = await directory.apply(session=session, cards=[v1, v3])
        assert [(a.before, a.after) for a in applied] == [(None, v1), (v1, v3)]
    async with sessionmaker() as session, session.begin():
        # v2 arrives late, v3 and v1 are replayed: nothing changes.
        assert await directory.apply(session=session, cards=[v2, v3, v1]) == []
    async with sessionmaker() as session:
        stored = await directory.get(session=session, org_id=org_id)
        assert stored is not None
        assert dataclasses.replace(stored, source_updated_at=None) == v3
        assert await directory.get(session=session, org_id=uuid.uuid4()) is None
        assert await directory.get_many(session=session, ids=[org_id, uuid.uuid4()]) == {org_id: stored}
