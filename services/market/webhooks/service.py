"""Manage an organization's webhook endpoints and fan events out to them (see the package docstring)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.market.concurrency import require_if_match
from services.market.webhooks import signing
from services.market.webhooks.models import WebhookDelivery, WebhookEndpoint
from services.market.webhooks.repository import WebhookRepository
from services.market.webhooks.schemas import (
    AttemptPublic,
    DeliveryPublic,
    SecretRotated,
    TestQueued,
    WebhookCreate,
    WebhookCreated,
    WebhookPublic,
    WebhookUpdate,
)
from services.market.webhooks.ssrf import Resolver, UnsafeUrl, check_url
from shared.clock import utcnow
from shared.errors import Conflict, Forbidden, NotFound, ValidationFailed
from shared.pagination import Page, cursor_after, cursor_id
from shared.security import Principal

__all__ = [
    "MAX_ENDPOINTS_PER_ORG",
    "PREVIOUS_SECRET_TTL",
    "create_webhook",
    "delete_webhook",
    "enqueue",
    "get_webhook",
    "list_deliveries",
    "list_webhooks",
    "public_payload",
    "rotate_secret",
    "send_test",
    "update_webhook",
]

PREVIOUS_SECRET_TTL = dt.timedelta(hours=24)
# Every event of an organization fans out to each of its endpoints: a bound keeps one event's cost bounded.
MAX_ENDPOINTS_PER_ORG = 20
ADMIN_ROLE = "org_admin"
READER_ROLE = "platform_admin"
# Keys never copied into a webhook body, however a caller builds its data: contacts stay inside the platform.
_PRIVATE_KEYS = frozenset({"contact", "contacts"})


def public_payload(value: Any) -> Any:
    """``value`` without any ``contact``/``contacts`` key at any depth (defence in depth: callers pass public data)."""
    if isinstance(value, Mapping):
        return {str(k): public_payload(v) for k, v in value.items() if str(k).lower() not in _PRIVATE_KEYS}
    if isinstance(value, list | tuple):
        return [public_payload(v) for v in value]
    return value


def _instant(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _body(event_type: str, data: Mapping[str, Any] | None, now: dt.datetime) -> str:
    body = {"type": event_type, "timestamp": _instant(now), "data": public_payload(dict(data or {}))}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str)


def _delivery(endpoint: WebhookEndpoint, event_type: str, payload: str, now: dt.datetime) -> WebhookDelivery:
    return WebhookDelivery(
        endpoint_id=endpoint.id, event_type=event_type, payload=payload, created_at=now, next_attempt_at=now
    )


async def enqueue(
    *, session: AsyncSession, org_ids: Iterable[uuid.UUID | None], event_type: str, data: Mapping[str, Any] | None
) -> int:
    """One delivery per enabled endpoint of ``org_ids`` subscribed to ``event_type``, in the caller's transaction
    (flush only: the event and its deliveries commit together — the outbox). Returns how many were written."""
    repository = WebhookRepository(session)
    endpoints = [
        e
        for e in await repository.enabled_endpoints(o for o in org_ids if o is not None)
        if event_type in e.event_types
    ]
    if not endpoints:
        return 0
    now = utcnow()
    payload = _body(event_type, data, now)
    await repository.add(*(_delivery(e, event_type, payload, now) for e in endpoints))
    return len(endpoints)


def _public(row: WebhookEndpoint, now: dt.datetime | None = None) -> WebhookPublic:
    expires = row.previous_secret_expires_at
    if expires is not None and expires <= (now or utcnow()):
        expires = None
    return WebhookPublic(
        id=row.id,
        org_id=row.org_id,
        url=row.url,
        description=row.description,
        event_types=list(row.event_types),
        enabled=row.enabled,
        disabled_at=row.disabled_at,
        disabled_reason=row.disabled_reason,
        previous_secret_expires_at=expires,
        created_at=row.created_at,
        updated_at=row.updated_at,
        version=row.version,
    )


def _admin_org(principal: Principal) -> uuid.UUID:
    if principal.org_id is None or not principal.has_role(ADMIN_ROLE):
        raise Forbidden("Webhooks are managed by an org_admin of the organization.")
    return principal.org_id


async def _visible(
    session: AsyncSession, principal: Principal, webhook_id: uuid.UUID, *, write: bool
) -> WebhookEndpoint:
    """The endpoint for an org admin of its organization (a platform admin may read it); 404 to anyone outside
    its organization, 403 to its other members."""
    row = await WebhookRepository(session).endpoint(webhook_id, for_update=write)
    if row is None:
        raise NotFound(f"No webhook {webhook_id}.")
    own = principal.org_id == row.org_id
    if own and principal.has_role(ADMIN_ROLE):
        return row
    if principal.has_role(READER_ROLE):
        if write:
            raise Forbidden("A platform admin may read webhooks; only the organization's org_admin changes them.")
        return row
    if own:
        raise Forbidden("Webhooks are managed by an org_admin of the organization.")
    raise NotFound(f"No webhook {webhook_id}.")


async def _checked_url(url: str, *, environment: str, resolver: Resolver | None) -> str:
    try:
        await check_url(url, environment=environment, resolver=resolver)
    except UnsafeUrl as exc:
        raise ValidationFailed.field("url", str(exc), type="url_refused") from exc
    return url


async def create_webhook(
    *,
    session: AsyncSession,
    principal: Principal,
    data: WebhookCreate,
    environment: str,
    resolver: Resolver | None = None,
) -> WebhookCreated:
    """A new endpoint of the caller's organization; the only response that shows its secret."""
    org_id = _admin_org(principal)
    url = await _checked_url(data.url, environment=environment, resolver=resolver)
    repository = WebhookRepository(session)
    if await repository.count_endpoints(org_id) >= MAX_ENDPOINTS_PER_ORG:
        raise Conflict(
            f"An organization has at most {MAX_ENDPOINTS_PER_ORG} webhook endpoints; delete one first.",
            slug="webhook-limit",
        )
    now = utcnow()
    row = WebhookEndpoint(
        org_id=org_id,
        url=url,
        description=data.description,
        event_types=list(dict.fromkeys(data.event_types)),
        secret=signing.new_secret(),
        created_by=principal.subject,
        created_at=now,
        updated_at=now,
    )
    await repository.add(row)
    return WebhookCreated(**_public(row, now).model_dump(), secret=row.secret)


