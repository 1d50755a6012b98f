"""Business rules of achievement listings and demand postings: ownership, visibility, lifecycle, expiry, import.

Every write bumps ``version``, appends an audit row and an outbox event in the request's transaction (services
only flush). Expiry is applied on read and by the periodic maintenance job: a listing whose last day (Beijing
time) has passed moves to ``expired`` the first time anyone reads or lists it, or at the next sweep, whichever
comes first — with the same audit row (actor ``system``) and outbox delete event either way.
Seven days before its last day, a listing on the market is announced to its owner organization
(``listing.expiring``, :func:`notify_expiring`, a maintenance job; once per listing and last day).

The owner organization comes from market's organization directory (services.market.directory, fed by auth): the
public view names it (``owner``), and every outbox event carries its name and kind for search. Changes of the
owner itself reach the listings through :func:`follow_owner_changes` (called by the directory feed): renamed,
re-kinded or moved → its public listings are re-sent to search; suspended (or rejected) → they leave search (delete
events); reinstated → they come back. Meanwhile any other change of its listings is sent as a delete.
Listings read the directory; the directory's feed calls listings — never the other way round.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.market.audit import service as audit_service
from services.market.audit.models import AuditEvent
from services.market.audit.schemas import AuditEventPublic
from services.market.concurrency import require_if_match
from services.market.directory import service as directory
from services.market.directory.schemas import Applied, OrganizationCard
from services.market.listings.keys import key_fields, natural_key
from services.market.listings.kinds import ACHIEVEMENT, DEMAND, ListingKind
from services.market.listings.models import Achievement, Listing
from services.market.listings.repository import ListingFilters, ListingRepository, ListingRow, WithOwner
from services.market.listings.schemas import AchievementCreate, AchievementImportReport, ImportRow
from services.market.notifications import service as notifications_service
from services.market.outbox import service as outbox_service
from services.market.outbox.models import OutboxEvent
from services.market.saved_searches import service as saved_searches_service
from shared.clock import china_date, today_in_china, utcnow
from shared.errors import Conflict, Forbidden, NotFound, PayloadTooLarge, ProblemError, ValidationFailed
from shared.outbox.relay import ingestion_document
from shared.pagination import Page, cursor_after, cursor_id
from shared.security import Principal

__all__ = [
    "MAX_IMPORT_ROWS",
    "access_of",
    "create_listing",
    "expire_due",
    "follow_owner_changes",
    "get_listing",
    "import_achievements",
    "list_listings",
    "listing_history",
    "listings_by_id",
    "notify_expiring",
    "owner_of",
    "peek_listing",
    "public_view",
    "to_public",
    "transition_listing",
    "update_listing",
]

# What the rules below read of a listing: the ORM object (writes) or a Core row of its table (reads).
Readable = Listing | ListingRow

MEMBER_ROLES = ("member", "org_admin")
MAX_IMPORT_ROWS = 10_000
IMPORT_FLUSH_ROWS = 500
EXPIRY_BATCH = 500
# A listing on the market is announced to its owner this many days before its last day (issue 14).
EXPIRING_NOTICE_DAYS = 7
# Listings of one owner re-sent per flush when the owner changes (an organization may own thousands).
OWNER_CHANGE_BATCH = 500
# Fields that may not be set to null by a PATCH (they have a value on every listing).
_REQUIRED = frozenset(
    {
        "title",
        "technical_field",
        "ip_type",
        "price",
        "budget",
        "keywords",
        "ipc_codes",
        "patents",
        "transfer_modes",
        "inventors",
        "cooperation_modes",
        "region_code",
        "match_alerts",
    }
)


def _is_member_of_owner(principal: Principal | None, row: Readable) -> bool:
    return principal is not None and principal.org_id == row.owner_org_id and principal.has_role(*MEMBER_ROLES)


def _sees_private(principal: Principal | None, row: Readable) -> bool:
    return _is_member_of_owner(principal, row) or (principal is not None and principal.has_role("platform_admin"))


def _visible(kind: ListingKind, principal: Principal | None, row: Readable) -> bool:
    return row.status in kind.public_states or _sees_private(principal, row)


def access_of(kind: ListingKind, principal: Principal | None, row: Listing) -> Literal["private", "public", "none"]:
    """What ``principal`` may see of ``row`` as it stands today, without writing anything.

    ``private``: everything (members of the owner organization, platform admins); ``public``: the public view of a
    public listing; ``none``: nothing (404). A listing past its last day counts as expired before a read or the
    sweep records it, so read-only endpoints need not write the expiry.
    """
    if _sees_private(principal, row):
        return "private"
    if row.status in kind.public_states and not _is_due(kind, row):
        return "public"
    return "none"


async def owner_of(*, session: AsyncSession, row: Listing) -> OrganizationCard | None:
    """The directory's card of the listing's owner (None while the directory does not know it)."""
    return await directory.get(session=session, org_id=row.owner_org_id)


def to_public(
    kind: ListingKind, row: Readable, *, principal: Principal | None, owner: OrganizationCard | None
) -> BaseModel:
    """The listing as ``principal`` may see it: private fields only for the owner organization and platform admins.

    ``owner`` is the directory's card of ``row.owner_org_id`` (reads join it to the listing's own statement).
    """
    return _public_model(kind, row, private=_sees_private(principal, row), owner=owner)


async def public_view(
    *, session: AsyncSession, kind: ListingKind, row: Listing, principal: Principal | None
) -> BaseModel:
    """:func:`to_public` of one listing, its owner read from the directory."""
    return to_public(kind, row, principal=principal, owner=await owner_of(session=session, row=row))


def _owner_view(row: Readable, owner: OrganizationCard | None) -> dict[str, Any]:
    if owner is None:
        # The kind the owner had when the listing was created is all market knows until the directory catches up.
        return {"id": row.owner_org_id, "name": None, "kind": row.owner_org_kind or None, "region_code": None}
    return {"id": owner.id, "name": owner.name, "kind": owner.kind, "region_code": owner.region_code}


def _public_model(kind: ListingKind, row: Readable, *, private: bool, owner: OrganizationCard | None) -> BaseModel:
    money = kind.money_field
    data: dict[str, Any] = {
        name: getattr(row, name) if private or name not in kind.private_fields else None
        for name in kind.public_schema.model_fields
        if name not in (money, "owner")
    }
    data[money] = {
        "kind": getattr(row, f"{money}_kind"),
        "min_fen": getattr(row, f"{money}_min_fen"),
        "max_fen": getattr(row, f"{money}_max_fen"),
    }
    data["owner"] = _owner_view(row, owner)
    return kind.public_schema.model_validate(data)


def _public_fields(kind: ListingKind, row: Listing, owner: OrganizationCard | None) -> dict[str, Any]:
    """The fields search may index: the public view without the private fields (contact, external_id), the owner
    flattened to the search document's ``owner_org_name`` and ``owner_org_kind``."""
    public = _public_model(kind, row, private=False, owner=owner)
    dumped: dict[str, Any] = public.model_dump(mode="json", exclude=set(kind.private_fields) | {"owner"})
    view = _owner_view(row, owner)
    dumped["owner_org_name"] = view["name"]
    dumped["owner_org_kind"] = view["kind"]
    return dumped


