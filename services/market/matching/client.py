"""Market's client of the search service: similarity (POST {search_url}/{kind}/similar, public) and percolation
(POST {search_url}/{kind}/percolate, with the relay's service token: which saved searches a listing matches).

Opened in the market lifespan (:func:`open_search_client`) on ``app.state.outbound_transport`` (in-process when
embedded), closed at shutdown. Any failure to get a usable answer — connection refused, timeout, a non-200
status, a body that is not the contract's — is :class:`SearchUnavailable` (503 problem+json), never a 500. The
one expected refusal, a text without any searchable word (422 ``no_words`` on ``text``), is an empty result.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Annotated, Any, Literal

import httpx
from fastapi import Depends, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.market.settings import MarketSettings
from shared.errors import ProblemError
from shared.outbox.relay import TokenSource

__all__ = [
    "PERCOLATE_CHUNK",
    "PercolateMatch",
    "SearchClient",
    "SearchClientDep",
    "SearchUnavailable",
    "SimilarHit",
    "SimilarResult",
    "open_search_client",
]

logger = logging.getLogger("techmarket.market.matching")

# Queries per percolation request (the search contract's maximum).
PERCOLATE_CHUNK = 1000
_PLURAL = {"achievement": "achievements", "demand": "demands"}


class SearchUnavailable(ProblemError):
    """503: the search service did not answer usefully; suggestions cannot be made without it."""

    status, slug, title = 503, "search-unavailable", "Search service unavailable"


class SimilarHit(BaseModel):
    """The part of a similarity hit market uses; the structured fields are read from market's own tables."""

    model_config = ConfigDict(extra="ignore")

    id: uuid.UUID
    score: float | None = Field(default=None, description="Relevance in 0..1 (hybrid-mixed when semantic).")
    snippet: str = ""
    matched_terms: list[str] = Field(default_factory=list)
    semantic_score: float | None = None
    owner_org_name: str | None = None


class SimilarResult(BaseModel):
    """The similarity answer: hits best first, and whether semantic similarity took part."""

    model_config = ConfigDict(extra="ignore")

    hits: list[SimilarHit]
    semantic: bool = False


class PercolateMatch(BaseModel):
    """A saved search (by its key) that a listing matches, with the hit's snippet and the words it holds."""

    model_config = ConfigDict(extra="ignore")

    key: str
    score: float | None = Field(default=None, description="Share of the query's word groups held; null without q.")
    snippet: str = ""
    matched_terms: list[str] = Field(default_factory=list)


class _PercolateAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    matches: list[PercolateMatch]


