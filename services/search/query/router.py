"""GET /achievements and GET /demands: public full-text search (no token needed)."""

from __future__ import annotations

import inspect
import uuid
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request

from services.search.deps import EmbedderDep, EngineDep, SegmenterDep
from services.search.embeddings import service as embeddings_service
from services.search.embeddings.embedders import Embedder
from services.search.engines.base import FACET_FIELDS, SearchEngine, SearchQuery
from services.search.query import service
from services.search.query.schemas import AchievementHit, DemandHit, SearchPage, SimilarRequest
from services.search.segment import Segmenter
from shared.db import read_session
from shared.errors import problem_responses

__all__ = ["MAX_OFFSET", "MAX_QUERY_CHARS", "router"]

MAX_QUERY_CHARS = 200
MAX_OFFSET = 1000
# The similar-text search's semantic ratio where an embedder is configured (bench/match.py: 0.3 to 0.7 scored
# alike on the real patents; the middle is kept).
DEFAULT_SIMILAR_SEMANTIC_RATIO = 0.5
_CODE = r"^[a-z][a-z0-9_]{0,31}$"

router = APIRouter(tags=["search"])

Q = Annotated[
    str,
    Query(
        max_length=MAX_QUERY_CHARS,
        description=(
            "Words to find (Chinese is segmented; words such as 寻求, 需要, 我们, 一种, 用于 carry no topic and are "
            "ignored; the first 10 words count; the last word also matches as the start of a longer word). Empty "
            "lists everything; a q with no searchable word is a 422."
        ),
    ),
]
Matching = Annotated[
    Literal["last", "all", "frequency"],
    Query(
        description=(
            "Which documents match when not all words do (Meilisearch's matchingStrategy): `last` (default) — "
            "documents with every word first, then words are dropped from the end of the query one at a time; "
            "`all` — only documents with every word; `frequency` — the most frequent word is dropped first. "
            "Documents holding more of the words always rank first."
        )
    ),
]
SemanticRatio = Annotated[
    float,
    Query(
        ge=0,
        le=1,
        description=(
            "Share of semantic similarity in the ranking (Meilisearch's hybrid.semanticRatio): 0 is lexical search, "
            "1 ranks by meaning alone. Used where an embedder is configured (GET /search/status); otherwise "
            "the search is lexical and `semantic` in the answer is false."
        ),
    ),
]
TechnicalField = Annotated[str | None, Query(description="One of the 11 technical field codes, e.g. new_energy.")]
Region = Annotated[
    str | None,
    Query(
        description=("GB/T 2260 code; a province (510000) or prefecture (510100) code matches every region below it.")
    ),
]
TrlMin = Annotated[
    int | None, Query(ge=1, le=9, description="Lowest technology readiness level; at most trl_max (else 422).")
]
TrlMax = Annotated[int | None, Query(ge=1, le=9, description="Highest technology readiness level.")]
AmountMin = Annotated[
    int | None,
    Query(ge=0, description="Lower bound in fen; ranges overlapping it match. At most the upper bound (else 422)."),
]
AmountMax = Annotated[int | None, Query(ge=0, description="Upper bound in fen; ranges overlapping it match.")]
CodeParam = Annotated[str | None, Query(pattern=_CODE, description="A code as market defines it.")]
OwnerOrg = Annotated[uuid.UUID | None, Query(description="Only this organization's documents.")]
Sort = Annotated[
    Literal["relevance", "newest", "price"],
    Query(description="relevance (default; newest without q), newest, or price (lowest first)."),
]
Limit = Annotated[int, Query(ge=1, le=100, description="Hits per page, 1 to 100.")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description=f"Hits to skip, up to {MAX_OFFSET}.")]


def _facets_param(kind: Literal["achievement", "demand"]) -> Any:
    return Query(description=f"Comma-separated facets to count: {', '.join(FACET_FIELDS[kind])}.")


def _vector_source(embedder: Embedder | None) -> service.QueryVector | None:
    """How the query's embedding is made (None: lexical search only)."""
    if embedder is None:
        return None

    async def vector_of(text: str) -> tuple[float, ...] | None:
        return await embeddings_service.query_vector(embedder=embedder, text=text)

    return vector_of


