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
from tests.conftest import Stack
from tests.market.contracts.factories import ensure_office, registrar
from tests.market.proposals.world import World, make_world
from tests.support.actors import Actor, Actors
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


@pytest.fixture
async def world(stack: Stack, actors: Actors) -> World:
    """Organizations and people of a proposal's story (tests/market/proposals/world.py)."""
    return await make_world(stack, actors)


@pytest.fixture
async def office(stack: Stack, actors: Actors) -> Actor:
    """A registrar of a registration office serving 510100 (成都), the office row in place."""
    reg = await registrar(actors)
    await ensure_office(stack, reg)
    return reg
