"""Registration offices: routing a submission to the office serving the seller's region, and the office registry.

The market keeps its own table of offices (id = the auth organization id). Offices follow the organization
directory (services.market.directory): when auth publishes an organization of kind registration_office as
verified, its row is created (or renamed, re-regioned, reactivated); suspended or rejected, it is deactivated.
A platform admin may also register an office by hand (POST /market/offices) — a repair for a verified
registration_office organization of the directory that has no row; its region is the organization's region in the
directory, and a hand edit (PATCH) never moves an office away from that region. Both are audited (entity_kind
``office``; GET /market/offices/{id}/history).
A registrar's token never creates an office. An office serves its region and everything below it; a
submission goes to the office with the most specific region prefix of the seller's region.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.market.audit import service as audit_service
from services.market.audit.schemas import AuditEventPublic
from services.market.directory import service as directory_service
from services.market.directory.schemas import Applied, OrganizationCard
from services.market.offices.repository import OfficeRepository
from services.market.offices.schemas import OfficeCreate, OfficeUpdate
from shared.clock import utcnow
from shared.errors import Conflict, Forbidden, NotFound, ValidationFailed
from shared.pagination import Page
from shared.reference.regions import is_valid_region, region_prefix
from shared.security import Principal

__all__ = [
    "DIRECTORY_ACTOR",
    "create_office",
    "follow_directory",
    "get_office",
    "get_office_or_none",
    "is_registrar",
    "list_offices",
    "office_for_region",
    "office_history",
    "require_registrar_office",
    "update_office",
]

Row = Mapping[Any, Any]
OFFICE_KIND = "registration_office"
# created_by of the rows the directory creates.
DIRECTORY_ACTOR = "directory"

logger = logging.getLogger("techmarket.market.offices")


def _check_region(code: str, field: str) -> None:
    if not is_valid_region(code):
        raise ValidationFailed.field(field, "not a GB/T 2260 region code", type="region_invalid")


def is_registrar(principal: Principal) -> bool:
    """Whether the caller registers contracts for an office."""
    return (
        principal.has_role("registrar") and principal.org_kind == "registration_office" and principal.org_id is not None
    )


async def require_registrar_office(*, session: AsyncSession, principal: Principal) -> Row:
    """The caller's office. 403 if the caller is no registrar, or if market does not know the office."""
    if not is_registrar(principal) or principal.org_id is None:
        raise Forbidden("This action needs the registrar role in a registration office.")
    office = await OfficeRepository.from_session(session).get(principal.org_id)
    if office is None:
        raise Forbidden(
            "Your registration office is not known to the market yet: it appears once auth has verified the office "
            "and published it to the market's organization directory (a platform admin can also register it with "
            "POST /market/offices).",
            slug="office-unknown",
        )
    return office


async def follow_directory(*, session: AsyncSession, applied: Sequence[Applied]) -> int:
    """Bring the office rows in line with directory changes that took effect (in order); returns rows written.

    A verified registration office gets its row, named and regioned as the directory says (inserted when missing,
    so a later version also repairs a row that never came). It is (re)activated only when it becomes verified, so
    a platform admin's deactivation survives a mere rename. Suspended, rejected, or no longer a registration office:
    deactivated. Pending: nothing (it may not register contracts yet).
    """
    repo = OfficeRepository.from_session(session)
    written = 0
    for change in applied:
        written += await _follow_one(repo, change.before, change.after)
    return written


async def _follow_one(repo: OfficeRepository, before: OrganizationCard | None, after: OrganizationCard) -> int:
    was_office = before is not None and before.kind == OFFICE_KIND
    if after.kind != OFFICE_KIND:
        return await _deactivate(repo, after.id) if was_office else 0
    if after.status in ("suspended", "rejected"):
        return await _deactivate(repo, after.id)
    if not after.verified:
        return 0
    if after.region_code is None or not is_valid_region(after.region_code):
        logger.warning("registration office %s has no valid region (%r): no office row", after.id, after.region_code)
        return 0
    office = await repo.get(after.id)
    if office is None:
        await repo.insert(
            {
                "id": after.id,
                "region_code": after.region_code,
                "region_prefix": region_prefix(after.region_code),
                "name": after.name,
                "active": True,
                "created_by": DIRECTORY_ACTOR,
                "created_at": utcnow(),
            }
        )
        return 1
    changes: dict[str, Any] = {}
    if office["name"] != after.name:
        changes["name"] = after.name
    if office["region_code"] != after.region_code:
        changes |= {"region_code": after.region_code, "region_prefix": region_prefix(after.region_code)}
    became_verified = before is None or not before.verified or not was_office
    if became_verified and not office["active"]:
        changes["active"] = True
    if not changes:
        return 0
    await repo.update(after.id, changes)
    return 1


