"""All SQL of the organization directory."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from services.market.directory.models import organizations_table
from services.market.directory.schemas import Designation, OrganizationCard
from shared.clock import utcnow

__all__ = ["DirectoryRepository", "card_columns", "card_of_joined", "joined_card"]

_o = organizations_table.c
# Prefix of the card's columns when another domain's read joins them to its own row (see ``joined_card``).
_JOINED = "owner__"


def _designation(row: Mapping[Any, Any]) -> Designation | None:
    if row["designation_level"] is None or row["designation_year"] is None:
        return None
    return Designation(
        level=row["designation_level"], year=row["designation_year"], revoked=bool(row["designation_revoked"])
    )


def _card(row: Mapping[Any, Any]) -> OrganizationCard:
    return OrganizationCard(
        id=row["id"],
        name=row["name"],
        kind=row["kind"],
        credit_code=row["credit_code"],
        region_code=row["region_code"],
        parent_id=row["parent_id"],
        path=row["path"],
        status=row["status"],
        version=row["version"],
        source_updated_at=row["source_updated_at"],
        designation=_designation(row),
        broker_certificates_valid_until=tuple(
            sorted(dt.date.fromisoformat(d) for d in row["broker_certificates_valid_until"] or [])
        ),
    )


def card_columns() -> list[sa.Label[Any]]:
    """The directory's columns labelled ``owner__<name>``, to select beside another table's own columns."""
    return [column.label(_JOINED + column.name) for column in organizations_table.c]


def joined_card(select: sa.Select[Any], owner_id: sa.ColumnElement[Any]) -> sa.Select[Any]:
    """``select`` with the card of the organization ``owner_id`` names (an outer join: an organization the directory
    does not know yet gives no card). One statement for a row and its owner's card instead of two."""
    return select.add_columns(*card_columns()).outerjoin(organizations_table, _o.id == owner_id)


def card_of_joined(row: Mapping[Any, Any]) -> OrganizationCard | None:
    """The card a :func:`joined_card` select read beside its row (None when the directory did not know it)."""
    if row[_JOINED + "id"] is None:
        return None
    return _card({column.name: row[_JOINED + column.name] for column in organizations_table.c})


