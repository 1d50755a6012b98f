"""Endpoints of technology contracts: /market/contracts (thin: parse, authorize via the service, shape)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from typing import Annotated, Any, Literal, Protocol, TypeVar

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from services.market.concurrency import IfMatchHeader, etag_for
from services.market.contracts import importing, service
from services.market.contracts.schemas import (
    AmendRequest,
    ContractCreate,
    ContractEventPublic,
    ContractImportReport,
    ContractPublic,
    ContractUpdate,
    RegisterRequest,
    RejectRequest,
    RevokeRequest,
)
from services.market.idempotency import IdempotencyDep, StoredResponse
from shared import uploads
from shared.db import SessionDep
from shared.errors import problem_responses
from shared.pagination import Cursor, Limit, Page, cursor_after, cursor_id
from shared.security import CurrentPrincipal, Principal

__all__ = ["router"]

router = APIRouter(prefix="/contracts", tags=["contracts"])

_Body = TypeVar("_Body", bound=BaseModel, contravariant=True)
StatusFilter = Literal["submitted", "rejected", "registered", "amended", "revoked"]


def _etag(contract: ContractPublic) -> str:
    return etag_for(contract.version)


def _with_etag(response: Response, contract: ContractPublic) -> ContractPublic:
    response.headers["ETag"] = _etag(contract)
    return contract


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ContractPublic,
    summary="Submit a contract for registration",
    description=(
        "A member of the seller organization (submitted_as=seller) or the broker of the deal (submitted_as=broker) "
        "submits a technology contract. It goes to the registration office serving the seller's region (the most "
        "specific match) unless `office_id` names one. A duplicate (same seller and buyer credit codes, own "
        "contract number and signing date) is a 409 whose `existing_id` points at the existing contract. "
        "`Idempotency-Key` makes a retry return the first result."
    ),
    responses=problem_responses(401, 403, 409, 422),
)
async def submit_contract(
    session: SessionDep,
    principal: CurrentPrincipal,
    data: ContractCreate,
    idempotency: IdempotencyDep,
) -> JSONResponse:
    async def run() -> StoredResponse:
        contract = await service.submit_contract(session=session, principal=principal, data=data)
        return StoredResponse(
            201,
            contract.model_dump(mode="json"),
            {"Location": f"/market/contracts/{contract.id}", "ETag": _etag(contract)},
        )

    return await idempotency.replay_or_run(session, run)


@router.get(
    "",
    summary="List contracts",
    description=(
        "Contracts the caller may see, oldest submission first: its organization's (as seller, buyer, broker or "
        "submitter), its office's for registrars, its scope for statisticians. The registrar's queue is "
        "`?status=submitted`; `overdue=true` keeps submissions pending more than 30 days."
    ),
    responses=problem_responses(401, 422),
)
async def list_contracts(
    session: SessionDep,
    principal: CurrentPrincipal,
    status_: Annotated[StatusFilter | None, Query(alias="status", description="Only this status.")] = None,
    overdue: Annotated[bool | None, Query(description="true: pending more than 30 days; false: not overdue.")] = None,
    office_id: Annotated[uuid.UUID | None, Query(description="Only this registration office.")] = None,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> Page[ContractPublic]:
    after = cursor_id(cursor)
    items = await service.list_contracts(
        session=session,
        principal=principal,
        status=status_,
        overdue=overdue,
        office_id=office_id,
        after_id=after,
        limit=limit + 1,
    )
    page = items[:limit]
    return Page(items=page, next_cursor=cursor_after(items, limit, id_of=lambda contract: contract.id))


@router.post(
    "/import",
    summary="Import historical registrations (CSV or XLSX)",
    description=(
        "Registrars (for their office) and platform admins bring in contracts registered before the platform, "
        "as already registered. Send the file as the multipart/form-data part `file` (its Content-Type, else its "
        "extension .csv or .xlsx, says what it is); a raw body with Content-Type text/csv or "
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet is accepted too. Either is read as a "
        "stream. Good rows are "
        "stored, bad rows are reported by row and field; importing the same file again creates no duplicates. "
        "Columns: see docs/contracts.md."
    ),
    responses=problem_responses(400, 401, 403, 413, 415, 422),
    # The handler reads the body itself (multipart or raw, streamed), so the body is declared here; only the
    # multipart form is documented because client generators handle one upload type per body well.
    openapi_extra={
        "requestBody": uploads.multipart_body(
            "The file itself, CSV or XLSX, one contract per row after the header row (columns: docs/contracts.md).",
            ["text/csv", importing.XLSX_MEDIA_TYPE],
        )
    },
)
async def import_contracts(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    office_id: Annotated[
        uuid.UUID | None, Query(description="Platform admins: the office of rows without an office_id column.")
    ] = None,
    report: Annotated[
        Literal["all", "problems"], Query(description="all rows, or only duplicates and failures.")
    ] = "all",
) -> ContractImportReport:
    return await importing.import_request(
        session=session, principal=principal, request=request, office_id=office_id, report=report
    )


@router.get(
    "/{contract_id}",
    summary="One contract",
    description="A contract the caller may see (404 otherwise). ETag carries its version for If-Match.",
    responses=problem_responses(401, 404, 422),
)
async def get_contract(
    session: SessionDep, principal: CurrentPrincipal, contract_id: uuid.UUID, response: Response
) -> ContractPublic:
    contract = await service.get_contract(session=session, principal=principal, contract_id=contract_id)
    return _with_etag(response, contract)


@router.patch(
    "/{contract_id}",
    summary="Correct a submitted or rejected contract",
    description="The submitting side corrects its contract before registration. Needs If-Match with the ETag "
    "(428 without, 412 if it changed).",
    responses=problem_responses(401, 403, 404, 409, 412, 422, 428),
)
async def update_contract(
    session: SessionDep,
    principal: CurrentPrincipal,
    contract_id: uuid.UUID,
    data: ContractUpdate,
    response: Response,
    if_match: IfMatchHeader = None,
) -> ContractPublic:
    contract = await service.update_contract(
        session=session, principal=principal, contract_id=contract_id, if_match=if_match, data=data
    )
    return _with_etag(response, contract)


@router.post(
    "/{contract_id}/resubmit",
    summary="Resubmit a rejected contract",
    description="After correcting it, the submitting side sends a rejected contract back to the office.",
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def resubmit_contract(
    session: SessionDep, principal: CurrentPrincipal, contract_id: uuid.UUID, response: Response
) -> ContractPublic:
    contract = await service.resubmit_contract(session=session, principal=principal, contract_id=contract_id)
    return _with_etag(response, contract)


class _RegistrarAction(Protocol[_Body]):
    """A service function of the registrar's workflow: the contract after the action."""

    def __call__(
        self, *, session: AsyncSession, principal: Principal, contract_id: uuid.UUID, data: _Body
    ) -> Awaitable[ContractPublic]: ...


