"""The auth relay: auth_outbox → POST {market_url}/directory/organizations (see the package docstring)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.auth.outbox.models import AuthOutboxEvent
from services.auth.settings import AuthSettings
from shared.outbox import relay as outbox_relay
from shared.outbox.relay import Relay, TokenSource, ingestion_document, running_in_background

__all__ = ["DIRECTORY_PATH", "auth_relay_lifespan", "build_relay", "organization_document"]

# Where market receives the feed, below AuthSettings.market_url.
DIRECTORY_PATH = "/directory/organizations"


def organization_document(event: AuthOutboxEvent) -> dict[str, Any]:
    """The document market's directory takes: the ingestion shape plus the event type."""
    return {**ingestion_document(event), "event_type": event.event_type}


def build_relay(
    settings: AuthSettings,
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    client: httpx.AsyncClient,
    tokens: TokenSource,
) -> Relay[AuthOutboxEvent]:
    """The auth relay, configured from settings."""
    return outbox_relay.build_relay(
        settings,
        model=AuthOutboxEvent,
        document_of=organization_document,
        target_url=settings.market_url.rstrip("/") + DIRECTORY_PATH,
        sessionmaker=sessionmaker,
        client=client,
        tokens=tokens,
    )


@contextlib.asynccontextmanager
async def auth_relay_lifespan(
    app: FastAPI, *, token_url: str, token_transport: httpx.AsyncBaseTransport
) -> AsyncIterator[None]:
    """Build ``app.state.relay`` and, when the relay runs in the app, run it in the background.

    The token comes from this auth app's own /token, reached in-process through ``token_transport`` (auth must not
    depend on reaching itself over the network); the POST to market goes out through the app's outbound client.
    """
    settings: AuthSettings = app.state.settings
    tokens = outbox_relay.build_token_provider(settings, token_url=token_url, transport=token_transport)
    app.state.relay = build_relay(settings, sessionmaker=app.state.sessionmaker, client=app.state.http, tokens=tokens)

    def jobs(stop: asyncio.Event) -> list[Coroutine[Any, Any, None]]:
        if not settings.relay_runs_in_app:
            return []
        return [app.state.relay.run_forever(interval=settings.relay_interval_seconds, stop=stop)]

    try:
        async with running_in_background(jobs):
            yield
    finally:
        await tokens.aclose()
