"""Registration offices: routing a submission to the office serving the seller's region, and the office registry.

The market keeps its own table of offices (id = the auth organization id). A row appears when a registrar of an
organization of kind registration_office first acts (its token carries org_region), or when a platform admin
creates it (POST /market/offices). An office serves its region and everything below it; a submission goes to the
office with the most specific region prefix of the seller's region.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.market.offices.repository import OfficeRepository
from services.market.offices.schemas import OfficeCreate, OfficeUpdate
from services.market.stats.cube import region_prefix
from shared.clock import utcnow
from shared.errors import Conflict, Forbidden, NotFound, ValidationFailed
from shared.reference.regions import is_valid_region, region
from shared.security import Principal

__all__ = [
    "create_office",
    "ensure_registrar_office",
    "get_office",
    "get_office_or_none",
    "is_registrar",
    "list_offices",
    "office_for_region",
    "update_office",
]

Row = Mapping[Any, Any]


def _check_region(code: str, field: str) -> None:
    if not is_valid_region(code):
        raise ValidationFailed.field(field, "not a GB/T 2260 region code", type="region_invalid")


def is_registrar(principal: Principal) -> bool:
    """Whether the caller registers contracts for an office."""
    return (
        principal.has_role("registrar") and principal.org_kind == "registration_office" and principal.org_id is not None
    )


async def ensure_registrar_office(*, session: AsyncSession, principal: Principal) -> Row:
    """The caller's office; created from the token on a registrar's first action. 403 if the caller is no registrar."""
    if not is_registrar(principal) or principal.org_id is None:
        raise Forbidden("This action needs the registrar role in a registration office.")
    repo = OfficeRepository.from_session(session)
    office = await repo.get(principal.org_id)
    if office is not None:
        return office
    code = principal.org_region
    if not code or not is_valid_region(code):
        raise Forbidden("The office's region is unknown; a platform admin must register the office first.")
    known = region(code)
    values = {
        "id": principal.org_id,
        "region_code": code,
        "region_prefix": region_prefix(code),
        "name": f"{known.name if known else code}技术合同登记机构",
        "active": True,
        "created_by": principal.subject,
        "created_at": utcnow(),
    }
    await repo.insert(values)
    return values


async def office_for_region(*, session: AsyncSession, region_code: str) -> Row | None:
    """The active office serving ``region_code`` most specifically."""
    prefixes = [region_code[:2], region_code[:4], region_code]
    return await OfficeRepository.from_session(session).serving(prefixes)


async def get_office(*, session: AsyncSession, office_id: uuid.UUID) -> Row:
    """One office, or 404."""
    office = await OfficeRepository.from_session(session).get(office_id)
    if office is None:
        raise NotFound("No such registration office.")
    return office


async def get_office_or_none(*, session: AsyncSession, office_id: uuid.UUID) -> Row | None:
    """One office, or None."""
    return await OfficeRepository.from_session(session).get(office_id)


async def list_offices(*, session: AsyncSession, after_id: uuid.UUID | None, limit: int) -> list[Row]:
    """Offices in id order."""
    return await OfficeRepository.from_session(session).list_all(after_id=after_id, limit=limit)


async def create_office(*, session: AsyncSession, principal: Principal, data: OfficeCreate) -> Row:
    """Register an office (platform admin)."""
    _check_region(data.region_code, "region_code")
    repo = OfficeRepository.from_session(session)
    if await repo.get(data.id) is not None:
        raise Conflict("This office is already registered.", extra={"existing_id": str(data.id)})
    values = {
        "id": data.id,
        "region_code": data.region_code,
        "region_prefix": region_prefix(data.region_code),
        "name": data.name,
        "active": True,
        "created_by": principal.subject,
        "created_at": utcnow(),
    }
    await repo.insert(values)
    return values


async def update_office(*, session: AsyncSession, office_id: uuid.UUID, data: OfficeUpdate) -> Row:
    """Change an office's name, region or activity (platform admin)."""
    repo = OfficeRepository.from_session(session)
    office = await get_office(session=session, office_id=office_id)
    changes: dict[str, Any] = data.model_dump(exclude_unset=True)
    for name in ("name", "active", "region_code"):
        if name in changes and changes[name] is None:
            raise ValidationFailed.field(name, "cannot be null", type="null")
    if "region_code" in changes:
        _check_region(changes["region_code"], "region_code")
        changes["region_prefix"] = region_prefix(changes["region_code"])
    if changes:
        await repo.update(office_id, changes)
    return {**office, **changes}