async def _semantic_scores(request: Request, embedder: Embedder | None, timed: service.TimedResult) -> dict[str, float]:
    """Each hit's semantic similarity to the query, when semantic similarity took part (one read)."""
    vector = timed.query.vector
    if embedder is None or vector is None or not timed.result.hits:
        return {}
    async with read_session(request) as session:
        return await embeddings_service.semantic_scores(
            session=session,
            model=embedder.name,
            kind=timed.query.kind,
            ids=[hit.id for hit in timed.result.hits],
            vector=vector,
        )


def _response(
    hit_model: type[AchievementHit] | type[DemandHit],
    query: SearchQuery,
    timed: service.TimedResult,
    engine: str,
    semantic_scores: dict[str, float] | None = None,
) -> dict[str, Any]:
    result = timed.result
    semantic_scores = semantic_scores or {}
    return {
        "hits": [
            hit_model.model_validate(
                {
                    **hit.card,
                    "id": hit.id,
                    "snippet": hit.snippet,
                    "score": hit.score,
                    "matched_terms": list(hit.matched_terms),
                    "semantic_score": semantic_scores.get(hit.id),
                }
            )
            for hit in result.hits
        ],
        "total": result.total,
        "total_is_exact": result.total_is_exact,
        "limit": query.limit,
        "offset": query.offset,
        "facets": result.facets,
        "processing_time_ms": timed.elapsed_ms,
        "engine": engine,
        "query_words": list(timed.words),
        "matching": query.matching,
        "semantic": timed.semantic,
    }


@dataclass(frozen=True)
class _SearchKind:
    """What differs between the two searches: the document kind, its amount filter's name and its mode filters."""

    kind: Literal["achievement", "demand"]
    hit_model: type[AchievementHit] | type[DemandHit]
    summary: str
    description: str
    amount: str  # the amount filters are <amount>_min_fen and <amount>_max_fen
    modes: dict[str, str] = field(default_factory=dict)  # query parameter -> SearchQuery field


_SEARCHES = (
    _SearchKind(
        kind="achievement",
        hit_model=AchievementHit,
        summary="Search published achievements (科技成果)",
        description=(
            "Full-text search over published achievements (and those under negotiation), Chinese words segmented; a "
            "two-character word also finds longer words containing it (处理 finds 待处理). Filters combine with AND; "
            "`facets` adds counts per value over all matches. Public: no token needed."
        ),
        amount="price",
        modes={"ip_type": "ip_type", "transfer_mode": "mode"},
    ),
    _SearchKind(
        kind="demand",
        hit_model=DemandHit,
        summary="Search published demands (技术需求)",
        description=(
            "Full-text search over published demands, with the same segmentation, filters and facets as "
            "achievements; the amount filter is the budget and the mode filter the cooperation mode. Public: no "
            "token needed."
        ),
        amount="budget",
        modes={"cooperation_mode": "mode"},
    ),
)


def _parameters(spec: _SearchKind) -> list[inspect.Parameter]:
    """The query parameters of one search, in the order the OpenAPI document lists them."""

    def param(name: str, annotation: Any, default: Any = inspect.Parameter.empty) -> inspect.Parameter:
        return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default)

    return [
        param("request", Request),
        param("engine", EngineDep),
        param("segmenter", SegmenterDep),
        param("embedder", EmbedderDep),
        param("q", Q, ""),
        param("technical_field", TechnicalField, None),
        param("region", Region, None),
        param("trl_min", TrlMin, None),
        param("trl_max", TrlMax, None),
        param(f"{spec.amount}_min_fen", AmountMin, None),
        param(f"{spec.amount}_max_fen", AmountMax, None),
        *(param(name, CodeParam, None) for name in spec.modes),
        param("owner_org", OwnerOrg, None),
        param("facets", Annotated[str | None, _facets_param(spec.kind)], None),
        param("sort", Sort, "relevance"),
        param("limit", Limit, 20),
        param("offset", Offset, 0),
        param("matching", Matching, "last"),
        param("semantic_ratio", SemanticRatio, 0.0),
    ]


