"""FakeMeilisearch: an in-memory model of the Meilisearch v1.50.0 HTTP API (a fake — no server runs here).

Written from the server's source at tag v1.50.0 (crates/meilisearch, crates/milli, crates/meilisearch-types,
crates/index-scheduler, crates/filter-parser) and charabia 0.9.9; each module names what it models and what it
does not. docs/search.md summarizes the fidelity.
"""

from tests.search.fake_meilisearch.server import FakeMeilisearch

__all__ = ["FakeMeilisearch"]