async def _record_change(
    *,
    session: AsyncSession,
    kind: ListingKind,
    row: Listing,
    action: str,
    from_status: str | None,
    actor: Principal | None,
    owner: OrganizationCard | None,
    details: dict[str, Any] | None = None,
    flush: bool = True,
) -> tuple[AuditEvent, OutboxEvent]:
    """Audit row + outbox event of a change already applied to ``row``.

    The event is an upsert when the listing is public and its owner is not suspended (or rejected), else a delete.
    """
    searchable = row.status in kind.public_states and not (owner is not None and owner.listings_hidden)
    audit_event = await audit_service.record(
        session=session,
        entity_kind=kind.name,
        entity_id=row.id,
        action=action,
        from_status=from_status,
        to_status=row.status,
        actor=actor,
        details=details,
        flush=flush,
    )
    outbox_event = await outbox_service.enqueue(
        session=session,
        entity_kind=kind.name,
        entity_id=row.id,
        version=row.version,
        event_type=f"{kind.name}.{action}",
        op="upsert" if searchable else "delete",
        fields=_public_fields(kind, row, owner),
        flush=flush,
    )
    # Match alerts (saved searches, open demands) judge the listing as search will see it: the event's document.
    await saved_searches_service.listing_changed(
        session=session,
        kind=kind.name,
        listing_id=row.id,
        version=row.version,
        owner_org_id=row.owner_org_id,
        action=action,
        changed_fields=(details or {}).get("fields"),
        searchable=searchable,
        document=ingestion_document(outbox_event),
        flush=flush,
    )
    return audit_event, outbox_event


