"""Endpoints of /market/achievements and /market/demands (one router factory, two kinds), and the bulk import.

No `from __future__ import annotations` here: the endpoint signatures use the per-kind schemas as local names,
which FastAPI must resolve at runtime.
"""

import datetime as dt
import re
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import Field

from services.market.audit.schemas import AuditEventPublic
from services.market.concurrency import IfMatchHeader, etag_for
from services.market.idempotency import IdempotencyDep, StoredResponse
from services.market.listings import importing
from services.market.listings import service as listings_service
from services.market.listings.kinds import ACHIEVEMENT, DEMAND, ListingKind, Transition
from services.market.listings.models import Listing
from services.market.listings.repository import ListingFilters, ListingRow
from services.market.listings.schemas import AchievementCreate, AchievementImportReport
from shared import uploads
from shared.clock import IsoInstant
from shared.db import ReadSessionDep, SessionDep, write_session
from shared.errors import ValidationFailed, problem_responses
from shared.pagination import DEFAULT_LIMIT, Cursor, Limit, Page
from shared.reference.regions import region_prefix
from shared.reference.technical_fields import is_technical_field
from shared.security import CurrentPrincipal, OptionalPrincipal

__all__ = ["build_router", "build_routers"]

ListingId = Annotated[uuid.UUID, Path(description="The listing id (UUIDv7).")]
_REGION_PREFIX = re.compile(r"^\d{2,6}$")


def _region_prefix(region: str | None) -> str | None:
    """510000 → 51 (Sichuan), 510100 → 5101 (Chengdu), 5101 stays: a region code or prefix matches its subtree."""
    if region is None:
        return None
    if not _REGION_PREFIX.match(region):
        raise ValidationFailed.field("region", "2 to 6 digits of a GB/T 2260 code, e.g. 51 or 510100")
    return region_prefix(region)


def _with_etag(response: Response, row: Listing | ListingRow) -> None:
    response.headers["ETag"] = etag_for(row.version)


def build_routers() -> tuple[APIRouter, APIRouter]:
    """The routers of /market/achievements (with the bulk import) and /market/demands, built per app."""
    achievements = build_router(ACHIEVEMENT)
    _add_import(achievements)
    return achievements, build_router(DEMAND)


def build_router(kind: ListingKind) -> APIRouter:
    """The router of one listing kind: each concern adds its endpoints (the order is the OpenAPI document's)."""
    router = APIRouter(prefix=f"/{kind.plural}", tags=[kind.plural])
    _add_create(router, kind)
    _add_list(router, kind)
    _add_get(router, kind)
    _add_update(router, kind)
    for step in kind.transitions:
        _add_transition(router, kind, step)
    _add_events(router, kind)
    return router


def _add_create(router: APIRouter, kind: ListingKind) -> None:
    create_schema = kind.create_schema

    @router.post(
        "",
        status_code=201,
        response_model=kind.public_schema,
        name=f"create_{kind.name}",
        summary=f"Create a {kind.name} ({kind.label_zh}) as a draft",
        description=(
            f"Creates a draft {kind.name} owned by the caller's organization (organization kinds: "
            f"{', '.join(sorted(kind.creator_org_kinds))}). Answers 201 with Location and ETag. Send an "
            "Idempotency-Key to make retries safe. status, owner, ids and timestamps cannot be set (422)."
        ),
        responses=problem_responses(401, 403, 409, 422),
    )
    async def create(
        request: Request,
        session: SessionDep,
        principal: CurrentPrincipal,
        idempotency: IdempotencyDep,
        payload: Annotated[create_schema, Body()],  # type: ignore[valid-type]
    ) -> JSONResponse:
        async def run() -> StoredResponse:
            row = await listings_service.create_listing(
                session=session, kind=kind, principal=principal, payload=payload
            )
            view = await listings_service.public_view(session=session, kind=kind, row=row, principal=principal)
            body = view.model_dump(mode="json")
            location = request.url_for(f"get_{kind.name}", listing_id=str(row.id)).path
            return StoredResponse(201, body, {"Location": location, "ETag": etag_for(row.version)})

        return await idempotency.replay_or_run(session, run)


