"""The delivery round: claim due deliveries, POST them signed, record each attempt, retry or give up.

One round (:func:`run_round`) is what the worker's loop repeats; tests call it directly with ``now`` to drive time.

* **Claim** (one short transaction): due pending deliveries of enabled endpoints, leased for ``lease`` so no other
  round takes them meanwhile (PostgreSQL: FOR UPDATE SKIP LOCKED; see the repository).
* **Send** (no transaction open): the URL is checked again (SSRF rules, DNS re-resolved: a name that now points
  inside is refused) and the request goes to the checked address. ``follow_redirects`` is off (3xx is a
  failure), the whole attempt has one deadline (``timeout``), and at most ``response_cap`` bytes of the answer are
  read before the connection is closed. 2xx is success.
* **Record** (one transaction): the attempt (status, latency, error); success ends the delivery; a failure
  schedules the next attempt after an exponential backoff with full jitter, unless that falls more than
  ``retry_window`` after the first attempt: then the delivery is ``failed``, the endpoint is disabled and reported —
  to ``on_disabled`` in the same transaction (the worker passes one that notifies its org admins: webhooks does not
  import notifications) and in :attr:`RoundReport.disabled`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.market.webhooks import signing
from services.market.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from services.market.webhooks.repository import WebhookRepository
from services.market.webhooks.ssrf import Resolver, UnsafeUrl, check_url
from shared.clock import utcnow

__all__ = [
    "USER_AGENT",
    "Claim",
    "DeliveryConfig",
    "DisabledEndpoint",
    "OnDisabled",
    "Outcome",
    "RoundReport",
    "backoff_delay",
    "open_client",
    "run_round",
    "send",
]

USER_AGENT = "techmarket-webhooks/1.0 (+https://www.standardwebhooks.com)"
DISABLED_REASON = "deliveries failed for 24 hours"


@dataclass(frozen=True, slots=True)
class DeliveryConfig:
    """How deliveries are made (from MarketSettings, smaller in tests)."""

    environment: str = "development"
    timeout: float = 10.0
    response_cap: int = 64 * 1024
    batch: int = 50
    concurrency: int = 10
    retry_base: float = 5.0
    retry_cap: float = 3600.0
    retry_window: dt.timedelta = dt.timedelta(hours=24)
    lease: dt.timedelta = dt.timedelta(minutes=2)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt got."""

    status_code: int | None
    latency_ms: int
    error: str | None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True, slots=True)
class DisabledEndpoint:
    """An endpoint this round disabled after its retry window ran out (for the org admin notice)."""

    endpoint_id: uuid.UUID
    org_id: uuid.UUID
    url: str
    reason: str


@dataclass
class RoundReport:
    """What one round did."""

    succeeded: int = 0
    retrying: int = 0
    failed: int = 0
    disabled: list[DisabledEndpoint] = field(default_factory=list)

    @property
    def attempted(self) -> int:
        return self.succeeded + self.retrying + self.failed


OnDisabled = Callable[[AsyncSession, DisabledEndpoint], Awaitable[None]]
"""Called in the transaction that disables an endpoint (the worker notifies its org admins there: atomic)."""


def backoff_delay(attempts: int, *, base: float, cap: float, rand: Callable[[], float] = random.random) -> float:
    """Seconds before the next try after ``attempts`` failed ones: full jitter over an exponential ceiling,
    uniform in [1, min(cap, base·2^(attempts-1))] — at least a second, so a failing receiver is never hammered."""
    ceiling = min(cap, base * 2.0 ** max(0, attempts - 1))
    return max(1.0, float(rand()) * ceiling)


def open_client(config: DeliveryConfig) -> httpx.AsyncClient:
    """The HTTP client of deliveries: no redirects, no proxies from the environment (they would bypass the
    address check), the attempt's timeout on every phase."""
    return httpx.AsyncClient(
        follow_redirects=False,
        trust_env=False,
        timeout=httpx.Timeout(config.timeout),
        headers={"User-Agent": USER_AGENT},
    )


@dataclass(frozen=True, slots=True)
class Claim:
    """A claimed delivery, with what sending it needs (read in the claim's transaction)."""

    delivery_id: uuid.UUID
    payload: bytes
    url: str
    secrets: tuple[str, ...]


def _valid_secrets(endpoint: WebhookEndpoint, now: dt.datetime) -> tuple[str, ...]:
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires is not None and expires > now:
        return (endpoint.secret, endpoint.previous_secret)
    return (endpoint.secret,)


def _short(error: str) -> str:
    return error if len(error) <= 300 else error[:297] + "..."


async def _read_capped(response: httpx.Response, cap: int) -> None:
    read = 0
    async for chunk in response.aiter_raw():
        read += len(chunk)
        if read >= cap:
            return  # the stream context closes the connection: the rest is never read


