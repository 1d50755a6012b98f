"""Search engines behind one interface (:class:`~services.search.engines.base.SearchEngine`), chosen by settings."""

from __future__ import annotations

from services.search.engines.base import SearchEngine
from services.search.engines.ranking import Distribution
from services.search.segment import Segmenter
from services.search.settings import SearchSettings

__all__ = ["build_engine"]


def build_engine(
    settings: SearchSettings,
    segmenter: Segmenter,
    *,
    embedding_dimensions: int | None = None,
    distribution: Distribution | None = None,
) -> SearchEngine:
    """The engine the settings ask for (not opened yet); ``embedding_dimensions`` sizes Meilisearch's embedder
    (None: no embedder, no semantic search), ``distribution`` is where the embedder's similarities are packed
    (default: from the SEARCH_EMBEDDER_DISTRIBUTION_* settings)."""
    if distribution is None and settings.embedder_distribution_mean and settings.embedder_distribution_sigma:
        distribution = Distribution(settings.embedder_distribution_mean, settings.embedder_distribution_sigma)
    if settings.resolved_engine == "meilisearch":
        from services.search.engines.meili import MeiliEngine, make_client

        if not settings.meili_url:
            raise ValueError("SEARCH_ENGINE=meilisearch needs MEILI_URL")
        key = settings.meili_master_key.get_secret_value() if settings.meili_master_key else None
        return MeiliEngine(
            make_client(settings.meili_url, key),
            segmenter,
            prefix=settings.meili_index_prefix,
            task_timeout_ms=settings.meili_task_timeout_ms,
            embedding_dimensions=embedding_dimensions,
            distribution=distribution,
        )
    from services.search.engines.embedded import EmbeddedEngine

    return EmbeddedEngine(settings.resolved_index_dir, segmenter, distribution=distribution)
