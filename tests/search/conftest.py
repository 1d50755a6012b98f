"""The engine fixture of the shared behavioral suite: every engine the suite runs on.

The embedded engine always; Meilisearch when MEILI_URL is set (a live server).
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


@pytest.fixture(params=["embedded", "meilisearch"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SearchEngine]:
    if request.param == "embedded":
        made: SearchEngine = EmbeddedEngine(tmp_path / "index", segmenter())
    else:
        if not MEILI_URL:
            pytest.skip("Meilisearch run skipped: MEILI_URL is not set (no live server; see test_meili_adapter.py)")
        from services.search.engines.meili import MeiliEngine, make_client

        made = MeiliEngine(
            make_client(MEILI_URL, os.environ.get("MEILI_MASTER_KEY")),
            segmenter(),
            prefix=f"test_{uuid.uuid4().hex[:8]}_",
            task_timeout_ms=20_000,
        )
    await made.open()
    yield made
    if request.param == "meilisearch":
        from services.search.engines.meili import MeiliEngine

        assert isinstance(made, MeiliEngine)
        for kind in ("achievement", "demand"):
            await made.client.delete_index_if_exists(made.uid(kind))  # type: ignore[arg-type]
    await made.close()
