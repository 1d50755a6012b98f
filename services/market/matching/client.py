"""Market's client of the search service's similarity endpoint (POST {search_url}/{kind}/similar, public).

Opened in the market lifespan (:func:`open_search_client`) on ``app.state.outbound_transport`` (in-process when
embedded), closed at shutdown. Any failure to get a usable answer — connection refused, timeout, a non-200
status, a body that is not the contract's — is :class:`SearchUnavailable` (503 problem+json), never a 500. The
one expected refusal, a text without any searchable word (422 ``no_words`` on ``text``), is an empty result.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
from fastapi import Depends, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.market.settings import MarketSettings
from shared.errors import ProblemError

__all__ = [
    "SearchClient",
    "SearchClientDep",
    "SearchUnavailable",
    "SimilarHit",
    "SimilarResult",
    "open_search_client",
]

logger = logging.getLogger("techmarket.market.matching")


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


class SearchClient:
    """POSTs similarity queries to the search service with ``http`` (its timeouts are the client's)."""

    def __init__(self, http: httpx.AsyncClient, *, search_url: str) -> None:
        self.http = http
        self.search_url = search_url.rstrip("/")

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
    def _unavailable(what: str, cause: object) -> SearchUnavailable:
        logger.warning("search similarity call failed: %s", what, extra={"cause": str(cause)[:500]})
        return SearchUnavailable(
            f"The search service {what}; suggestions need it. Try again shortly.", headers={"Retry-After": "5"}
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
    settings: MarketSettings, *, transport: httpx.AsyncBaseTransport | None
) -> AsyncIterator[SearchClient]:
    """A search client for the app's lifetime, on ``transport`` (None: the network)."""
    timeout = httpx.Timeout(settings.search_timeout_seconds)
    async with httpx.AsyncClient(transport=transport, timeout=timeout) as http:
        yield SearchClient(http, search_url=settings.search_url)


def _search_client(request: Request) -> SearchClient:
    client: SearchClient = request.app.state.search_client
    return client


SearchClientDep = Annotated[SearchClient, Depends(_search_client)]