class DirectoryRepository:
    """Directory SQL on one session."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, org_id: uuid.UUID, *, for_update: bool = False) -> OrganizationCard | None:
        """One organization (row-locked on PostgreSQL when ``for_update``)."""
        stmt = sa.select(organizations_table).where(_o.id == org_id)
        if for_update:
            stmt = stmt.with_for_update()
        row = (await self.session.execute(stmt)).mappings().first()
        return _card(row) if row is not None else None

    async def get_many(self, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, OrganizationCard]:
        """The known organizations among ``ids``."""
        wanted = list(set(ids))
        if not wanted:
            return {}
        rows = (await self.session.execute(sa.select(organizations_table).where(_o.id.in_(wanted)))).mappings()
        return {row["id"]: _card(row) for row in rows}

    async def verified_by_credit_code(self, codes: Iterable[str]) -> dict[str, OrganizationCard]:
        """The verified organizations holding ``codes`` (normalized credit codes), by code."""
        wanted = list(set(codes))
        if not wanted:
            return {}
        stmt = sa.select(organizations_table).where(_o.credit_code.in_(wanted), _o.status == "verified")
        rows = (await self.session.execute(stmt.order_by(_o.path))).mappings()
        found: dict[str, OrganizationCard] = {}
        for row in rows:
            # Auth keeps credit codes unique; should two cards ever share one, the first in tree order wins.
            found.setdefault(row["credit_code"], _card(row))
        return found

    async def upsert_if_newer(self, card: OrganizationCard) -> bool:
        """Store ``card`` unless a version at least as new is stored; whether it was stored.

        Insert-then-update keeps it one portable statement each: the insert is skipped when the row exists (a
        concurrent delivery of the same organization loses the primary key race and falls through to the update,
        whose version condition decides).
        """
        values = {
            "id": card.id,
            "name": card.name,
            "kind": card.kind,
            "credit_code": card.credit_code,
            "region_code": card.region_code,
            "parent_id": card.parent_id,
            "path": card.path,
            "status": card.status,
            "version": card.version,
            "source_updated_at": card.source_updated_at,
            "designation_level": card.designation.level if card.designation else None,
            "designation_year": card.designation.year if card.designation else None,
            "designation_revoked": card.designation.revoked if card.designation else False,
            "broker_certificates_valid_until": [d.isoformat() for d in card.broker_certificates_valid_until],
            "synced_at": utcnow(),
        }
        exists = (await self.session.execute(sa.select(_o.id).where(_o.id == card.id))).first() is not None
        if not exists:
            try:
                async with self.session.begin_nested():
                    await self.session.execute(sa.insert(organizations_table).values(values))
                return True
            except sa.exc.IntegrityError:
                pass
        result = await self.session.execute(
            sa.update(organizations_table)
            .where(_o.id == card.id, _o.version < card.version)
            .values({k: v for k, v in values.items() if k != "id"})
        )
        return bool(getattr(result, "rowcount", 0))

    async def under(self, path: str) -> list[OrganizationCard]:
        """Every organization at ``path`` or below it in the 1+4+N tree, in path order."""
        rows = (
            await self.session.execute(sa.select(organizations_table).where(_o.path.like(path + "%")).order_by(_o.path))
        ).mappings()
        return [_card(row) for row in rows]

    def _counted(self, *, region_prefixes: Sequence[str] | None, org_path: str | None) -> list[sa.ColumnElement[bool]]:
        """The conditions every count shares: verified organizations, in the regions and the subtree given."""
        conditions: list[sa.ColumnElement[bool]] = [_o.status == "verified"]
        if region_prefixes is not None:
            conditions.append(sa.or_(sa.false(), *(_o.region_code.like(prefix + "%") for prefix in region_prefixes)))
        if org_path is not None:
            conditions.append(_o.path.like(org_path + "%"))
        return conditions

    def _designated_on(self, year: int) -> list[sa.ColumnElement[bool]]:
        return [
            _o.kind == "transfer_institution",
            _o.designation_level.is_not(None),
            _o.designation_year <= year,
            _o.designation_revoked.is_(False),
        ]

    async def count_designated(self, *, year: int, region_prefixes: Sequence[str] | None, org_path: str | None) -> int:
        """How many verified transfer institutions hold an unrevoked designation of ``year`` or earlier."""
        conditions = self._counted(region_prefixes=region_prefixes, org_path=org_path) + self._designated_on(year)
        stmt = sa.select(sa.func.count()).select_from(organizations_table).where(*conditions)
        return int((await self.session.execute(stmt)).scalar_one())

    async def designated(
        self, *, year: int, region_prefixes: Sequence[str] | None, org_path: str | None
    ) -> list[OrganizationCard]:
        """The cards :meth:`count_designated` counts, in path order."""
        conditions = self._counted(region_prefixes=region_prefixes, org_path=org_path) + self._designated_on(year)
        rows = await self.session.execute(sa.select(organizations_table).where(*conditions).order_by(_o.path))
        return [_card(row) for row in rows.mappings()]

    async def with_broker_certificates(
        self, *, region_prefixes: Sequence[str] | None, org_path: str | None
    ) -> list[OrganizationCard]:
        """The verified organizations (in the regions and subtree given) whose members hold broker certificates
        with a recorded end, in path order. Which of the ends cover a day is read from the cards: the ends are a
        JSON list, and counting inside it would need each dialect's JSON functions."""
        conditions = self._counted(region_prefixes=region_prefixes, org_path=org_path)
        conditions.append(_o.kind.in_(("transfer_institution", "sub_center", "center")))
        rows = await self.session.execute(sa.select(organizations_table).where(*conditions).order_by(_o.path))
        cards = [_card(row) for row in rows.mappings()]
        return [card for card in cards if card.broker_certificates_valid_until]