def _row_key(row: Achievement) -> str:
    return natural_key(
        application_no=row.patents[0]["application_no"] if row.patents else None,
        external_id=row.external_id,
        title=row.title,
        summary=row.summary,
    )


def _check_expiry_date(kind: ListingKind, value: dt.date | None) -> None:
    if value is not None and value < today_in_china():
        raise ValidationFailed.field(kind.expiry_field, "must be today or later (Beijing time)", type="date_in_past")


def _assign(kind: ListingKind, row: Listing, values: dict[str, Any]) -> list[str]:
    """Set ``values`` on ``row``; returns the names of the fields whose value changed."""
    changed: list[str] = []
    money = kind.money_field
    for name, value in values.items():
        if name == money:
            new = (value["kind"], value.get("min_fen"), value.get("max_fen"))
            old = tuple(getattr(row, f"{money}_{part}") for part in ("kind", "min_fen", "max_fen"))
            if new != old:
                for part, part_value in zip(("kind", "min_fen", "max_fen"), new, strict=True):
                    setattr(row, f"{money}_{part}", str(part_value) if part == "kind" else part_value)
                changed.append(name)
            continue
        if isinstance(value, list):
            value = [str(v) if isinstance(v, str) else v for v in value]
        elif isinstance(value, str):
            value = str(value)
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed.append(name)
    return changed


def _authorize_creator(kind: ListingKind, principal: Principal) -> uuid.UUID:
    if principal.org_id is None or not principal.has_role(*MEMBER_ROLES):
        raise Forbidden(f"Only members of an organization can create {kind.plural}.")
    if principal.org_kind not in kind.creator_org_kinds:
        allowed = ", ".join(sorted(kind.creator_org_kinds))
        raise Forbidden(
            f"{kind.plural.capitalize()} are listed by organizations of kind {allowed}, not {principal.org_kind}.",
            slug="organization-kind-not-allowed",
        )
    return principal.org_id


def _new_row(kind: ListingKind, principal: Principal, owner_org_id: uuid.UUID, payload: BaseModel) -> Listing:
    values = payload.model_dump()
    _check_expiry_date(kind, values.get(kind.expiry_field))
    if values.get("region_code") is None:
        if principal.org_region is None:
            raise ValidationFailed.field("region_code", "required: your organization has no region on record")
        values["region_code"] = principal.org_region
    now = utcnow()
    initial: dict[str, Any] = {
        "owner_org_id": owner_org_id,
        "owner_org_path": principal.org_path or f"/{owner_org_id}/",
        "owner_org_kind": principal.org_kind or "",
        "created_by": principal.subject,
        "status": "draft",
        "version": 1,
        "created_at": now,
        "updated_at": now,
        "title": values["title"],
        "technical_field": values["technical_field"],
        "region_code": values["region_code"],
        f"{kind.money_field}_kind": "negotiable",
    }
    if kind is ACHIEVEMENT:
        initial["natural_key"] = ""
    row = kind.model(**initial)
    _assign(kind, row, values)
    if isinstance(row, Achievement):
        row.natural_key = _row_key(row)
    return row


async def _insert(*, session: AsyncSession, kind: ListingKind, row: Listing, principal: Principal) -> None:
    repository = ListingRepository(session, kind.model)
    if isinstance(row, Achievement):
        await _check_unique(repository, row)
    try:
        await repository.add(row)
    except IntegrityError as exc:
        # A concurrent request listed the same achievement, or used the same external_id, first.
        raise Conflict("Your organization already lists this achievement.", slug="duplicate-listing") from exc
    await _record_created(
        session=session, kind=kind, row=row, principal=principal, owner=await owner_of(session=session, row=row)
    )


