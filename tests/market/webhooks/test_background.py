"""The app's own background loop delivers webhooks (both backends): with the relay running in the app (as in
development and `make run`), a test event reaches a real receiver without anyone driving a round."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.conftest import Databases, running_stack
from tests.market.webhooks.conftest import URL, verify
from tests.market.webhooks.receiver import Receiver
from tests.support.actors import Actors


async def test_the_worker_loop_delivers_a_test_event(databases: Databases, tmp_path: Path) -> None:
    overrides = {"relay_enabled": True, "webhook_interval_seconds": 0.05}
    async with Receiver() as receiver, running_stack(databases, tmp_path, market_overrides=overrides) as stack:
        actors = Actors(stack)
        try:
            admin = await actors.org_member(kind="enterprise", roles=("org_admin", "member"))
            created = await stack.client.post(
                URL, json={"url": receiver.url, "event_types": ["webhook.test"]}, headers=admin.headers
            )
            assert created.status_code == 201, created.text
            hook = created.json()
            queued = await stack.client.post(f"{URL}/{hook['id']}/test", headers=admin.headers)
            assert queued.status_code == 202, queued.text
            for _ in range(400):  # waits for the event, not for a duration: up to 20 s on a loaded machine
                if receiver.requests:
                    break
                await asyncio.sleep(0.05)
            [request] = receiver.requests
            assert request.headers["webhook-id"] == queued.json()["delivery_id"]
            assert verify(hook["secret"], request)
        finally:
            await actors.aclose()