async def send(
    client: httpx.AsyncClient,
    claim: Claim,
    *,
    config: DeliveryConfig,
    now: dt.datetime,
    resolver: Resolver | None,
) -> Outcome:
    """One attempt: check the URL again, POST the signed body to the checked address, judge the answer."""
    started = time.monotonic()

    def took() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        target = await check_url(claim.url, environment=config.environment, resolver=resolver)
    except UnsafeUrl as exc:
        return Outcome(None, took(), _short(f"refused: {exc}"))
    started = time.monotonic()  # latency is the HTTP exchange's, not the DNS check's
    url, pinned_headers, extensions = target.pinned()
    timestamp = int(now.timestamp())
    msg_id = str(claim.delivery_id)
    headers = {
        **pinned_headers,
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signing.signature_header(
            claim.secrets, msg_id=msg_id, timestamp=timestamp, body=claim.payload
        ),
    }
    try:
        async with asyncio.timeout(config.timeout):
            async with client.stream(
                "POST", url, content=claim.payload, headers=headers, extensions=extensions
            ) as response:
                await _read_capped(response, config.response_cap)
                status = response.status_code
    except TimeoutError:
        return Outcome(None, took(), f"timeout: no complete answer within {config.timeout:g} s")
    except httpx.HTTPError as exc:
        return Outcome(None, took(), _short(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__))
    if 200 <= status < 300:
        return Outcome(status, took(), None)
    if 300 <= status < 400:
        return Outcome(status, took(), f"HTTP {status}: redirects are not followed")
    return Outcome(status, took(), f"HTTP {status}")


async def _claim(
    sessionmaker: async_sessionmaker[AsyncSession], *, config: DeliveryConfig, now: dt.datetime
) -> list[Claim]:
    async with sessionmaker() as session, session.begin():
        rows = await WebhookRepository(session).claim_due(now=now, lease_until=now + config.lease, limit=config.batch)
        return [
            Claim(delivery_id=d.id, payload=d.payload.encode(), url=e.url, secrets=_valid_secrets(e, now))
            for d, e in rows
        ]


async def _record(
    session: AsyncSession,
    claim: Claim,
    outcome: Outcome,
    *,
    config: DeliveryConfig,
    now: dt.datetime,
    rand: Callable[[], float],
    report: RoundReport,
    on_disabled: OnDisabled | None,
) -> None:
    repository = WebhookRepository(session)
    delivery: WebhookDelivery | None = await repository.delivery(claim.delivery_id)
    if delivery is None or delivery.status != "pending":
        return  # deleted, or cancelled by a disable while it was in flight
    await repository.add(
        WebhookAttempt(
            delivery_id=delivery.id,
            attempted_at=now,
            status_code=outcome.status_code,
            latency_ms=outcome.latency_ms,
            error=outcome.error,
        )
    )
    delivery.attempt_count += 1
    first = delivery.first_attempt_at or now
    delivery.first_attempt_at = first
    if outcome.ok:
        delivery.status, delivery.next_attempt_at, delivery.finished_at = "succeeded", None, now
        report.succeeded += 1
        return
    delay = backoff_delay(delivery.attempt_count, base=config.retry_base, cap=config.retry_cap, rand=rand)
    next_at = now + dt.timedelta(seconds=delay)
    if next_at <= first + config.retry_window:
        delivery.next_attempt_at = next_at
        report.retrying += 1
        return
    delivery.status, delivery.next_attempt_at, delivery.finished_at = "failed", None, now
    report.failed += 1
    endpoint = await repository.endpoint(delivery.endpoint_id, for_update=True)
    if endpoint is not None and endpoint.enabled:
        endpoint.enabled = False
        endpoint.disabled_at, endpoint.disabled_reason = now, DISABLED_REASON
        endpoint.updated_at = now
        endpoint.version += 1
        await session.flush()
        await repository.cancel_pending(endpoint.id, now)
        disabled = DisabledEndpoint(
            endpoint_id=endpoint.id, org_id=endpoint.org_id, url=endpoint.url, reason=DISABLED_REASON
        )
        if on_disabled is not None:
            await on_disabled(session, disabled)
        report.disabled.append(disabled)
    await session.flush()


async def run_round(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    client: httpx.AsyncClient,
    config: DeliveryConfig,
    now: dt.datetime | None = None,
    resolver: Resolver | None = None,
    rand: Callable[[], float] = random.random,
    on_disabled: OnDisabled | None = None,
) -> RoundReport:
    """Claim, send and record one batch of due deliveries; ``now`` is the round's clock (tests drive it).
    ``on_disabled`` runs in the transaction that disables an endpoint, so the notice commits with it."""
    now = now or utcnow()
    report = RoundReport()
    claims = await _claim(sessionmaker, config=config, now=now)
    if not claims:
        return report
    gate = asyncio.Semaphore(config.concurrency)

    async def attempt(claim: Claim) -> Outcome:
        async with gate:
            return await send(client, claim, config=config, now=now, resolver=resolver)

    outcomes = await asyncio.gather(*(attempt(c) for c in claims))
    async with sessionmaker() as session, session.begin():
        for claim, outcome in zip(claims, outcomes, strict=True):
            await _record(
                session, claim, outcome, config=config, now=now, rand=rand, report=report, on_disabled=on_disabled
            )
    return report