async def _record_created(
    *,
    session: AsyncSession,
    kind: ListingKind,
    row: Listing,
    principal: Principal,
    owner: OrganizationCard | None,
    flush: bool = True,
) -> None:
    """Audit and publish a new listing (a create, or an import row: flushed with its batch)."""
    await _record_change(
        session=session,
        kind=kind,
        row=row,
        action="created",
        from_status=None,
        actor=principal,
        owner=owner,
        flush=flush,
    )


async def _check_unique(repository: ListingRepository, row: Achievement) -> None:
    """409 when another achievement of the owner has the natural key or the external_id of ``row``."""
    key_owner = await repository.find_achievement(
        owner_org_id=row.owner_org_id, column="natural_key", value=row.natural_key
    )
    if key_owner is not None and key_owner.id != row.id:
        raise Conflict(
            "Your organization already lists this achievement (same first patent application number, same "
            "external_id, or same title and summary).",
            slug="duplicate-listing",
            errors=[
                {"field": name, "message": "the same as on the existing listing", "type": "duplicate"}
                for name in key_fields(row.natural_key)
            ],
            extra={"existing_id": str(key_owner.id)},
        )
    if row.external_id is None:
        return
    id_owner = await repository.find_achievement(
        owner_org_id=row.owner_org_id, column="external_id", value=row.external_id
    )
    if id_owner is not None and id_owner.id != row.id:
        raise Conflict(
            "Your organization already uses this external_id on another achievement.",
            slug="duplicate-external-id",
            errors=[_external_id_taken(id_owner.id)],
            extra={"existing_id": str(id_owner.id)},
        )


def _external_id_taken(existing_id: uuid.UUID) -> dict[str, Any]:
    return {
        "field": "external_id",
        "message": f"already used by achievement {existing_id} of your organization",
        "type": "duplicate",
    }


async def create_listing(
    *, session: AsyncSession, kind: ListingKind, principal: Principal, payload: BaseModel
) -> Listing:
    """Create a draft listing owned by the caller's organization."""
    owner_org_id = _authorize_creator(kind, principal)
    row = _new_row(kind, principal, owner_org_id, payload)
    await _insert(session=session, kind=kind, row=row, principal=principal)
    return row


async def _expire(*, session: AsyncSession, kind: ListingKind, row: Listing, owner: OrganizationCard | None) -> None:
    previous = row.status
    row.status = "expired"
    row.version += 1
    row.updated_at = utcnow()
    await ListingRepository(session, kind.model).flush()
    await _record_change(
        session=session, kind=kind, row=row, action="expired", from_status=previous, actor=None, owner=owner
    )


def _is_due(kind: ListingKind, row: Readable) -> bool:
    last_day: dt.date | None = getattr(row, kind.expiry_field)
    return row.status in kind.open_states and last_day is not None and last_day < today_in_china()


async def expire_due(*, session: AsyncSession, kind: ListingKind, limit: int = EXPIRY_BATCH) -> int:
    """Move open listings past their last day to expired; returns how many."""
    rows = await ListingRepository(session, kind.model).due_for_expiry(
        expiry_field=kind.expiry_field, today=today_in_china(), open_states=kind.open_states, limit=limit
    )
    owners = await directory.get_many(session=session, ids={row.owner_org_id for row in rows})
    for row in rows:
        await _expire(session=session, kind=kind, row=row, owner=owners.get(row.owner_org_id))
    return len(rows)


def _expiring_notice(kind: ListingKind, row: Listing, within_days: int) -> notifications_service.Notice:
    last_day: dt.date = getattr(row, kind.expiry_field)
    return notifications_service.Notice(
        # The last day is the occasion: a listing whose last day is moved later is announced again.
        occasion=last_day.isoformat(),
        title=f"您发布的{kind.label_zh}将在{within_days}天内到期",
        subject_type=kind.name,
        subject_id=row.id,
        data={
            f"{kind.name}_id": str(row.id),
            "title": row.title,
            "status": row.status,
            kind.expiry_field: last_day.isoformat(),
        },
        orgs=[(row.owner_org_id, None)],
    )