def _registrar_action(
    action: str, body: type[_Body], run: _RegistrarAction[_Body], *, summary: str, description: str
) -> None:
    """POST /contracts/{contract_id}/<action>: the action's body in, the contract out with its ETag; the
    operation is ``<action>_contract``."""

    async def endpoint(
        session: SessionDep, principal: CurrentPrincipal, contract_id: uuid.UUID, data: Any, response: Response
    ) -> ContractPublic:
        contract = await run(session=session, principal=principal, contract_id=contract_id, data=data)
        return _with_etag(response, contract)

    # Annotations are strings in this module (postponed evaluation), which FastAPI resolves in the module's
    # globals; the body's model is this call's, so it is set as the class itself.
    endpoint.__annotations__["data"] = body
    endpoint.__name__ = endpoint.__qualname__ = f"{action}_contract"
    router.add_api_route(
        f"/{{contract_id}}/{action}",
        endpoint,
        methods=["POST"],
        name=f"{action}_contract",
        summary=summary,
        description=description,
        responses=problem_responses(401, 403, 404, 409, 422),
    )


_registrar_action(
    "register",
    RegisterRequest,
    service.register_contract,
    summary="Register a contract (registrar)",
    description=(
        "A registrar of the contract's office confirms the technology amount (may lower it; never above the "
        "contract amount) and registers it: the registration number is year + office region code + a serial, "
        "gap-free per office and year. The contract counts in the statistics from today (Beijing)."
    ),
)
_registrar_action(
    "reject",
    RejectRequest,
    service.reject_contract,
    summary="Reject a contract (未予登记)",
    description="A registrar of the contract's office refuses it with a reason; the submitter may correct and resubmit.",
)
_registrar_action(
    "amend",
    AmendRequest,
    service.amend_contract,
    summary="Record a supplementary agreement (补充协议)",
    description="A registrar records new amounts effective on a day; the statistics get the signed difference "
    "dated that day. The registered contract itself is not edited.",
)
_registrar_action(
    "revoke",
    RevokeRequest,
    service.revoke_contract,
    summary="Revoke a registration",
    description="A registrar revokes a registered contract with a reason; from the effective day the statistics "
    "subtract the contract (count and current amounts).",
)


@router.get(
    "/{contract_id}/events",
    summary="History of a contract",
    description="Every status change with actor, organization, request id and details, oldest first, a page at a "
    "time (`{items, next_cursor}`).",
    responses=problem_responses(401, 404, 422),
)
async def contract_events(
    session: SessionDep, principal: CurrentPrincipal, contract_id: uuid.UUID, limit: Limit = 50, cursor: Cursor = None
) -> Page[ContractEventPublic]:
    return await service.contract_events(
        session=session, principal=principal, contract_id=contract_id, after_id=cursor_id(cursor), limit=limit
    )