def _add_search_route(spec: _SearchKind) -> None:
    amount_names = (f"{spec.amount}_min_fen", f"{spec.amount}_max_fen")

    async def search(
        *, request: Request, engine: SearchEngine, segmenter: Segmenter, embedder: Embedder | None, **params: Any
    ) -> dict[str, Any]:
        owner_org = params["owner_org"]
        query = SearchQuery(
            kind=spec.kind,
            q=params["q"].strip(),
            technical_field=params["technical_field"],
            region=params["region"],
            trl_min=params["trl_min"],
            trl_max=params["trl_max"],
            amount_min_fen=params[amount_names[0]],
            amount_max_fen=params[amount_names[1]],
            **{query_field: params[name] for name, query_field in spec.modes.items()},
            owner_org_id=str(owner_org) if owner_org else None,
            facets=service.parse_facets(spec.kind, params["facets"]),
            sort=params["sort"],
            limit=params["limit"],
            offset=params["offset"],
            matching=params["matching"],
            semantic_ratio=params["semantic_ratio"],
        )
        service.validate_query(query, amount_names=amount_names)
        timed = await service.run_search(
            engine=engine, segmenter=segmenter, query=query, query_vector=_vector_source(embedder)
        )
        scores = await _semantic_scores(request, embedder, timed)
        return _response(spec.hit_model, query, timed, engine.name, scores)

    # FastAPI reads the parameters from the signature: the kind's own filter names, with their Query metadata.
    search.__signature__ = inspect.Signature(_parameters(spec), return_annotation=dict[str, Any])  # type: ignore[attr-defined]
    router.add_api_route(
        f"/{spec.kind}s",
        search,
        methods=["GET"],
        name=f"search_{spec.kind}s",
        summary=spec.summary,
        description=spec.description,
        response_model=SearchPage[spec.hit_model],  # type: ignore[name-defined]
        responses=problem_responses(422, 502, 503),
    )


for _spec in _SEARCHES:
    _add_search_route(_spec)


_SIMILAR_DESCRIPTION = (
    "The {kinds} closest to a long text — a need or an offer written as sentences, such as "
    "“寻求图像识别方面的技术合作，用于工业产品表面缺陷检测”. The text's 10 most salient words (TF-IDF; words such as "
    "寻求, 需要, 方面, 用于 carry no topic and are left out) are searched three times, each time led by one of the "
    "three most salient words, so a {kind} holding any of them is found, those holding more of the words first; "
    "with an embedder configured, semantic similarity of the text is blended in (`semantic_ratio`, default 0.5). "
    "Each hit names the words it holds (`matched_terms`); `total` is a lower bound. Market's suggestions are "
    "built on this. Public: no token needed."
)


async def _similar(
    kind: Literal["achievement", "demand"],
    body: SimilarRequest,
    engine: SearchEngine,
    segmenter: Segmenter,
    embedder: Embedder | None,
) -> service.TimedResult:
    default_ratio = DEFAULT_SIMILAR_SEMANTIC_RATIO if embedder is not None else 0.0
    query = SearchQuery(
        kind=kind,
        technical_field=body.technical_field,
        region=body.region,
        trl_min=body.trl_min,
        trl_max=body.trl_max,
        exclude_owner_org_id=str(body.exclude_owner_org) if body.exclude_owner_org else None,
        exclude_ids=tuple(str(i) for i in body.exclude_ids),
        limit=body.limit,
        offset=body.offset,
        matching=body.matching,
        semantic_ratio=body.semantic_ratio if body.semantic_ratio is not None else default_ratio,
    )
    service.validate_query(query, amount_names=("amount_min_fen", "amount_max_fen"))
    return await service.run_similar(
        engine=engine, segmenter=segmenter, query=query, text=body.text, query_vector=_vector_source(embedder)
    )


def _add_similar_route(
    kind: Literal["achievement", "demand"], hit_model: type[AchievementHit] | type[DemandHit]
) -> None:
    offer_or_need = "a need" if kind == "achievement" else "an offer"

    async def similar(
        request: Request, body: SimilarRequest, engine: EngineDep, segmenter: SegmenterDep, embedder: EmbedderDep
    ) -> dict[str, Any]:
        timed = await _similar(kind, body, engine, segmenter, embedder)
        scores = await _semantic_scores(request, embedder, timed)
        return _response(hit_model, timed.query, timed, engine.name, scores)

    router.add_api_route(
        f"/{kind}s/similar",
        similar,
        methods=["POST"],
        name=f"similar_{kind}s",
        summary=f"{kind.capitalize()}s closest to a text ({offer_or_need} written as sentences)",
        description=_SIMILAR_DESCRIPTION.format(kinds=f"published {kind}s", kind=kind),
        response_model=SearchPage[hit_model],  # type: ignore[valid-type]
        responses=problem_responses(400, 422, 502, 503),
    )


_add_similar_route("achievement", AchievementHit)
_add_similar_route("demand", DemandHit)
