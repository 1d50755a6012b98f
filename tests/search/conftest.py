"""The engine fixture of the shared behavioral suite: every engine the suite runs on.

- ``embedded``: the embedded engine, always.
- ``meilisearch-fake``: the Meilisearch adapter against FakeMeilisearch (tests/search/fake_meilisearch), an
  in-memory model of the pinned server's API written from its source — a fake, not a server.
- ``meilisearch``: the adapter against a live server when MEILI_URL is set (skipped otherwise).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.search.engines.base import SearchEngine
from services.search.engines.embedded import EmbeddedEngine
from services.search.segment import segmenter

MEILI_URL = os.environ.get("MEILI_URL")
# The suite's documents carry vectors of this size when a case needs them (hybrid search).
EMBEDDING_DIMENSIONS = 3


@pytest.fixture(params=["embedded", "meilisearch-fake", "meilisearch"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SearchEngine]:
    made: SearchEngine
    if request.param == "embedded":
        made = EmbeddedEngine(tmp_path / "index", segmenter())
    else:
        from services.search.engines.meili import MeiliEngine, make_client
        from services.search.engines.meili_client import RetryPolicy

        if request.param == "meilisearch-fake":
            from tests.search.fake_meilisearch import FakeMeilisearch

            fake = FakeMeilisearch()
            client = make_client(
                "http://meilisearch.fake",
                fake.api_key,
                transport=fake.transport(),
                retry=RetryPolicy(attempts=2, base_delay_s=0.0),
                poll_max_s=0.001,
            )
        else:
            if not MEILI_URL:
                pytest.skip("live Meilisearch run skipped: MEILI_URL is not set (the fake run covers the adapter)")
            client = make_client(MEILI_URL, os.environ.get("MEILI_MASTER_KEY"))
        made = MeiliEngine(
            client,
            segmenter(),
            prefix=f"test_{uuid.uuid4().hex[:8]}_",
            task_timeout_ms=20_000,
            embedding_dimensions=EMBEDDING_DIMENSIONS,
        )
    await made.open()
    yield made
    if request.param == "meilisearch":
        from services.search.engines.meili import MeiliEngine

        assert isinstance(made, MeiliEngine)
        for kind in ("achievement", "demand"):
            await made.drop(made.uid(kind))  # type: ignore[arg-type]
    await made.close()
