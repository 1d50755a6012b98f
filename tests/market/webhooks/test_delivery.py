"""Deliveries to a real HTTP server on loopback (both backends): signatures checked by an independent
implementation of the spec, retries after 500s and timeouts, the backoff schedule, 24 h exhaustion, rotation,
disabled and deleted endpoints, no contacts, no redirects, capped answers, DNS rebinding."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

import httpx
import pytest
import sqlalchemy as sa

from services.market.notifications.models import Notification
from services.market.webhooks import service as webhooks_service
from services.market.webhooks.delivery import Claim, backoff_delay, send
from services.market.webhooks.models import WebhookDelivery
from services.market.webhooks.schemas import WebhookCreate
from services.market.worker import notify_disabled_webhook
from shared.clock import utcnow
from shared.security import Principal
from tests.market.webhooks.conftest import TEST_CONFIG, Hooks, body_of, verify
from tests.market.webhooks.receiver import Reply


async def proposal_event(hooks: Hooks) -> dict[str, str]:
    """A broker proposes (on a new demand each time: one open proposal per pair of listings): the seller university,
    and so its webhooks, gets proposal.received."""
    demand = await hooks.world.another_demand()
    proposal: dict[str, str] = await hooks.world.propose(demand_id=demand["id"])
    return proposal


async def next_attempt(hooks: Hooks, delivery_id: str) -> dt.datetime:
    async with hooks.stack.service_app("market").state.sessionmaker() as session:
        row = await session.get(WebhookDelivery, uuid.UUID(delivery_id))
        assert row is not None
        assert row.next_attempt_at is not None
        return row.next_attempt_at


class TestSignedDelivery:
    async def test_an_event_arrives_signed_per_the_spec_with_the_public_data(self, hooks: Hooks) -> None:
        hook = await hooks.create()
        proposal = await proposal_event(hooks)
        now = utcnow()
        report = await hooks.round(now)
        assert (report.succeeded, report.retrying, report.failed) == (1, 0, 0)
        [request] = hooks.receiver.requests
        assert (request.method, request.target) == ("POST", "/hooks/techmarket")
        assert request.headers["content-type"] == "application/json"
        assert request.headers["user-agent"].startswith("techmarket-webhooks/")
        assert request.headers["webhook-timestamp"] == str(int(now.timestamp()))
        assert verify(hook["secret"], request, tolerance=dt.timedelta(minutes=5))
        assert not verify("whsec_" + "A" * 44, request)  # another secret does not verify
        body = body_of(request)
        assert set(body) == {"type", "timestamp", "data"}
        assert body["type"] == "proposal.received"
        assert dt.datetime.fromisoformat(body["timestamp"]).tzinfo is not None
        assert body["data"]["subject_id"] == proposal["id"]
        assert body["data"]["achievement_id"] == hooks.world.achievement["id"]

        [delivery] = await hooks.deliveries(hook["id"])
        assert delivery["id"] == request.headers["webhook-id"]
        assert (delivery["event_type"], delivery["status"], delivery["next_attempt_at"]) == (
            "proposal.received",
            "succeeded",
            None,
        )
        [attempt] = delivery["attempts"]
        assert attempt["status_code"] == 200
        assert attempt["error"] is None
        assert attempt["latency_ms"] >= 0
        # Success stops: nothing is sent again.
        assert (await hooks.round(now + dt.timedelta(hours=2))).attempted == 0
        assert len(hooks.receiver.requests) == 1

    async def test_only_subscribed_types_of_the_addressed_organizations_are_delivered(self, hooks: Hooks) -> None:
        await hooks.create(event_types=["contract.registered"])  # not proposal.received
        buyer_admin = await hooks.world.actors.colleague(hooks.world.buyer, roles=("org_admin", "member"))
        outsider_admin = await hooks.world.actors.colleague(hooks.world.outsider, roles=("org_admin", "member"))
        buyer_hook = await hooks.create(buyer_admin, event_types=["proposal.received"])
        await hooks.create(outsider_admin, event_types=["proposal.received"])
        await proposal_event(hooks)
        await hooks.round()
        assert [r.headers["webhook-id"] for r in hooks.receiver.requests] == [
            d["id"] for d in await hooks.deliveries(buyer_hook["id"], buyer_admin)
        ]
        assert len(hooks.receiver.requests) == 1  # the buyer's; not the seller's (other type), not the outsider's

    async def test_no_contacts_in_any_body(self, hooks: Hooks) -> None:
        await hooks.create(event_types=["interest.received", "proposal.received", "proposal.agreed"])
        world = hooks.world
        secret_phone = "023-61234567"
        response = await world.client.post(
            f"/market/achievements/{world.achievement['id']}/interest",
            json={"note": "希望实施该专利", "contact": {"name": "采购部 张经理", "phone": secret_phone}},
            headers=world.buyer.headers,
        )
        assert response.status_code == 201, response.text
        await world.agreed()  # agreed: the contacts become visible to the parties in the API, not in webhooks
        await hooks.round()
        types = [body_of(r)["type"] for r in hooks.receiver.requests]
        assert sorted(types) == ["interest.received", "proposal.agreed", "proposal.received"]
        for request in hooks.receiver.requests:
            text = request.body.decode()
            assert "contact" not in text.lower()
            assert secret_phone not in text
            for contact in (world.seller, world.buyer):
                assert contact.subject not in text  # no user ids either

    async def test_the_test_endpoint_delivers_a_webhook_test_event(self, hooks: Hooks) -> None:
        hook = await hooks.create(event_types=["contract.registered"])
        response = await hooks.api.post(f"/market/webhooks/{hook['id']}/test", headers=hooks.admin.headers)
        assert response.status_code == 202, response.text
        await hooks.round()
        [request] = hooks.receiver.requests
        assert request.headers["webhook-id"] == response.json()["delivery_id"]
        assert body_of(request)["type"] == "webhook.test"
        assert verify(hook["secret"], request)


class TestRetries:
    async def test_a_500_is_retried_with_the_same_id_until_a_2xx_then_stops(self, hooks: Hooks) -> None:
        hook = await hooks.create()
        await proposal_event(hooks)
        hooks.receiver.answer(Reply(500, body=b"boom"), Reply(503))
        t0 = utcnow()
        assert (await hooks.round(t0)).retrying == 1
        [delivery] = await hooks.deliveries(hook["id"])
        assert delivery["status"] == "pending"
        assert [(a["status_code"], a["error"]) for a in delivery["attempts"]] == [(500, "HTTP 500")]
        # Not due yet: a round right away sends nothing.
        assert (await hooks.round(t0)).attempted == 0
        assert (await hooks.round(t0 + dt.timedelta(minutes=5))).retrying == 1
        assert (await hooks.round(t0 + dt.timedelta(minutes=30))).succeeded == 1
        assert (await hooks.round(t0 + dt.timedelta(hours=3))).attempted == 0
        requests = hooks.receiver.requests
        assert len(requests) == 3
        assert len({r.headers["webhook-id"] for r in requests}) == 1  # stable across retries
        assert len({r.headers["webhook-timestamp"] for r in requests}) == 3  # each attempt's own time
        assert len({r.body for r in requests}) == 1
        assert all(verify(hook["secret"], r) for r in requests)
        [delivery] = await hooks.deliveries(hook["id"])
        assert delivery["status"] == "succeeded"
        assert [a["status_code"] for a in delivery["attempts"]] == [500, 503, 200]

    async def test_a_timeout_is_a_failed_attempt_and_is_retried(self, hooks: Hooks) -> None:
        hook = await hooks.create()
        await proposal_event(hooks)
        hooks.receiver.answer(Reply(200, delay=3.0))  # longer than the test config's 0.5 s deadline
        t0 = utcnow()
        assert (await hooks.round(t0)).retrying == 1
        [delivery] = await hooks.deliveries(hook["id"])
        [attempt] = delivery["attempts"]
        assert attempt["status_code"] is None
        assert attempt["error"].startswith("timeout")
        assert (await hooks.round(t0 + dt.timedelta(minutes=1))).succeeded == 1
        assert len(hooks.receiver.requests) == 2

    def test_backoff_is_exponential_capped_and_fully_jittered(self) -> None:
        ceilings = [backoff_delay(n, base=5, cap=3600, rand=lambda: 1.0) for n in range(1, 12)]
        assert ceilings == [5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600]
        assert backoff_delay(30, base=5, cap=3600, rand=lambda: 1.0) == 3600
        assert backoff_delay(6, base=5, cap=3600, rand=lambda: 0.5) == 80  # uniform below the ceiling
        assert backoff_delay(6, base=5, cap=3600, rand=lambda: 0.0) == 1.0  # never an immediate retry

    async def test_the_round_schedules_retries_on_the_backoff(self, hooks: Hooks) -> None:
        await hooks.create()
        await proposal_event(hooks)
        hooks.receiver.answer(*[Reply(500)] * 4)
        [delivery_id] = [
            d["id"]
            for d in await hooks.deliveries(
                (await hooks.api.get("/market/webhooks", headers=hooks.admin.headers)).json()["items"][0]["id"]
            )
        ]
        now = utcnow()
        for expected in (5, 10, 20, 40):
            await hooks.round(now, rand=lambda: 1.0)
            due = await next_attempt(hooks, delivery_id)
            assert (due - now).total_seconds() == pytest.approx(expected, abs=0.01)
            now = due


class TestExhaustion:
    async def test_after_24_hours_of_failures_the_delivery_fails_and_the_endpoint_is_disabled_and_reported(
        self, hooks: Hooks
    ) -> None:
        hook = await hooks.create()
        watcher = await hooks.create(event_types=["webhook.disabled"], url=hooks.receiver.url + "/watcher")
        await proposal_event(hooks)
        hooks.receiver.script.extend([Reply(500)] * 50)
        t0 = utcnow()
        now = t0
        rounds = 0
        while True:
            report = await hooks.round(now, rand=lambda: 1.0, on_disabled=notify_disabled_webhook)
            rounds += 1
            if report.failed:
                break
            assert report.retrying == 1
            assert rounds < 40
            now = await next_attempt(hooks, (await hooks.deliveries(hook["id"]))[0]["id"])
            assert now - t0 <= dt.timedelta(hours=24)  # never scheduled past the window
        assert now - t0 > dt.timedelta(hours=22)  # it really kept trying for about a day
        [disabled] = report.disabled
        assert (str(disabled.endpoint_id), disabled.org_id) == (hook["id"], hooks.admin.org_id)
        [delivery] = await hooks.deliveries(hook["id"])
        assert delivery["status"] == "failed"
        assert len(delivery["attempts"]) == rounds
        shown = (await hooks.get(hook["id"])).json()
        assert shown["enabled"] is False
        assert shown["disabled_at"]
        assert "24 hours" in shown["disabled_reason"]

        # The worker's callback told the organization's admins (inbox) and its webhook.disabled subscribers.
        inbox = await hooks.api.get("/market/notifications", headers=hooks.admin.headers)
        newest = inbox.json()["items"][0]
        assert (newest["type"], newest["subject_id"], newest["data"]["url"]) == (
            "webhook.disabled",
            hook["id"],
            hooks.receiver.url,
        )
        member_inbox = await hooks.api.get("/market/notifications", headers=hooks.world.seller.headers)
        assert "webhook.disabled" not in [n["type"] for n in member_inbox.json()["items"]]  # org_admin only
        hooks.receiver.script.clear()
        sent = len(hooks.receiver.requests)
        await hooks.round(now + dt.timedelta(seconds=1))
        [notice] = hooks.receiver.requests[sent:]
        assert notice.target.endswith("/watcher")
        assert body_of(notice)["type"] == "webhook.disabled"
        assert body_of(notice)["data"]["webhook_id"] == hook["id"]
        assert verify(watcher["secret"], notice)

        # Disabled: new events are not even enqueued for it; re-enabling resumes deliveries.
        await proposal_event(hooks)
        assert len(await hooks.deliveries(hook["id"])) == 1
        response = await hooks.patch(hook["id"], {"enabled": True})
        assert response.status_code == 200, response.text
        assert (response.json()["enabled"], response.json()["disabled_at"]) == (True, None)
        await proposal_event(hooks)
        assert (await hooks.round()).succeeded == 1


class TestEndpointsThatGetNothing:
    async def test_a_disabled_endpoint_gets_nothing_and_its_pending_deliveries_are_cancelled(
        self, hooks: Hooks
    ) -> None:
        hook = await hooks.create()
        await proposal_event(hooks)
        assert (await hooks.patch(hook["id"], {"enabled": False})).status_code == 200
        await proposal_event(hooks)
        assert (await hooks.round()).attempted == 0
        assert hooks.receiver.requests == []
        assert [d["status"] for d in await hooks.deliveries(hook["id"])] == ["cancelled"]
        response = await hooks.api.post(f"/market/webhooks/{hook['id']}/test", headers=hooks.admin.headers)
        assert response.status_code == 409

    async def test_a_deleted_endpoint_gets_nothing(self, hooks: Hooks) -> None:
        hook = await hooks.create()
        await proposal_event(hooks)
        response = await hooks.api.delete(f"/market/webhooks/{hook['id']}", headers=hooks.admin.headers)
        assert response.status_code == 204, response.text
        await proposal_event(hooks)
        assert (await hooks.round()).attempted == 0
        assert hooks.receiver.requests == []
        assert (await hooks.get(hook["id"])).status_code == 404
        async with hooks.stack.service_app("market").state.sessionmaker() as session:
            left = await session.execute(sa.select(sa.func.count()).select_from(WebhookDelivery))
            assert left.scalar_one() == 0


class TestRotation:
    async def test_both_secrets_verify_for_24_hours_then_only_the_new_one(self, hooks: Hooks) -> None:
        hook = await hooks.create()
        old = hook["secret"]
        response = await hooks.api.post(f"/market/webhooks/{hook['id']}/rotate-secret", headers=hooks.admin.headers)
        assert response.status_code == 200, response.text
        new = response.json()["secret"]
        assert new != old
        assert new.startswith("whsec_")
        until = dt.datetime.fromisoformat(response.json()["previous_secret_expires_at"])
        assert dt.timedelta(hours=23, minutes=59) < until - utcnow() <= dt.timedelta(hours=24)

        await proposal_event(hooks)
        await hooks.round(until - dt.timedelta(minutes=1))
        [during] = hooks.receiver.requests
        assert len(during.headers["webhook-signature"].split(" ")) == 2
        assert verify(old, during)
        assert verify(new, during)

        await proposal_event(hooks)
        await hooks.round(until + dt.timedelta(seconds=1))
        after = hooks.receiver.requests[1]
        assert len(after.headers["webhook-signature"].split(" ")) == 1
        assert verify(new, after)
        assert not verify(old, after)


class TestReceiverMisbehaviour:
    async def test_a_redirect_is_not_followed_and_counts_as_a_failure(self, hooks: Hooks) -> None:
        hook = await hooks.create()
        await proposal_event(hooks)
        hooks.receiver.answer(Reply(302, headers={"location": "http://127.0.0.1:1/elsewhere"}))
        assert (await hooks.round()).retrying == 1
        assert [r.target for r in hooks.receiver.requests] == ["/hooks/techmarket"]
        [attempt] = (await hooks.deliveries(hook["id"]))[0]["attempts"]
        assert attempt["status_code"] == 302
        assert "redirect" in attempt["error"]

    async def test_an_endless_answer_is_read_up_to_the_cap_then_dropped(self, hooks: Hooks) -> None:
        hook = await hooks.create()
        await proposal_event(hooks)
        hooks.receiver.answer(Reply(200, endless=True))
        # An uncapped read would never end and time out; capped, the 2xx counts before the deadline.
        assert (await hooks.round()).succeeded == 1
        assert hooks.receiver.endless_bytes_sent < 64 * 1024 * 1024
        assert (await hooks.deliveries(hook["id"]))[0]["status"] == "succeeded"


class TestDnsRebinding:
    async def test_a_name_that_resolves_inside_at_delivery_time_is_refused(self, hooks: Hooks) -> None:
        addresses = ["93.184.215.14"]

        async def resolver(host: str, port: int) -> list[str]:
            return list(addresses)

        production = dataclasses.replace(TEST_CONFIG, environment="production")
        assert hooks.admin.org_id is not None
        principal = Principal(
            subject=hooks.admin.subject, token_id="t", roles=frozenset({"org_admin"}), org_id=hooks.admin.org_id
        )
        async with hooks.stack.service_app("market").state.sessionmaker() as session, session.begin():
            created = await webhooks_service.create_webhook(
                session=session,
                principal=principal,
                data=WebhookCreate(url="https://hooks.example.com/in", event_types=["proposal.received"]),
                environment="production",
                resolver=resolver,
            )
        await proposal_event(hooks)
        addresses[:] = ["127.0.0.1"]  # the attacker's DNS now answers loopback (where our receiver listens)
        report = await hooks.round(config=production, resolver=resolver)
        assert report.retrying == 1
        assert hooks.receiver.requests == []
        [attempt] = (await hooks.deliveries(str(created.id)))[0]["attempts"]
        assert attempt["status_code"] is None
        assert attempt["error"] == "refused: 127.0.0.1 is a loopback address"


async def test_notify_can_skip_the_inbox_and_add_webhook_organizations(hooks: Hooks) -> None:
    """notify(inbox=False, webhook_orgs=...): webhooks only, to the union of addressed and extra organizations."""
    from services.market.notifications import service as notifications_service

    await hooks.create(event_types=["listing.expiring"])
    subject = uuid.uuid4()
    async with hooks.stack.service_app("market").state.sessionmaker() as session, session.begin():
        rows = await notifications_service.notify(
            session=session,
            type="listing.expiring",
            title="成果即将到期",
            subject_type="achievement",
            subject_id=subject,
            data={"valid_until": "2026-12-07"},
            inbox=False,
            webhook_orgs=[hooks.admin.org_id] if hooks.admin.org_id else [],
        )
        assert rows == []
        count = await session.execute(sa.select(sa.func.count()).select_from(Notification))
        assert count.scalar_one() == 0
    await hooks.round()
    [request] = hooks.receiver.requests
    assert body_of(request)["data"] == {
        "subject_type": "achievement",
        "subject_id": str(subject),
        "title": "成果即将到期",
        "valid_until": "2026-12-07",
    }


class TestPinning:
    async def test_the_connection_goes_to_the_checked_address_with_the_original_host(self, hooks: Hooks) -> None:
        hook = await hooks.create(url=f"http://localhost:{hooks.receiver.port}/pinned")
        await proposal_event(hooks)
        asked: list[str] = []

        async def resolver(host: str, port: int) -> list[str]:
            asked.append(host)
            return ["127.0.0.1"]

        assert (await hooks.round(resolver=resolver)).succeeded == 1
        assert asked == ["localhost"]  # resolved again at delivery time
        [request] = hooks.receiver.requests
        assert request.headers["host"] == f"localhost:{hooks.receiver.port}"
        assert verify(hook["secret"], request)

    async def test_https_is_pinned_with_the_host_as_tls_server_name(self) -> None:
        """Unit: what the client is asked to do for a production https URL (no TLS receiver on loopback here)."""
        seen: list[httpx.Request] = []

        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return httpx.Response(204, stream=httpx.ByteStream(b""))

        async def resolver(host: str, port: int) -> list[str]:
            return ["93.184.215.14"]

        claim = Claim(
            delivery_id=uuid.uuid4(), payload=b"{}", url="https://hooks.example.com/in", secrets=("whsec_AAAA",)
        )
        config = dataclasses.replace(TEST_CONFIG, environment="production")
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            outcome = await send(client, claim, config=config, now=utcnow(), resolver=resolver)
        assert outcome.ok
        [request] = seen
        assert str(request.url) == "https://93.184.215.14/in"
        assert request.headers["host"] == "hooks.example.com"
        assert request.extensions["sni_hostname"] == "hooks.example.com"
