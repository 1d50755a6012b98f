"""Publishing an organization's changes: the one place that bumps its version, audits the change and appends the
event of the organization feed (auth_outbox → market's directory).

Both organizations.service (signup, decisions, updates, designations) and users.service (a broker certificate
added, changed or removed changes the organization's published ``broker_certificates_valid_until``) record their
changes here; this module imports neither of them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.auth.audit import service as audit
from services.auth.organizations.models import Organization
from services.auth.organizations.repository import OrganizationRepository
from services.auth.outbox.models import AuthOutboxEvent
from services.auth.users.repository import UserRepository
from services.auth.vocabulary import OrgEvent
from shared.clock import utcnow
from shared.outbox import service as outbox

__all__ = ["FEED_ENTITY_KIND", "designation_of", "directory_fields", "record_change", "refresh_brokers"]

# entity_kind of the organization events in auth_outbox.
FEED_ENTITY_KIND = "organization"


def designation_of(organization: Organization) -> dict[str, Any] | None:
    """The designation (示范机构) as published: {level, year, revoked}, or None when it never had one."""
    designation = organization.designation
    if designation is None:
        return None
    return {name: designation[name] for name in ("level", "year", "revoked")}


def directory_fields(organization: Organization) -> dict[str, Any]:
    """What market's directory learns of an organization: its public registration facts, its designation and the
    ends of its broker certificates — never members or contacts. JSON values only."""
    return {
        "id": str(organization.id),
        "name": organization.name,
        "kind": str(organization.kind),
        "credit_code": organization.credit_code,
        "region_code": organization.region_code,
        "parent_id": str(organization.parent_id) if organization.parent_id else None,
        "path": organization.path,
        "status": str(organization.status),
        "designation": designation_of(organization),
        "broker_certificates_valid_until": list(organization.broker_certificates_valid_until or []),
        "version": organization.version,
        "updated_at": organization.updated_at.isoformat(),
    }


async def record_change(
    session: AsyncSession,
    organization: Organization,
    *,
    event: OrgEvent,
    actor: str,
    action: str,
    from_state: str | None = None,
    to_state: str | None = None,
    now: dt.datetime | None = None,
) -> None:
    """Record a change already applied to ``organization``: version + 1 (a new one keeps 1), the audit row, the
    flush, and one auth_outbox event — the one place an organization change is published.

    The row is flushed before the event is added, so a uniqueness failure (credit code) raises here and leaves
    no event behind (the request's transaction rolls back either way).
    """
    if event != OrgEvent.CREATED:
        organization.version += 1
        organization.updated_at = now or utcnow()
    session.add(organization)
    await audit.record(
        session=session,
        actor=actor,
        action=action,
        organization_id=organization.id,
        subject=str(organization.id),
        from_state=from_state,
        to_state=to_state,
    )
    await session.flush()
    await outbox.enqueue(
        session=session,
        model=AuthOutboxEvent,
        entity_kind=FEED_ENTITY_KIND,
        entity_id=organization.id,
        version=organization.version,
        event_type=event,
        op="upsert",
        fields=directory_fields(organization),
    )


async def refresh_brokers(*, session: AsyncSession, organization_id: uuid.UUID, actor: str) -> None:
    """Recompute the organization's published broker certificate ends from its memberships (after a membership was
    written and flushed); when they changed, publish the organization (organization.brokers_changed)."""
    organization = await OrganizationRepository(session).get_for_update(organization_id)
    if organization is None:
        return
    ends = sorted(d.isoformat() for d in await UserRepository(session).broker_certificate_ends(organization_id))
    before = list(organization.broker_certificates_valid_until or [])
    if ends == before:
        return
    organization.broker_certificates_valid_until = ends
    await record_change(
        session,
        organization,
        event=OrgEvent.BROKERS_CHANGED,
        actor=actor,
        action="organization.brokers_changed",
        from_state=("broker certificates valid until " + ", ".join(before))[:1000] if before else None,
        to_state=("broker certificates valid until " + ", ".join(ends))[:1000] if ends else None,
    )
