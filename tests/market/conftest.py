"""Fixtures of the market tests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import create_engine
from tests.support.databases import postgres_url_from_env


@pytest.fixture
async def empty_engine(backend: str, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """An engine on an empty database of the test's backend (for migration tests)."""
    if backend == "sqlite":
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'market.db'}")
        yield engine
        await engine.dispose()
        return
    url = make_url(postgres_url_from_env() or "")
    name = f"tmt_migration_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False))
    await admin.execute(f'CREATE DATABASE "{name}"')
    engine = create_engine(url.set(database=name).render_as_string(hide_password=False))
    try:
        yield engine
    finally:
        await engine.dispose()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