async def notify_expiring(
    *,
    session: AsyncSession,
    kind: ListingKind,
    now: dt.datetime | None = None,
    within_days: int = EXPIRING_NOTICE_DAYS,
    batch: int = EXPIRY_BATCH,
) -> int:
    """``listing.expiring`` to the owner organization of every listing on the market (published, negotiating or
    matched: the states that still expire) whose last day is today or within ``within_days`` days (Beijing dates of
    ``now``, default the current instant), once per listing and last day; returns how many (maintenance job)."""
    today = china_date(now or utcnow())
    states = kind.open_states & kind.public_states
    repository = ListingRepository(session, kind.model)
    announced = 0
    after_id: uuid.UUID | None = None
    while True:
        rows = await repository.expiring(
            expiry_field=kind.expiry_field,
            first_day=today,
            last_day=today + dt.timedelta(days=within_days),
            states=states,
            after_id=after_id,
            limit=batch,
        )
        notices = [_expiring_notice(kind, row, within_days) for row in rows]
        announced += await notifications_service.notify_once(
            session=session, type="listing.expiring", notices=notices, now=now
        )
        if len(rows) < batch:
            return announced
        after_id = rows[-1].id


async def _load(
    *, session: AsyncSession, kind: ListingKind, principal: Principal | None, listing_id: uuid.UUID, for_update: bool
) -> Listing:
    row = await ListingRepository(session, kind.model).get(listing_id, for_update=for_update)
    if row is None or not _visible(kind, principal, row):
        raise NotFound(f"No {kind.name} {listing_id} that you can see.")
    if _is_due(kind, row):
        await _expire(session=session, kind=kind, row=row, owner=await owner_of(session=session, row=row))
    return row


async def peek_listing(*, session: AsyncSession, kind: ListingKind, listing_id: uuid.UUID) -> Listing | None:
    """The listing as stored, for another domain that judges its state itself (``access_of`` tells whether it is
    public today): no visibility check, and a due expiry is not recorded."""
    return await ListingRepository(session, kind.model).get(listing_id)


async def listings_by_id(
    *, session: AsyncSession, kind: ListingKind, listing_ids: list[uuid.UUID]
) -> dict[uuid.UUID, Listing]:
    """Several listings as stored (see ``peek_listing``), by id; unknown ids are left out."""
    rows = await ListingRepository(session, kind.model).get_many(listing_ids)
    return {row.id: row for row in rows}


async def get_listing(
    *, session: AsyncSession, kind: ListingKind, principal: Principal | None, listing_id: uuid.UUID
) -> Listing:
    """One listing visible to the caller (drafts of others are 404); expires it first when its day has passed."""
    row = await _load(session=session, kind=kind, principal=principal, listing_id=listing_id, for_update=False)
    if not _visible(kind, principal, row):
        raise NotFound(f"No {kind.name} {listing_id} that you can see.")
    return row


async def read_listing(
    *, session: AsyncSession, kind: ListingKind, principal: Principal | None, listing_id: uuid.UUID
) -> WithOwner | None:
    """:func:`get_listing` on a read-only session, with the owner's card (one statement, a Core row): the listing,
    or None when its last day has passed — get_listing on a read-write session then records the expiry first and
    answers as after it (404 for others than the owner)."""
    found = await ListingRepository(session, kind.model).get_with_owner(listing_id)
    if found is None or not _visible(kind, principal, found[0]):
        raise NotFound(f"No {kind.name} {listing_id} that you can see.")
    return None if _is_due(kind, found[0]) else found


async def _load_for_write(
    *, session: AsyncSession, kind: ListingKind, principal: Principal, listing_id: uuid.UUID
) -> Listing:
    row = await _load(session=session, kind=kind, principal=principal, listing_id=listing_id, for_update=True)
    if not _is_member_of_owner(principal, row):
        raise Forbidden(f"Only members of the organization that owns this {kind.name} can change it.")
    return row


