"""Applying auth's organization feed: the directory read model and the consequences of every change.

One entry point for both ways organizations arrive — the relay's batches (POST /market/directory/organizations)
and the rebuild from auth's API (``techmarket market directory-rebuild``) — so both store the same way and
trigger the same consequences, in the caller's transaction, in the order given:

- offices follow registration offices (services.market.offices.service.follow_directory);
- listings follow their owner (services.market.listings.service.follow_owner_changes).

Dependencies point one way: this module imports the directory service, offices and listings; listings (and
contracts, proposals…) read the directory through ``directory.service`` only, and nothing imports this module
but the feed's router and its rebuild command.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from services.market.directory import service as directory
from services.market.directory.schemas import DirectoryBatch, OrganizationCard
from services.market.listings import service as listings_service
from services.market.offices import service as offices_service
from shared.errors import FieldError, ValidationFailed

__all__ = ["FeedReport", "apply_cards", "cards_of"]


@dataclass(frozen=True, slots=True)
class FeedReport:
    """What one application of the feed did."""

    applied: int
    stale: int
    offices: int
    listings: int


def _mismatch(field: str, message: str) -> FieldError:
    return {"field": field, "in": "body", "message": message, "type": "mismatch"}


def cards_of(batch: DirectoryBatch) -> list[OrganizationCard]:
    """The cards of a relay batch; 422 naming the field when a document contradicts its own fields."""
    errors: list[FieldError] = []
    for position, document in enumerate(batch.documents):
        where = f"documents.{position}"
        if document.fields.id != document.id:
            errors.append(_mismatch(f"{where}.fields.id", "differs from the document's id"))
        if document.fields.version != document.version:
            errors.append(_mismatch(f"{where}.fields.version", "differs from the document's version"))
    if errors:
        raise ValidationFailed("Some documents contradict themselves; nothing was applied.", errors=errors)
    return [document.fields.card() for document in batch.documents]


async def apply_cards(*, session: AsyncSession, cards: Sequence[OrganizationCard]) -> FeedReport:
    """Store the cards newer than what is stored, in order, with their consequences (the caller commits)."""
    applied = await directory.apply(session=session, cards=cards)
    offices = await offices_service.follow_directory(session=session, applied=applied)
    listings = await listings_service.follow_owner_changes(session=session, applied=applied)
    return FeedReport(applied=len(applied), stale=len(cards) - len(applied), offices=offices, listings=listings)