async def _deactivate(repo: OfficeRepository, office_id: uuid.UUID) -> int:
    office = await repo.get(office_id)
    if office is None or not office["active"]:
        return 0
    await repo.update(office_id, {"active": False})
    return 1


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


async def _office_organization(*, session: AsyncSession, office_id: uuid.UUID, field: str) -> OrganizationCard:
    """The directory's verified registration_office organization of ``office_id``, else 422 naming ``field``."""
    card = await directory_service.get(session=session, org_id=office_id)
    if card is None:
        raise ValidationFailed.field(
            field,
            "no organization with this id in market's organization directory (auth publishes it once verified)",
            type="not_found",
        )
    if card.kind != OFFICE_KIND:
        raise ValidationFailed.field(field, f"the organization is a {card.kind}, not a {OFFICE_KIND}", type="kind")
    if not card.verified:
        raise ValidationFailed.field(field, f"the organization is {card.status}, not verified", type="not_verified")
    if card.region_code is None or not is_valid_region(card.region_code):
        raise ValidationFailed.field(field, "the organization has no valid region in the directory", type="region")
    return card


def _same_region(code: str, card: OrganizationCard) -> None:
    _check_region(code, "region_code")
    if code != card.region_code:
        raise ValidationFailed.field(
            "region_code",
            f"an office serves its organization's region in the directory ({card.region_code})",
            type="region_mismatch",
        )


async def create_office(*, session: AsyncSession, principal: Principal, data: OfficeCreate) -> Row:
    """Register an office (platform admin): a verified registration_office of the directory, in its region."""
    card = await _office_organization(session=session, office_id=data.id, field="id")
    assert card.region_code is not None
    if data.region_code is not None:
        _same_region(data.region_code, card)
    repo = OfficeRepository.from_session(session)
    if await repo.get(data.id) is not None:
        raise Conflict("This office is already registered.", extra={"existing_id": str(data.id)})
    values = {
        "id": data.id,
        "region_code": card.region_code,
        "region_prefix": region_prefix(card.region_code),
        "name": data.name or card.name,
        "active": True,
        "created_by": principal.subject,
        "created_at": utcnow(),
    }
    await repo.insert(values)
    await audit_service.record(
        session=session,
        entity_kind="office",
        entity_id=data.id,
        action="created",
        from_status=None,
        to_status="active",
        actor=principal,
        details={"name": values["name"], "region_code": card.region_code},
    )
    return values


async def update_office(
    *, session: AsyncSession, principal: Principal, office_id: uuid.UUID, data: OfficeUpdate
) -> Row:
    """Change an office's name, region or activity (platform admin), audited.

    Deactivating needs nothing more; any other change needs the office's organization verified in the directory,
    and a region can only be set back to the organization's own.
    """
    repo = OfficeRepository.from_session(session)
    office = await get_office(session=session, office_id=office_id)
    changes: dict[str, Any] = data.model_dump(exclude_unset=True)
    for name in ("name", "active", "region_code"):
        if name in changes and changes[name] is None:
            raise ValidationFailed.field(name, "cannot be null", type="null")
    if set(changes) - {"active"} or changes.get("active") is True:
        card = await _office_organization(session=session, office_id=office_id, field="office_id")
        if "region_code" in changes:
            _same_region(changes["region_code"], card)
    changes = {k: v for k, v in changes.items() if office[k] != v}
    if "region_code" in changes:
        changes["region_prefix"] = region_prefix(changes["region_code"])
    if changes:
        await repo.update(office_id, changes)
        await audit_service.record(
            session=session,
            entity_kind="office",
            entity_id=office_id,
            action="updated",
            from_status="active" if office["active"] else "inactive",
            to_status="active" if changes.get("active", office["active"]) else "inactive",
            actor=principal,
            details={"changes": {k: [office[k], v] for k, v in changes.items() if k != "region_prefix"}},
        )
    return {**office, **changes}


async def office_history(
    *, session: AsyncSession, office_id: uuid.UUID, limit: int, cursor: str | None
) -> Page[AuditEventPublic]:
    """The audit trail of one office (hand registrations and edits), oldest first."""
    await get_office(session=session, office_id=office_id)
    return await audit_service.history(
        session=session, entity_kind="office", entity_id=office_id, limit=limit, cursor=cursor
    )
