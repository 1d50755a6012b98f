"""Actors for a running server (``techmarket serve`` started by tests/support/server.py): its own auth relay
carries organizations to market, so waiting replaces draining. Used by the browser tests and bench/dashboard.py."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx

from tests.support.actors import Actor, Actors

__all__ = ["LiveActors", "LiveStack"]


class LiveStack:
    """What the shared factories need of a stack: a client (here, of the running server)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client


class LiveActors(Actors):
    """Actors made through a running server's API; its own auth relay carries organizations to market."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        super().__init__(LiveStack(client))  # type: ignore[arg-type]

    async def sync_directory(self, *org_ids: uuid.UUID) -> int:
        for org_id in org_ids:
            for _ in range(300):  # the relay runs every few hundred ms; wait for the organization's public card
                if (await self.client.get(f"/market/directory/organizations/{org_id}")).status_code == 200:
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError(f"organization {org_id} never reached market's directory")
        return len(org_ids)

    async def org_member(self, **kwargs: Any) -> Actor:
        actor = await super().org_member(**kwargs)
        if actor.org_id is not None and kwargs.get("verified", True) and actor.org_kind != "center":
            await self.sync_directory(actor.org_id)
        return actor