async def update_listing(
    *,
    session: AsyncSession,
    kind: ListingKind,
    principal: Principal,
    listing_id: uuid.UUID,
    if_match: str | None,
    payload: BaseModel,
) -> Listing:
    """Apply a partial update to an open listing of the caller's organization (If-Match required)."""
    row = await _load_for_write(session=session, kind=kind, principal=principal, listing_id=listing_id)
    require_if_match(if_match, version=row.version)
    if row.status not in kind.open_states:
        raise Conflict(
            f"A {kind.name} in status {row.status} can no longer be edited.",
            slug="listing-not-editable",
            extra={"current_status": row.status},
        )
    values = payload.model_dump(exclude_unset=True)
    for name, value in values.items():
        if value is None and name in _REQUIRED:
            raise ValidationFailed.field(name, "cannot be null", type="null_not_allowed")
    if kind.expiry_field in values:
        _check_expiry_date(kind, values[kind.expiry_field])
    changed = _assign(kind, row, values)
    if not changed:
        return row
    if isinstance(row, Achievement):
        row.natural_key = _row_key(row)
        await _check_unique(ListingRepository(session, kind.model), row)
    row.version += 1
    row.updated_at = utcnow()
    try:
        await ListingRepository(session, kind.model).flush()
    except IntegrityError as exc:
        raise Conflict("Your organization already lists this achievement.", slug="duplicate-listing") from exc
    await _record_change(
        session=session,
        kind=kind,
        row=row,
        action="updated",
        from_status=row.status,
        actor=principal,
        owner=await owner_of(session=session, row=row),
        details={"fields": changed},
    )
    return row


async def transition_listing(
    *,
    session: AsyncSession,
    kind: ListingKind,
    principal: Principal,
    listing_id: uuid.UUID,
    if_match: str | None,
    action: str,
) -> Listing:
    """Move a listing along its lifecycle; illegal steps are 409, publishing needs a verified organization."""
    step = kind.transition(action)
    row = await _load_for_write(session=session, kind=kind, principal=principal, listing_id=listing_id)
    if step.needs_verified_org and not principal.org_verified:
        raise Forbidden("Your organization must be verified before it can publish.", slug="organization-not-verified")
    require_if_match(if_match, version=row.version)
    if row.status not in step.sources:
        raise Conflict(
            f"Cannot {action} a {kind.name} in status {row.status}.",
            slug="illegal-transition",
            extra={"current_status": row.status, "allowed_from": sorted(step.sources)},
        )
    previous = row.status
    now = utcnow()
    row.status = step.target
    row.version += 1
    row.updated_at = now
    if step.target == "published" and row.published_at is None:
        row.published_at = now
    await ListingRepository(session, kind.model).flush()
    await _record_change(
        session=session,
        kind=kind,
        row=row,
        action=step.target,
        from_status=previous,
        actor=principal,
        owner=await owner_of(session=session, row=row),
    )
    return row


async def list_listings(
    *,
    session: AsyncSession,
    kind: ListingKind,
    principal: Principal | None,
    filters: ListingFilters,
    limit: int,
    cursor: str | None,
) -> Page[Any]:
    """A page of listings the caller may see, newest first (open listings past their last day expired first)."""
    await expire_due(session=session, kind=kind)
    return await _page(session=session, kind=kind, principal=principal, filters=filters, limit=limit, cursor=cursor)


async def read_listings(
    *,
    session: AsyncSession,
    kind: ListingKind,
    principal: Principal | None,
    filters: ListingFilters,
    limit: int,
    cursor: str | None,
) -> Page[Any] | None:
    """:func:`list_listings` on a read-only session: the page, or None when some open listing's last day has passed
    — list_listings on a read-write session then records those expiries first (the sweep usually has already, so
    the common read takes no write lock)."""
    due = await ListingRepository(session, kind.model).any_due(
        expiry_field=kind.expiry_field, today=today_in_china(), open_states=kind.open_states
    )
    if due:
        return None
    return await _page(session=session, kind=kind, principal=principal, filters=filters, limit=limit, cursor=cursor)


async def _page(
    *,
    session: AsyncSession,
    kind: ListingKind,
    principal: Principal | None,
    filters: ListingFilters,
    limit: int,
    cursor: str | None,
) -> Page[Any]:
    before = cursor_id(cursor)
    rows = await ListingRepository(session, kind.model).page(
        filters=filters,
        public_states=kind.public_states,
        # Private rows of the caller's organization only for the roles that see them one by one (_sees_private).
        viewer_org_id=principal.org_id if principal is not None and principal.has_role(*MEMBER_ROLES) else None,
        sees_everything=principal is not None and principal.has_role("platform_admin"),
        before_id=before,
        limit=limit + 1,
    )
    next_cursor = cursor_after(rows, limit, id_of=lambda row: row[0].id)
    items = [to_public(kind, row, principal=principal, owner=owner) for row, owner in rows[:limit]]
    return Page[Any](items=items, next_cursor=next_cursor)