async def list_webhooks(
    *, session: AsyncSession, principal: Principal, limit: int, cursor: str | None
) -> Page[WebhookPublic]:
    """The endpoints of the caller's organization, oldest first (org admins and platform admins)."""
    if principal.org_id is None or not principal.has_role(ADMIN_ROLE, READER_ROLE):
        raise Forbidden("Webhooks are managed by an org_admin of the organization.")
    rows = await WebhookRepository(session).endpoints_page(principal.org_id, after=cursor_id(cursor), limit=limit + 1)
    next_cursor = cursor_after(rows, limit, id_of=lambda row: row.id)
    return Page[WebhookPublic](items=[_public(r) for r in rows[:limit]], next_cursor=next_cursor)


async def get_webhook(*, session: AsyncSession, principal: Principal, webhook_id: uuid.UUID) -> WebhookPublic:
    """One endpoint, without its secret (org admins of its organization; platform admins)."""
    return _public(await _visible(session, principal, webhook_id, write=False))


async def update_webhook(
    *,
    session: AsyncSession,
    principal: Principal,
    webhook_id: uuid.UUID,
    data: WebhookUpdate,
    if_match: str | None,
    environment: str,
    resolver: Resolver | None = None,
) -> WebhookPublic:
    """Change url, event types, description or enabled (If-Match required). Disabling cancels what is pending;
    re-enabling clears the disabled mark."""
    row = await _visible(session, principal, webhook_id, write=True)
    require_if_match(if_match, version=row.version)
    values = data.model_dump(exclude_unset=True)
    for name in ("url", "event_types", "enabled"):
        if name in values and values[name] is None:
            raise ValidationFailed.field(name, "may not be null")
    now = utcnow()
    if "url" in values:
        row.url = await _checked_url(values["url"], environment=environment, resolver=resolver)
    if "event_types" in values:
        row.event_types = list(dict.fromkeys(values["event_types"]))
    if "description" in values:
        row.description = values["description"]
    if "enabled" in values and values["enabled"] != row.enabled:
        row.enabled = values["enabled"]
        if row.enabled:
            row.disabled_at, row.disabled_reason = None, None
        else:
            row.disabled_at, row.disabled_reason = now, "disabled by an org admin"
            await WebhookRepository(session).cancel_pending(row.id, now)
    row.updated_at = now
    row.version += 1
    await session.flush()
    return _public(row, now)