class SearchClient:
    """POSTs similarity and percolation queries to the search service with ``http`` (its timeouts are the client's).

    ``tokens``: the relay's service token source (scope search:ingest), which percolation needs; similarity is
    public.
    """

    def __init__(self, http: httpx.AsyncClient, *, search_url: str, tokens: TokenSource | None = None) -> None:
        self.http = http
        self.search_url = search_url.rstrip("/")
        self.tokens = tokens

    async def percolate(
        self,
        kind: Literal["achievement", "demand", "achievements", "demands"],
        document: Mapping[str, Any],
        queries: Sequence[Mapping[str, Any]],
    ) -> list[PercolateMatch]:
        """The queries ``document`` (the listing's ingestion document, shared.outbox.relay.ingestion_document)
        matches, in the given order; each query is ``{key, q, filters…, matching}`` with exactly the search
        contract's keys (docs/search.md, Percolation: another key is a 422, hence SearchUnavailable). Sent in chunks of PERCOLATE_CHUNK. Any failure is SearchUnavailable (the caller retries later)."""
        plural = _PLURAL.get(kind, kind)
        url = f"{self.search_url}/{plural}/percolate"
        matches: list[PercolateMatch] = []
        for start in range(0, len(queries), PERCOLATE_CHUNK):
            body = {"document": dict(document), "queries": [dict(q) for q in queries[start : start + PERCOLATE_CHUNK]]}
            response = await self._post_with_token(url, body)
            if response.status_code != 200:
                raise self._unavailable(f"answered HTTP {response.status_code}", response.text[:500], "percolation")
            try:
                matches.extend(_PercolateAnswer.model_validate_json(response.content).matches)
            except ValidationError as exc:
                raise self._unavailable(
                    "answered with a body that is not a percolation result", exc, "percolation"
                ) from exc
        return matches

    async def _post_with_token(self, url: str, body: dict[str, Any]) -> httpx.Response:
        """POST with the service token; a 401 (expired or revoked token) fetches a new one and retries once."""
        response: httpx.Response | None = None
        for _ in range(2):
            try:
                headers = await self.tokens.headers() if self.tokens is not None else {}
                response = await self.http.post(url, json=body, headers=headers)
            except httpx.TimeoutException as exc:
                raise self._unavailable("did not answer in time", exc, "percolation") from exc
            except Exception as exc:  # the search service or auth (the token) unreachable or failing
                raise self._unavailable(f"cannot be reached ({type(exc).__name__})", exc, "percolation") from exc
            if response.status_code != 401 or self.tokens is None:
                return response
            self.tokens.invalidate()
        assert response is not None
        return response

    async def similar(self, *, plural: str, body: dict[str, Any]) -> SimilarResult:
        """Listings of kind ``plural`` (achievements | demands) similar to ``body["text"]``."""
        url = f"{self.search_url}/{plural}/similar"
        try:
            response = await self.http.post(url, json=body)
        except httpx.TimeoutException as exc:
            raise self._unavailable("did not answer in time", exc) from exc
        except httpx.HTTPError as exc:
            raise self._unavailable(f"cannot be reached ({type(exc).__name__})", exc) from exc
        if response.status_code == 422 and _no_searchable_word(response):
            # A listing whose text is only stop words ("寻求合作") has nothing to compare: no suggestions.
            return SimilarResult(hits=[], semantic=False)
        if response.status_code != 200:
            raise self._unavailable(f"answered HTTP {response.status_code}", response.text[:500])
        try:
            return SimilarResult.model_validate_json(response.content)
        except ValidationError as exc:
            raise self._unavailable("answered with a body that is not a similarity result", exc) from exc

    @staticmethod
    def _unavailable(what: str, cause: object, call: str = "similarity") -> SearchUnavailable:
        logger.warning("search %s call failed: %s", call, what, extra={"cause": str(cause)[:500]})
        needs = "suggestions need it" if call == "similarity" else "match alerts wait for it"
        return SearchUnavailable(
            f"The search service {what}; {needs}. Try again shortly.", headers={"Retry-After": "5"}
        )


def _no_searchable_word(response: httpx.Response) -> bool:
    """Whether a 422 says the text has no searchable word (the search contract's ``no_words`` on ``text``)."""
    try:
        body = response.json()
    except ValueError:
        return False
    errors = body.get("errors") if isinstance(body, dict) else None
    return isinstance(errors, list) and any(
        isinstance(e, dict) and e.get("field") == "text" and e.get("type") == "no_words" for e in errors
    )


@contextlib.asynccontextmanager
async def open_search_client(
    settings: MarketSettings, *, transport: httpx.AsyncBaseTransport | None, tokens: TokenSource | None = None
) -> AsyncIterator[SearchClient]:
    """A search client for the app's lifetime, on ``transport`` (None: the network); ``tokens``: the relay's
    service token source, for percolation."""
    timeout = httpx.Timeout(settings.search_timeout_seconds)
    async with httpx.AsyncClient(transport=transport, timeout=timeout) as http:
        yield SearchClient(http, search_url=settings.search_url, tokens=tokens)


def _search_client(request: Request) -> SearchClient:
    client: SearchClient = request.app.state.search_client
    return client


SearchClientDep = Annotated[SearchClient, Depends(_search_client)]