async def listing_history(
    *,
    session: AsyncSession,
    kind: ListingKind,
    principal: Principal,
    listing_id: uuid.UUID,
    limit: int,
    cursor: str | None,
) -> Page[AuditEventPublic]:
    """The audit trail of a listing, for its owner organization and platform admins."""
    row = await get_listing(session=session, kind=kind, principal=principal, listing_id=listing_id)
    if not _sees_private(principal, row):
        raise Forbidden(f"Only the owner organization and platform admins can read the history of a {kind.name}.")
    return await audit_service.history(
        session=session, entity_kind=kind.name, entity_id=row.id, limit=limit, cursor=cursor
    )


ImportInput = tuple[int, dict[str, Any] | None, list[dict[str, Any]]]


def _pydantic_errors(exc: ValidationError) -> list[dict[str, Any]]:
    return [
        {
            "field": ".".join(str(p) for p in err["loc"]) or "row",
            "message": "this field cannot be set here" if err["type"] == "extra_forbidden" else err["msg"],
            "type": err["type"],
        }
        for err in exc.errors()
    ]


async def import_achievements(
    *, session: AsyncSession, principal: Principal, rows: AsyncIterator[ImportInput]
) -> AchievementImportReport:
    """Create draft achievements row by row; bad rows are reported and skipped, known natural keys are not re-created."""
    kind = ACHIEVEMENT
    owner_org_id = _authorize_creator(kind, principal)
    repository = ListingRepository(session, kind.model)
    known = await repository.achievement_ids_by(owner_org_id=owner_org_id, column="natural_key")
    external_ids = await repository.achievement_ids_by(owner_org_id=owner_org_id, column="external_id")
    owner = await directory.get(session=session, org_id=owner_org_id)
    report: list[ImportRow] = []
    counts = {"created": 0, "existing": 0, "error": 0}
    pending = 0
    async for number, data, parse_errors in rows:
        if len(report) >= MAX_IMPORT_ROWS:
            raise PayloadTooLarge(f"An import holds at most {MAX_IMPORT_ROWS} rows; split the file.")
        outcome = await _import_one(
            session=session,
            kind=kind,
            principal=principal,
            owner_org_id=owner_org_id,
            owner=owner,
            known=known,
            external_ids=external_ids,
            number=number,
            data=data,
            parse_errors=parse_errors,
        )
        counts[outcome.status] += 1
        report.append(outcome)
        if outcome.status == "created":
            pending += 1
            if pending >= IMPORT_FLUSH_ROWS:
                await _flush_import_batch(session=session)
                pending = 0
    await _flush_import_batch(session=session)
    return AchievementImportReport(
        total_rows=len(report),
        created=counts["created"],
        existing=counts["existing"],
        failed=counts["error"],
        rows=report,
    )


async def _flush_import_batch(*, session: AsyncSession) -> None:
    """Write the pending rows in one flush and drop them from the session, so a long import stays linear."""
    try:
        await session.flush()
    except IntegrityError as exc:
        # Only a concurrent import of the same file by the same organization gets here.
        raise Conflict(
            "Another import or create of the same achievements ran at the same time; import again.",
            slug="duplicate-listing",
        ) from exc
    session.expunge_all()


