"""GET /market/reference and /market/reference/{name}: codes and labels clients must not hard-code."""

from __future__ import annotations

from fastapi import APIRouter, Path, Response

from services.market.reference import service as reference_service
from services.market.reference.schemas import ReferenceTablePublic, ReferenceTables, ReferenceTableSummary
from shared.errors import NotFound, problem_responses

__all__ = ["router"]

router = APIRouter(prefix="/reference", tags=["reference"])

CACHE_CONTROL = "public, max-age=3600"


@router.get(
    "",
    summary="List the reference tables",
    description="Names, descriptions and sizes of every reference table (technical fields, regions, IP types, …).",
)
async def list_reference_tables(response: Response) -> ReferenceTables:
    response.headers["Cache-Control"] = CACHE_CONTROL
    items = []
    for name in reference_service.table_names():
        table = reference_service.get_table(name)
        assert table is not None
        items.append(
            ReferenceTableSummary(
                name=name, description=table.description, version=table.version, count=len(table.rows())
            )
        )
    return ReferenceTables(items=items)


@router.get(
    "/{name}",
    summary="One reference table",
    description="Every row of the table with its code and Chinese label (and English label where there is one).",
    responses=problem_responses(404),
)
async def get_reference_table(
    response: Response,
    name: str = Path(description="Table name, e.g. technical_fields, regions, ip_types, transfer_modes."),
) -> ReferenceTablePublic:
    table = reference_service.get_table(name)
    if table is None:
        raise NotFound(
            f"No reference table named {name!r}. GET /market/reference lists them.",
            errors=[{"field": "name", "in": "path", "message": "unknown reference table", "type": "not_found"}],
        )
    response.headers["Cache-Control"] = CACHE_CONTROL
    return ReferenceTablePublic(
        name=table.name, description=table.description, version=table.version, rows=table.rows()
    )
