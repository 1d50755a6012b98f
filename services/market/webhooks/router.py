"""Endpoints of /market/webhooks: an organization's webhook endpoints and their deliveries (thin: parse, call,
shape)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status

from services.market.concurrency import IfMatchHeader, etag_for
from services.market.webhooks import service
from services.market.webhooks.schemas import (
    DeliveryPublic,
    SecretRotated,
    TestQueued,
    WebhookCreate,
    WebhookCreated,
    WebhookPublic,
    WebhookUpdate,
)
from shared.db import SessionDep
from shared.errors import problem_responses
from shared.pagination import DEFAULT_LIMIT, Cursor, Limit, Page
from shared.security import CurrentPrincipal

__all__ = ["router"]

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

WebhookId = Annotated[uuid.UUID, Path(description="The webhook endpoint id (UUIDv7).")]
_WHO = (
    "An org_admin of the endpoint's organization; a platform admin may read. Members of the organization without "
    "org_admin get 403, anyone outside it 404."
)


def _environment(request: Request) -> str:
    return str(request.app.state.settings.environment)


def _with_etag(response: Response, webhook: WebhookPublic) -> WebhookPublic:
    response.headers["ETag"] = etag_for(webhook.version)
    return webhook


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=WebhookCreated,
    name="create_webhook",
    summary="Add a webhook endpoint to the caller's organization",
    description=(
        "An org_admin registers a URL and the event types it receives. The answer carries the signing secret "
        "(`whsec_` + base64) — this once only. URL rules: https (http only to a loopback host outside production), "
        "no user:password@; in production the host must resolve to public addresses only (422 naming `url`). "
        "An unknown event type is a 422 naming `event_types.<i>`. At most 20 endpoints per organization (409)."
    ),
    responses=problem_responses(401, 403, 409, 422),
)
async def create_webhook(
    request: Request, session: SessionDep, principal: CurrentPrincipal, data: WebhookCreate, response: Response
) -> WebhookCreated:
    created = await service.create_webhook(
        session=session, principal=principal, data=data, environment=_environment(request)
    )
    response.headers["Location"] = f"/market/webhooks/{created.id}"
    response.headers["ETag"] = etag_for(created.version)
    return created


@router.get(
    "",
    response_model=Page[WebhookPublic],
    name="list_webhooks",
    summary="The webhook endpoints of the caller's organization",
    description="Oldest first, cursor-paginated; never the secrets. Org admins and platform admins (403 otherwise).",
    responses=problem_responses(401, 403, 422),
)
async def list_webhooks(
    session: SessionDep, principal: CurrentPrincipal, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> Page[WebhookPublic]:
    return await service.list_webhooks(session=session, principal=principal, limit=limit, cursor=cursor)


@router.get(
    "/{webhook_id}",
    response_model=WebhookPublic,
    name="get_webhook",
    summary="One webhook endpoint",
    description=f"Never the secret. The ETag is what PATCH needs in If-Match. {_WHO}",
    responses=problem_responses(401, 403, 404, 422),
)
async def get_webhook(
    session: SessionDep, principal: CurrentPrincipal, webhook_id: WebhookId, response: Response
) -> WebhookPublic:
    return _with_etag(response, await service.get_webhook(session=session, principal=principal, webhook_id=webhook_id))


@router.patch(
    "/{webhook_id}",
    response_model=WebhookPublic,
    name="update_webhook",
    summary="Change a webhook endpoint",
    description=(
        "url, event_types, description, enabled — only the fields sent change. enabled=false stops deliveries "
        "(pending ones are cancelled); enabled=true re-enables an endpoint disabled by an admin or after 24 h of "
        "failures. Needs If-Match (428 without, 412 when stale). Org admins of its organization only."
    ),
    responses=problem_responses(401, 403, 404, 412, 422, 428),
)
async def update_webhook(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    webhook_id: WebhookId,
    data: WebhookUpdate,
    response: Response,
    if_match: IfMatchHeader = None,
) -> WebhookPublic:
    updated = await service.update_webhook(
        session=session,
        principal=principal,
        webhook_id=webhook_id,
        data=data,
        if_match=if_match,
        environment=_environment(request),
    )
    return _with_etag(response, updated)


@router.delete(
    "/{webhook_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    name="delete_webhook",
    summary="Remove a webhook endpoint",
    description="The endpoint and its delivery history go; nothing more is sent to it. Org admins of its "
    "organization only.",
    responses=problem_responses(401, 403, 404, 422),
)
async def delete_webhook(session: SessionDep, principal: CurrentPrincipal, webhook_id: WebhookId) -> Response:
    await service.delete_webhook(session=session, principal=principal, webhook_id=webhook_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{webhook_id}/rotate-secret",
    response_model=SecretRotated,
    name="rotate_webhook_secret",
    summary="Replace the signing secret",
    description=(
        "A new secret, shown this once. For 24 h deliveries carry a signature under each of the two secrets "
        "(space-separated in `webhook-signature`), so receivers can switch without losing events; then only the "
        "new one signs. Org admins of its organization only."
    ),
    responses=problem_responses(401, 403, 404, 422),
)
async def rotate_webhook_secret(
    session: SessionDep, principal: CurrentPrincipal, webhook_id: WebhookId
) -> SecretRotated:
    return await service.rotate_secret(session=session, principal=principal, webhook_id=webhook_id)


@router.post(
    "/{webhook_id}/test",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=TestQueued,
    name="test_webhook",
    summary="Send a webhook.test event",
    description=(
        "Enqueues a `webhook.test` event for this endpoint (whatever its event types); the next delivery round "
        "sends it. 202 with the delivery id; follow it in the deliveries list. 409 when the endpoint is disabled."
    ),
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def test_webhook(session: SessionDep, principal: CurrentPrincipal, webhook_id: WebhookId) -> TestQueued:
    return await service.send_test(session=session, principal=principal, webhook_id=webhook_id)


@router.get(
    "/{webhook_id}/deliveries",
    response_model=Page[DeliveryPublic],
    name="list_webhook_deliveries",
    summary="Deliveries of a webhook endpoint",
    description=(
        "Newest first, cursor-paginated: each delivery (its id is the `webhook-id` header), its event type and "
        f"status, and every attempt with its time, status code, latency and error. {_WHO}"
    ),
    responses=problem_responses(401, 403, 404, 422),
)
async def list_webhook_deliveries(
    session: SessionDep,
    principal: CurrentPrincipal,
    webhook_id: WebhookId,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[DeliveryPublic]:
    return await service.list_deliveries(
        session=session, principal=principal, webhook_id=webhook_id, limit=limit, cursor=cursor
    )