async def _import_one(
    *,
    session: AsyncSession,
    kind: ListingKind,
    principal: Principal,
    owner_org_id: uuid.UUID,
    owner: OrganizationCard | None,
    known: dict[str, uuid.UUID],
    external_ids: dict[str, uuid.UUID],
    number: int,
    data: dict[str, Any] | None,
    parse_errors: list[dict[str, Any]],
) -> ImportRow:
    """Validate one row completely before it touches the session: a bad row adds nothing.

    A known natural key is `existing` (nothing stored, nothing updated, like the 409 of a create); an external_id
    of another listing of the owner is an error of the row (like the 409 of a create).
    """
    if data is None:
        return ImportRow(row=number, status="error", errors=parse_errors)
    try:
        payload = AchievementCreate.model_validate(data)
    except ValidationError as exc:
        return ImportRow(row=number, status="error", errors=_pydantic_errors(exc))
    key = natural_key(
        application_no=payload.patents[0].application_no if payload.patents else None,
        external_id=payload.external_id,
        title=payload.title,
        summary=payload.summary,
    )
    if key in known:
        return ImportRow(row=number, status="existing", id=known[key])
    if payload.external_id is not None and payload.external_id in external_ids:
        return ImportRow(row=number, status="error", errors=[_external_id_taken(external_ids[payload.external_id])])
    try:
        row = _new_row(kind, principal, owner_org_id, payload)
    except ProblemError as exc:
        return ImportRow(row=number, status="error", errors=exc.errors or [{"field": "row", "message": exc.detail}])
    await ListingRepository(session, kind.model).add(row, flush=False)
    await _record_created(session=session, kind=kind, row=row, principal=principal, owner=owner, flush=False)
    known[key] = row.id
    if payload.external_id is not None:
        external_ids[payload.external_id] = row.id
    return ImportRow(row=number, status="created", id=row.id)


# -- the owner organization changed (called by the directory feed) ----------------------------------------------------


def _owner_action(before: OrganizationCard | None, after: OrganizationCard) -> str | None:
    """What a directory change means for the owner's public listings: the audit action, or None (nothing)."""
    hidden_before = before is not None and before.listings_hidden
    if after.listings_hidden:
        return None if hidden_before else f"owner_{after.status}"  # owner_suspended (or owner_rejected)
    if hidden_before:
        return "owner_reinstated"
    if before is None or (before.name, before.kind, before.region_code) != (after.name, after.kind, after.region_code):
        # Unknown before: its listings went to search without the owner's name.
        return "owner_updated"
    return None


async def follow_owner_changes(*, session: AsyncSession, applied: Sequence[Applied]) -> int:
    """Re-send the public listings of organizations whose public facts changed; returns how many listings.

    Renamed, re-kinded or moved to another region → each public listing gets version + 1, an audit row (actor
    ``system``, action ``owner_updated``) and an outbox upsert carrying the new owner. Suspended → version + 1,
    ``owner_suspended``, an outbox delete (it leaves search; likewise ``owner_rejected``). Reinstated (verified or
    pending again) → ``owner_reinstated``, an upsert. Nothing else of the listings changes (not even ``updated_at``:
    their owner did not edit them), and listings that are not public are not touched (their next change sends them
    with the owner as it is then).
    """
    touched = 0
    for change in applied:
        action = _owner_action(change.before, change.after)
        if action is None:
            continue
        for kind in (ACHIEVEMENT, DEMAND):
            touched += await _resend_public(session=session, kind=kind, owner=change.after, action=action)
    return touched


async def _resend_public(*, session: AsyncSession, kind: ListingKind, owner: OrganizationCard, action: str) -> int:
    """One action on every public listing of ``owner``, OWNER_CHANGE_BATCH rows per flush (like the importer)."""
    repository = ListingRepository(session, kind.model)
    details = {"owner": {"name": owner.name, "kind": owner.kind, "region_code": owner.region_code}}
    done = 0
    after_id: uuid.UUID | None = None
    while True:
        rows = await repository.public_of_owner(
            owner_org_id=owner.id, public_states=kind.public_states, after_id=after_id, limit=OWNER_CHANGE_BATCH
        )
        if not rows:
            return done
        written: list[object] = []
        for row in rows:
            row.version += 1
            written.append(row)
            written.extend(
                await _record_change(
                    session=session,
                    kind=kind,
                    row=row,
                    action=action,
                    from_status=row.status,
                    actor=None,
                    owner=owner,
                    details=details,
                    flush=False,
                )
            )
        await repository.flush()
        # Drop what this batch wrote from the session, so an owner of thousands of listings stays linear.
        for instance in written:
            session.expunge(instance)
        done += len(rows)
        after_id = rows[-1].id
        if len(rows) < OWNER_CHANGE_BATCH:
            return done