def _add_list(router: APIRouter, kind: ListingKind) -> None:
    public_schema = kind.public_schema
    statuses = sorted(status.value for status in kind.statuses)

    @router.get(
        "",
        response_model=Page[public_schema],  # type: ignore[valid-type]
        name=f"list_{kind.plural}",
        summary=f"List {kind.plural}",
        description=(
            "Published listings (and later public states) for everyone; the caller's own organization's listings in "
            "every state; contacts only on your own. Newest first, cursor-paginated. Each item names its owner "
            "organization (`owner`: id, name, kind, region_code, from the market's organization directory)."
        ),
        responses=problem_responses(401, 422),
    )
    async def list_(
        request: Request,
        # Read-only (no write lock on SQLite, no transaction on PostgreSQL) unless an expiry must be recorded.
        session: ReadSessionDep,
        principal: OptionalPrincipal,
        status: Annotated[
            # The enum documents the check below (which keeps its own 422 message).
            Annotated[str, Field(json_schema_extra={"enum": statuses})] | None,
            Query(description=f"One of: {', '.join(statuses)}."),
        ] = None,
        technical_field: Annotated[str | None, Query(description="A technical field code.")] = None,
        region: Annotated[
            str | None, Query(description="Region code or prefix: 51 or 510000 = Sichuan, 5101 or 510100 = Chengdu.")
        ] = None,
        owner_org_id: Annotated[uuid.UUID | None, Query(description="Only listings of this organization.")] = None,
        updated_since: Annotated[
            IsoInstant | None,
            Query(description="Only listings changed at or after this instant (ISO 8601 with offset)."),
        ] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> Any:
        if status is not None and status not in statuses:
            raise ValidationFailed.field("status", f"one of: {', '.join(statuses)}")
        if technical_field is not None and not is_technical_field(technical_field):
            raise ValidationFailed.field("technical_field", "not a technical field code")
        filters = ListingFilters(
            status=status,
            technical_field=technical_field,
            region_prefix=_region_prefix(region),
            owner_org_id=owner_org_id,
            updated_since=updated_since.astimezone(dt.UTC) if updated_since else None,
        )
        page = await listings_service.read_listings(
            session=session, kind=kind, principal=principal, filters=filters, limit=limit, cursor=cursor
        )
        if page is not None:
            return page
        async with write_session(request) as writer:  # some listing must be recorded as expired first
            return await listings_service.list_listings(
                session=writer, kind=kind, principal=principal, filters=filters, limit=limit, cursor=cursor
            )


def _add_get(router: APIRouter, kind: ListingKind) -> None:
    @router.get(
        "/{listing_id}",
        response_model=kind.public_schema,
        name=f"get_{kind.name}",
        summary=f"Get one {kind.name}",
        description=(
            "Public listings for everyone (contact hidden); drafts, withdrawn and expired listings only for the owner "
            "organization — others get 404. The ETag header is what PATCH and transitions need in If-Match. "
            "`owner` is the owner organization's public card (its name is null until the directory knows it)."
        ),
        responses=problem_responses(401, 404, 422),
    )
    async def get(
        listing_id: ListingId,
        request: Request,
        # Read-only (no write lock on SQLite, no transaction on PostgreSQL) unless the expiry must be recorded; the
        # listing and its owner's card are one statement.
        session: ReadSessionDep,
        principal: OptionalPrincipal,
        response: Response,
    ) -> Any:
        found = await listings_service.read_listing(
            session=session, kind=kind, principal=principal, listing_id=listing_id
        )
        if found is None:  # past its last day: recorded as expired first, as every read of it does
            async with write_session(request) as writer:
                row = await listings_service.get_listing(
                    session=writer, kind=kind, principal=principal, listing_id=listing_id
                )
                _with_etag(response, row)
                return await listings_service.public_view(session=writer, kind=kind, row=row, principal=principal)
        read, owner = found
        _with_etag(response, read)
        return listings_service.to_public(kind, read, principal=principal, owner=owner)


def _add_update(router: APIRouter, kind: ListingKind) -> None:
    update_schema = kind.update_schema

    @router.patch(
        "/{listing_id}",
        response_model=kind.public_schema,
        name=f"update_{kind.name}",
        summary=f"Update a {kind.name}",
        description=(
            "Partial update by a member of the owning organization: only the fields sent change, null clears an "
            "optional field. Needs If-Match (428 without, 412 when stale). Closed states are 409."
        ),
        responses=problem_responses(401, 403, 404, 409, 412, 422, 428),
    )
    async def update(
        listing_id: ListingId,
        session: SessionDep,
        principal: CurrentPrincipal,
        response: Response,
        payload: Annotated[update_schema, Body()],  # type: ignore[valid-type]
        if_match: IfMatchHeader = None,
    ) -> Any:
        row = await listings_service.update_listing(
            session=session, kind=kind, principal=principal, listing_id=listing_id, if_match=if_match, payload=payload
        )
        _with_etag(response, row)
        return await listings_service.public_view(session=session, kind=kind, row=row, principal=principal)


def _add_events(router: APIRouter, kind: ListingKind) -> None:
    """GET /{listing_id}/events, the audit trail (named like contracts' /events), and /history, its old alias."""

    async def events(
        listing_id: ListingId,
        session: SessionDep,
        principal: CurrentPrincipal,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> Page[AuditEventPublic]:
        return await listings_service.listing_history(
            session=session, kind=kind, principal=principal, listing_id=listing_id, limit=limit, cursor=cursor
        )

    description = "Every change with actor, organization, from → to, time and request id; owner and platform admins."
    router.get(
        "/{listing_id}/events",
        response_model=Page[AuditEventPublic],
        name=f"{kind.name}_events",
        summary=f"Audit events of a {kind.name}",
        description=description,
        responses=problem_responses(401, 403, 404, 422),
    )(events)
    router.get(
        "/{listing_id}/history",
        response_model=Page[AuditEventPublic],
        name=f"{kind.name}_history",
        summary=f"Audit history of a {kind.name} (deprecated: use /events)",
        description=f"Deprecated alias of GET /market/{kind.plural}/{{listing_id}}/events, same answer. {description}",
        responses=problem_responses(401, 403, 404, 422),
        deprecated=True,
    )(events)


def _add_transition(router: APIRouter, kind: ListingKind, step: Transition) -> None:
    sources = ", ".join(sorted(step.sources))
    verified = " Needs a verified organization (403 otherwise)." if step.needs_verified_org else ""

    @router.post(
        f"/{{listing_id}}/{step.action}",
        response_model=kind.public_schema,
        name=f"{step.action}_{kind.name}",
        summary=f"{step.action.capitalize()} a {kind.name}: {sources} → {step.target}",
        description=f"{step.description} Allowed from {sources} (409 otherwise); needs If-Match.{verified}",
        responses=problem_responses(401, 403, 404, 409, 412, 428),
    )
    async def transition(
        listing_id: ListingId,
        session: SessionDep,
        principal: CurrentPrincipal,
        response: Response,
        if_match: IfMatchHeader = None,
    ) -> Any:
        row = await listings_service.transition_listing(
            session=session,
            kind=kind,
            principal=principal,
            listing_id=listing_id,
            if_match=if_match,
            action=step.action,
        )
        _with_etag(response, row)
        return await listings_service.public_view(session=session, kind=kind, row=row, principal=principal)


def _add_import(router: APIRouter) -> None:
    """POST /market/achievements/import."""

    @router.post(
        "/import",
        response_model=AchievementImportReport,
        name="import_achievements",
        summary="Bulk-import achievements (CSV or JSON lines)",
        description=(
            "For a technology transfer office: up to 10,000 rows, streamed. Send the file as the multipart/form-data "
            "part `file` (its Content-Type, else its extension .csv, .ndjson or .jsonl, says what it is); a raw body "
            "with Content-Type text/csv or application/x-ndjson is accepted too. CSV has a header row; JSON lines hold "
            "one POST /market/achievements body per line. Every good row becomes a draft; "
            "a bad row is reported with its field errors and stores nothing; a row whose natural key (owner + first "
            "patent application number, else owner + external_id, else owner + case-folded title and summary) is "
            "already listed is reported as `existing` and neither created again nor updated, so importing the same file "
            "twice creates no duplicates. A row whose external_id belongs to another listing of your organization is an "
            "error of that row (external_id is unique per organization, as on create)."
        ),
        responses=problem_responses(400, 401, 403, 413, 415, 422),
        # The handler reads the body itself (multipart or raw, streamed), so the body is declared here; only the
        # multipart form is documented because client generators handle one upload type per body well.
        openapi_extra={
            "requestBody": uploads.multipart_body(
                "The import file: CSV with a header row, or JSON lines (columns: docs/market.md).",
                ["text/csv", "application/x-ndjson"],
            )
        },
    )
    async def import_achievements(
        request: Request, session: SessionDep, principal: CurrentPrincipal
    ) -> AchievementImportReport:
        if uploads.is_multipart(request):
            async with uploads.uploaded_file(request) as upload:
                kind = uploads.file_media_type(
                    upload, importing.CSV_TYPES | importing.JSONL_TYPES, importing.FILE_EXTENSIONS
                )
                rows = importing.parse_rows(kind, uploads.chunks(upload))
                return await listings_service.import_achievements(session=session, principal=principal, rows=rows)
        rows = importing.parse_rows(request.headers.get("content-type"), request.stream())
        return await listings_service.import_achievements(session=session, principal=principal, rows=rows)


# Keep the schema of a single row reachable from OpenAPI for import authors.
ImportRowBody = AchievementCreate
