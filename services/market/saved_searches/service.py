"""Saved searches of a user (CRUD) and the alert jobs the listings enqueue (see the package docstring).

The alert side — running the jobs, recording hits, sending alerts and digests — is in
:mod:`services.market.match_alerts.service`, run by the market worker, off the request path.
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from services.market.audit import service as audit_service
from services.market.saved_searches.models import MatchAlertJob, SavedSearch
from services.market.saved_searches.repository import SavedSearchRepository
from services.market.saved_searches.schemas import FILTER_FIELDS, SavedSearchPublic
from shared.clock import utcnow
from shared.concurrency import check_if_match
from shared.errors import Conflict, NotFound, ValidationFailed
from shared.pagination import Page, cursor_after, cursor_id
from shared.reference.search_filters import check_search_filters
from shared.security import Principal

__all__ = [
    "SEARCHABLE_FIELDS",
    "create_saved_search",
    "delete_saved_search",
    "get_saved_search",
    "list_saved_searches",
    "listing_changed",
    "to_public",
    "update_saved_search",
]

# The listing fields search indexes or filters on: a change of any of them while the listing is published may make
# it match searches it did not match before (a change of contact, deadline or match_alerts cannot).
SEARCHABLE_FIELDS = frozenset(
    {
        "title",
        "summary",
        "description",
        "keywords",
        "technical_field",
        "region_code",
        "ipc_codes",
        "patents",
        "inventors",
        "ip_type",
        "trl",
        "desired_trl",
        "transfer_modes",
        "cooperation_modes",
        "price",
        "budget",
    }
)
# Listing actions that make a listing searchable again (published, or back from a suspended owner).
_BECOMES_SEARCHABLE = frozenset({"published", "owner_reinstated"})


# -- the alert jobs (called by the listings, in the transaction of the change) ---------------------------------------


async def listing_changed(
    *,
    session: AsyncSession,
    kind: str,
    listing_id: uuid.UUID,
    version: int,
    owner_org_id: uuid.UUID,
    action: str,
    changed_fields: list[str] | None,
    searchable: bool,
    document: dict[str, Any],
    flush: bool = True,
) -> MatchAlertJob | None:
    """Enqueue an alert job when a listing became searchable or changed materially while searchable.

    ``document`` is the search ingestion document of the change (the outbox event's). A listing that left search
    (withdrawn, expired, owner suspended) cancels its pending jobs: nobody is alerted of what is gone.
    """
    repository = SavedSearchRepository(session)
    now = utcnow()
    if not searchable:
        if action != "created":  # a new draft has no job to cancel (and an import of thousands stays cheap)
            await repository.cancel_jobs(listing_id, now)
        return None
    material = action in _BECOMES_SEARCHABLE or (
        action == "updated" and bool(SEARCHABLE_FIELDS.intersection(changed_fields or ()))
    )
    if not material:
        return None
    job = MatchAlertJob(
        listing_kind=kind,
        listing_id=listing_id,
        listing_version=version,
        owner_org_id=owner_org_id,
        document=document,
        created_at=now,
        next_attempt_at=now,
    )
    await repository.add_job(job, flush=flush)
    return job


# -- the searches ----------------------------------------------------------------------------------------------------


def to_public(row: SavedSearch) -> SavedSearchPublic:
    """The API view: the stored amount and mode under the search API's names of the search's kind."""
    data: dict[str, Any] = {
        name: getattr(row, name)
        for name in (
            "id",
            "name",
            "kind",
            "q",
            "matching",
            "channel",
            "frequency",
            "active",
            "version",
            "created_at",
            "updated_at",
            "last_alert_at",
            "alerts_sent",
        )
    }
    for name, (kind, column) in FILTER_FIELDS.items():
        data[name] = getattr(row, column) if kind in (None, row.kind) else None
    return SavedSearchPublic.model_validate(data)


def _check(row: SavedSearch, sent: dict[str, Any]) -> None:
    """Rules over the whole search (after a create or a merged update): 422 naming the field."""
    for name, (kind, _column) in FILTER_FIELDS.items():
        if kind is not None and kind != row.kind and sent.get(name) is not None:
            raise ValidationFailed.field(name, f"not a filter of {row.kind} searches", type="not_applicable")
    check_search_filters(
        technical_field=row.technical_field,
        region=row.region,
        trl_min=row.trl_min,
        trl_max=row.trl_max,
        amount_min_fen=row.amount_min_fen,
        amount_max_fen=row.amount_max_fen,
        amount_names=("price_min_fen", "price_max_fen")
        if row.kind == "achievement"
        else ("budget_min_fen", "budget_max_fen"),
    )
    filters = [getattr(row, column) for _kind, column in FILTER_FIELDS.values()]
    if not row.q and all(value is None for value in filters):
        raise ValidationFailed.field(
            "q", "give words or at least one filter: a search without either would alert on everything", type="empty"
        )


def _apply(row: SavedSearch, values: dict[str, Any]) -> None:
    for name, value in values.items():
        target = FILTER_FIELDS[name][1] if name in FILTER_FIELDS else name
        if name in FILTER_FIELDS:
            kind = FILTER_FIELDS[name][0]
            if kind is not None and kind != row.kind:
                continue  # refused by _check (when not null)
        setattr(row, target, value)


def _owner(principal: Principal) -> tuple[str, uuid.UUID | None]:
    return principal.subject, principal.org_id


async def create_saved_search(
    *, session: AsyncSession, principal: Principal, payload: BaseModel, cap: int
) -> SavedSearch:
    """Save a search of the caller (acting for their organization); at most ``cap`` per caller (409 beyond)."""
    user_id, org_id = _owner(principal)
    values = payload.model_dump()
    now = utcnow()
    row = SavedSearch(
        owner_user_id=user_id,
        owner_org_id=org_id,
        name=values.pop("name"),
        kind=values.pop("kind"),
        created_at=now,
        updated_at=now,
    )
    _apply(row, values)
    _check(row, values)
    repository = SavedSearchRepository(session)
    if await repository.count_of(user_id=user_id, org_id=org_id) >= cap:
        raise Conflict(
            f"You have {cap} saved searches, the most allowed; delete one first.",
            slug="saved-search-limit",
            extra={"limit": cap},
        )
    await repository.add(row)
    await _audit(session, row, "created", principal, None)
    return row


async def _audit(
    session: AsyncSession, row: SavedSearch, action: str, principal: Principal, details: dict[str, Any] | None
) -> None:
    await audit_service.record(
        session=session,
        entity_kind="saved_search",
        entity_id=row.id,
        action=action,
        from_status=None,
        to_status="active" if row.active else "inactive",
        actor=principal,
        details=details,
    )


async def get_saved_search(*, session: AsyncSession, principal: Principal, search_id: uuid.UUID) -> SavedSearch:
    """One of the caller's saved searches; 404 for anyone else's."""
    user_id, org_id = _owner(principal)
    row = await SavedSearchRepository(session).get_owned(search_id, user_id=user_id, org_id=org_id)
    if row is None:
        raise NotFound(f"No saved search {search_id} of yours.")
    return row


async def list_saved_searches(
    *, session: AsyncSession, principal: Principal, limit: int, cursor: str | None
) -> Page[SavedSearchPublic]:
    """The caller's saved searches, newest first, keyset-paginated on the id."""
    user_id, org_id = _owner(principal)
    rows = await SavedSearchRepository(session).page(
        user_id=user_id, org_id=org_id, before=cursor_id(cursor), limit=limit + 1
    )
    next_cursor = cursor_after(rows, limit, id_of=lambda row: row.id)
    return Page[SavedSearchPublic](items=[to_public(row) for row in rows[:limit]], next_cursor=next_cursor)


async def _owned_for_change(
    repository: SavedSearchRepository, *, principal: Principal, search_id: uuid.UUID, if_match: str | None
) -> SavedSearch:
    """One of the caller's searches, locked for a change (404 if not theirs; 412 when If-Match is stale)."""
    user_id, org_id = _owner(principal)
    row = await repository.get_owned(search_id, user_id=user_id, org_id=org_id, for_update=True)
    if row is None:
        raise NotFound(f"No saved search {search_id} of yours.")
    check_if_match(if_match, version=row.version)
    return row


_NOT_NULL = frozenset({"name", "q", "matching", "channel", "frequency", "active"})


async def update_saved_search(
    *, session: AsyncSession, principal: Principal, search_id: uuid.UUID, if_match: str | None, payload: BaseModel
) -> SavedSearch:
    """Partial update of one of the caller's searches (If-Match optional: 412 when stale)."""
    repository = SavedSearchRepository(session)
    row = await _owned_for_change(repository, principal=principal, search_id=search_id, if_match=if_match)
    values = payload.model_dump(exclude_unset=True)
    for name, value in values.items():
        if value is None and name in _NOT_NULL:
            raise ValidationFailed.field(name, "cannot be null", type="null_not_allowed")
    before = to_public(row).model_dump(mode="json")
    _apply(row, values)
    _check(row, values)
    after = to_public(row).model_dump(mode="json")
    changed = sorted(name for name in after if after[name] != before[name])
    if not changed:
        return row
    row.version += 1
    row.updated_at = utcnow()
    await repository.flush()
    await _audit(session, row, "updated", principal, {"fields": changed})
    return row


async def delete_saved_search(
    *, session: AsyncSession, principal: Principal, search_id: uuid.UUID, if_match: str | None
) -> None:
    """Delete one of the caller's searches and its recorded hits."""
    repository = SavedSearchRepository(session)
    row = await _owned_for_change(repository, principal=principal, search_id=search_id, if_match=if_match)
    await _audit(session, row, "deleted", principal, None)
    await repository.delete(row)