async def delete_webhook(*, session: AsyncSession, principal: Principal, webhook_id: uuid.UUID) -> None:
    """Remove the endpoint with its deliveries: nothing more is sent to it."""
    row = await _visible(session, principal, webhook_id, write=True)
    await WebhookRepository(session).delete_endpoint(row)


async def rotate_secret(*, session: AsyncSession, principal: Principal, webhook_id: uuid.UUID) -> SecretRotated:
    """A new secret, shown once; the one it replaces keeps signing for 24 h (a secret rotated away earlier —
    the previous of the previous — stops at once)."""
    row = await _visible(session, principal, webhook_id, write=True)
    now = utcnow()
    row.previous_secret = row.secret
    row.previous_secret_expires_at = now + PREVIOUS_SECRET_TTL
    row.secret = signing.new_secret()
    row.updated_at = now
    row.version += 1
    await session.flush()
    return SecretRotated(secret=row.secret, previous_secret_expires_at=row.previous_secret_expires_at)


async def send_test(*, session: AsyncSession, principal: Principal, webhook_id: uuid.UUID) -> TestQueued:
    """Enqueue a webhook.test event for this endpoint alone (subscribed to it or not); 409 when disabled."""
    row = await _visible(session, principal, webhook_id, write=True)
    if not row.enabled:
        raise Conflict("The webhook is disabled: enable it (PATCH enabled=true) before testing it.")
    now = utcnow()
    data = {"webhook_id": str(row.id), "message": "A test event from techmarket."}
    delivery = _delivery(row, "webhook.test", _body("webhook.test", data, now), now)
    await WebhookRepository(session).add(delivery)
    return TestQueued(delivery_id=delivery.id)


async def list_deliveries(
    *, session: AsyncSession, principal: Principal, webhook_id: uuid.UUID, limit: int, cursor: str | None
) -> Page[DeliveryPublic]:
    """The endpoint's deliveries, newest first, each with its attempts."""
    row = await _visible(session, principal, webhook_id, write=False)
    repository = WebhookRepository(session)
    rows = await repository.deliveries_page(row.id, before=cursor_id(cursor), limit=limit + 1)
    page = rows[:limit]
    attempts = await repository.attempts_of([d.id for d in page])
    items = [
        DeliveryPublic(
            id=d.id,
            event_type=d.event_type,
            status=d.status,
            created_at=d.created_at,
            next_attempt_at=d.next_attempt_at if d.status == "pending" else None,
            attempts=[
                AttemptPublic(
                    attempted_at=a.attempted_at, status_code=a.status_code, latency_ms=a.latency_ms, error=a.error
                )
                for a in attempts[d.id]
            ],
        )
        for d in page
    ]
    next_cursor = cursor_after(rows, limit, id_of=lambda row: row.id)
    return Page[DeliveryPublic](items=items, next_cursor=next_cursor)
