"""Search rules: validate what the query parameters cannot express, run the engine, time it."""

from __future__ import annotations

import time
from dataclasses import dataclass

from services.search.engines.base import FACET_FIELDS, Kind, SearchEngine, SearchQuery, SearchResult
from services.search.segment import Segmenter
from shared.errors import ValidationFailed
from shared.reference.regions import is_valid_region
from shared.reference.technical_fields import is_technical_field

__all__ = ["TimedResult", "parse_facets", "run_search", "validate_query"]


@dataclass(frozen=True, slots=True)
class TimedResult:
    """An engine result and how long it took."""

    result: SearchResult
    elapsed_ms: float


def parse_facets(kind: Kind, raw: str | None) -> tuple[str, ...]:
    """The comma-separated facet names of a query; an unknown name is a 422 on ``facets``."""
    if raw is None or not raw.strip():
        return ()
    names = [name.strip() for name in raw.split(",") if name.strip()]
    allowed = FACET_FIELDS[kind]
    unknown = [name for name in names if name not in allowed]
    if unknown:
        raise ValidationFailed.field(
            "facets", f"unknown facet {unknown[0]!r}; allowed: {', '.join(allowed)}", type="facet_unknown"
        )
    return tuple(dict.fromkeys(names))


def validate_query(query: SearchQuery, *, amount_names: tuple[str, str]) -> None:
    """Cross-field and reference checks of a query (422 naming the parameter)."""
    if query.technical_field is not None and not is_technical_field(query.technical_field):
        raise ValidationFailed.field(
            "technical_field", "not one of the 11 technical field codes (electronic_information, ..., urban_social)"
        )
    if query.region is not None and not is_valid_region(query.region):
        raise ValidationFailed.field("region", "not a GB/T 2260 region code")
    if query.trl_min is not None and query.trl_max is not None and query.trl_min > query.trl_max:
        raise ValidationFailed.field("trl_min", "must not exceed trl_max")
    if (
        query.amount_min_fen is not None
        and query.amount_max_fen is not None
        and query.amount_min_fen > query.amount_max_fen
    ):
        raise ValidationFailed.field(amount_names[0], f"must not exceed {amount_names[1]}")


async def run_search(*, engine: SearchEngine, segmenter: Segmenter, query: SearchQuery) -> TimedResult:
    """Run a validated query on the configured engine."""
    started = time.perf_counter()
    highlight = segmenter.highlight_words(segmenter.query_terms(query.q)) if query.q else []
    result = await engine.search(query, highlight=highlight)
    return TimedResult(result, round((time.perf_counter() - started) * 1000, 2))
