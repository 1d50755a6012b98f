"""POST /documents: the market outbox relay's batches of upserts and deletes (service token only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from services.search.deps import EmbedderDep, EngineDep
from services.search.documents import service
from services.search.documents.schemas import IngestPublic, IngestRequest
from shared.db import SessionDep
from shared.errors import problem_responses
from shared.security import Principal, require_scopes

__all__ = ["router"]

router = APIRouter(tags=["ingestion"])

IngestCaller = Annotated[Principal, Depends(require_scopes("search:ingest"))]


@router.post(
    "/documents",
    summary="Ingest a batch of document upserts and deletes",
    description=(
        "Called by the market outbox relay with a service token carrying the `search:ingest` scope. Each "
        "operation names a document (kind, id) at a version of the market entity: an older version never "
        "overwrites a newer one, a redelivered version is harmless, and deletes leave a tombstone so that a late "
        "older upsert cannot resurrect the document. Only whitelisted fields are kept (every other key, such as "
        "contacts, inventors or internal notes, is dropped); only published achievements (and those under "
        "negotiation) and published demands are searchable. Documents are searchable when the response arrives "
        "(lexically; a document whose text changed gets its vector for semantic search from the background "
        "embedding job a little later, see GET /status)."
    ),
    response_model=IngestPublic,
    responses=problem_responses(400, 401, 403, 413, 422),
)
async def ingest_documents(
    batch: IngestRequest, session: SessionDep, engine: EngineDep, embedder: EmbedderDep, _caller: IngestCaller
) -> IngestPublic:
    model = embedder.name if embedder is not None else None
    return await service.ingest(session=session, engine=engine, batch=batch, embedding_model=model)
