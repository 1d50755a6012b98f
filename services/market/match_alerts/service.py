"""Match alerts: the alert side of saved searches and the demands' standing search, run by the market worker off
the request path (imported by the worker alone).

    run_pending(sessionmaker=…, search=…, settings=…, now=None) -> int    due alert jobs, one per transaction
    run_job(session=…, search=…, settings=…, now=…) -> MatchAlertJob | None  claim and run one job
    send_digests(session=…, now=…) -> int                                the 09:00 Asia/Shanghai daily digests

One job = one listing that became searchable or changed materially. Active saved searches of the listing's kind
(not those of its own organization) are read in pages and sent with the listing's ingestion document to the search
service's percolation endpoint, which answers which of them the listing matches — by definition exactly those whose
GET /search/{kind} would return it. Each match is a hit, inserted if absent on (saved search, listing), so a listing
alerts a search once whatever happens (changed again, the job run twice, two workers). New hits of instant searches
are notified at once; those of daily searches wait for the digest. For an achievement, the open published demands
of other organizations with ``match_alerts`` on are then matched through the matching domain (the suggestions'
similarity call and scoring, threshold ``demand_match_min_score``), once per (demand, achievement).

Search unavailable (or any failure): everything the job wrote is rolled back to a savepoint and the job is retried
later with exponential backoff (``attempts``, ``next_attempt_at``).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.market.listings.models import Achievement, Demand
from services.market.match_alerts.repository import DemandAlertRepository
from services.market.matching.client import SearchClient
from services.market.matching.models import COLUMNS, side_of
from services.market.matching.repository import MatchingRepository
from services.market.matching.scoring import assess
from services.market.matching.service import MAX_DEPTH, SUGGESTIBLE_STATUS, SUMMARY_CHARS, query_text
from services.market.notifications import service as notifications_service
from services.market.reference.codes import CooperationMode, IpType, TransferMode, labels_zh
from services.market.saved_searches.models import MatchAlertJob, SavedSearch, SavedSearchHit
from services.market.saved_searches.repository import SavedSearchRepository
from services.market.settings import MarketSettings
from shared.clock import CHINA_TZ, today_in_china, utcnow
from shared.ids import new_id
from shared.money import fen_to_wan_yuan
from shared.reference.regions import region as region_of
from shared.reference.technical_fields import technical_fields

__all__ = ["DIGEST_HOUR", "DIGEST_ITEMS", "digest_cutoff", "reasons_for", "run_job", "run_pending", "send_digests"]

logger = logging.getLogger("techmarket.market.match_alerts")

DIGEST_HOUR = 9  # local hour (Asia/Shanghai) of the daily digest
DIGEST_ITEMS = 20  # items listed in one digest (the count covers all)
DIGEST_BATCH = 200  # saved searches digested per transaction
MAX_BACKOFF = dt.timedelta(hours=1)


# -- running jobs ----------------------------------------------------------------------------------------------------


async def run_pending(
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    search: SearchClient,
    settings: MarketSettings,
    now: dt.datetime | None = None,
) -> int:
    """Run every due job, each in its own transaction, until none is due; returns how many ran (done or retried)."""
    ran = 0
    while True:
        async with sessionmaker() as session, session.begin():
            job = await run_job(session=session, search=search, settings=settings, now=now or utcnow())
        if job is None:
            return ran
        ran += 1


async def run_job(
    *, session: AsyncSession, search: SearchClient, settings: MarketSettings, now: dt.datetime
) -> MatchAlertJob | None:
    """Claim the oldest due job (None: nothing is due) and run it in the caller's transaction."""
    repository = SavedSearchRepository(session)
    job = await repository.claim_job(now)
    if job is None:
        return None
    job.attempts += 1
    if await repository.newer_job_exists(job):
        job.done_at, job.last_error = now, "superseded by a newer version of the listing"
        return job
    try:
        async with session.begin_nested():
            await _alert(session, job, search=search, settings=settings, now=now)
    except Exception as exc:  # search unavailable, or anything else: nothing half-written, retried later
        delay = min(MAX_BACKOFF, dt.timedelta(seconds=settings.match_alert_retry_seconds * 2 ** (job.attempts - 1)))
        job.next_attempt_at = now + delay
        job.last_error = f"{type(exc).__name__}: {exc}"[:500]
        logger.warning("match alert job %s failed (attempt %s), retried in %s", job.id, job.attempts, delay)
        return job
    job.done_at, job.last_error = now, None
    return job


async def _alert(
    session: AsyncSession, job: MatchAlertJob, *, search: SearchClient, settings: MarketSettings, now: dt.datetime
) -> None:
    repository = SavedSearchRepository(session)
    after: uuid.UUID | None = None
    while True:
        page = await repository.active_page(
            kind=job.listing_kind, not_org_id=job.owner_org_id, after=after, limit=settings.match_alert_page
        )
        if not page:
            break
        plural: Literal["achievements", "demands"] = "achievements" if job.listing_kind == "achievement" else "demands"
        matches = await search.percolate(plural, job.document, [percolate_query(row) for row in page])
        await _record_hits(session, job, {str(row.id): row for row in page}, matches, now)
        after = page[-1].id
        if len(page) < settings.match_alert_page:
            break
    if job.listing_kind == "achievement":
        await _demand_alerts(session, job, search=search, settings=settings, now=now)


def percolate_query(row: SavedSearch) -> dict[str, Any]:
    """A saved search as one query of the percolation contract (key = the saved search id)."""
    query: dict[str, Any] = {
        "key": str(row.id),
        "q": row.q,
        "technical_field": row.technical_field,
        "region": row.region,
        "trl_min": row.trl_min,
        "trl_max": row.trl_max,
        "amount_min": row.amount_min_fen,
        "amount_max": row.amount_max_fen,
        "matching": row.matching,
    }
    if row.kind == "achievement":
        query |= {"ip_type": row.ip_type, "transfer_mode": row.mode}
    else:
        query["cooperation_mode"] = row.mode
    return query


async def _record_hits(
    session: AsyncSession,
    job: MatchAlertJob,
    searches: dict[str, SavedSearch],
    matches: Sequence[Any],
    now: dt.datetime,
) -> None:
    fields: dict[str, Any] = job.document.get("fields") or {}
    title = str(fields.get("title") or "")
    rows: list[dict[str, Any]] = []
    hits: dict[uuid.UUID, dict[str, Any]] = {}
    for match in matches:
        found = searches.get(match.key)
        if found is None:
            continue
        hit = {
            "id": new_id(),
            "saved_search_id": found.id,
            "listing_kind": job.listing_kind,
            "listing_id": job.listing_id,
            "title": title[:300],
            "snippet": (match.snippet or "")[:2000],
            "matched_terms": list(match.matched_terms),
            "reasons": reasons_for(found, fields, match.matched_terms),
            "created_at": now,
            "notified_at": None,
        }
        rows.append(hit)
        hits[found.id] = hit
    repository = SavedSearchRepository(session)
    new = await repository.insert_hits(rows)
    instant = [searches[str(search_id)] for search_id in sorted(new) if searches[str(search_id)].frequency == "instant"]
    for found in instant:
        hit = hits[found.id]
        await _notify(
            session,
            found,
            type="saved_search.match",
            title=f"保存的搜索「{found.name}」有新匹配：{title}",
            subject_type=job.listing_kind,
            subject_id=job.listing_id,
            data={
                "saved_search_id": str(found.id),
                "saved_search_name": found.name,
                **_item(hit),
            },
        )
    await repository.mark_hits_notified(listing_id=job.listing_id, search_ids=[s.id for s in instant], now=now)
    await repository.count_alerts({s.id: 1 for s in instant}, now)


def _item(hit: dict[str, Any] | SavedSearchHit) -> dict[str, Any]:
    """A hit as the notification data shows it (public fields only)."""
    values: dict[str, Any] = hit if isinstance(hit, dict) else hit.model_dump()
    return {
        "listing_kind": values["listing_kind"],
        "listing_id": str(values["listing_id"]),
        "title": values["title"],
        "snippet": values["snippet"],
        "matched_terms": list(values["matched_terms"]),
        "reasons": list(values["reasons"]),
    }


async def _notify(
    session: AsyncSession,
    search: SavedSearch,
    *,
    type: str,
    title: str,
    subject_type: str,
    subject_id: uuid.UUID,
    data: dict[str, Any],
) -> None:
    """To the owner's inbox, or (channel webhook) to the owner organization's webhooks only."""
    webhook = search.channel == "webhook"
    await notifications_service.notify(
        session=session,
        type=type,
        title=title[:300],
        subject_type=subject_type,
        subject_id=subject_id,
        data=data,
        users=[search.owner_user_id],
        inbox=not webhook,
        webhook_orgs=[search.owner_org_id] if webhook and search.owner_org_id is not None else (),
    )


# -- reasons ---------------------------------------------------------------------------------------------------------


@cache
def _field_label(code: str) -> str:
    return next((f.label_zh for f in technical_fields() if f.code == code), code)


def _money_label(money: Any) -> str | None:
    if not isinstance(money, dict) or money.get("kind") == "negotiable":
        return None
    low, high = money.get("min_fen"), money.get("max_fen")
    if not isinstance(low, int):
        return None
    if isinstance(high, int) and high != low:
        return f"{fen_to_wan_yuan(low)}–{fen_to_wan_yuan(high)}万元"
    return f"{fen_to_wan_yuan(low)}万元"


def reasons_for(search: SavedSearch, fields: dict[str, Any], matched_terms: Iterable[str]) -> list[str]:
    """Why a listing matched a saved search, in words: where each matched word is, then each filter it satisfies."""
    title = str(fields.get("title") or "")
    keywords = [str(k) for k in fields.get("keywords") or []]
    reasons: list[str] = []
    for term in matched_terms:
        if term in title:
            reasons.append(f"标题含「{term}」")
        elif any(term in keyword for keyword in keywords):
            reasons.append(f"关键词含「{term}」")
        else:
            reasons.append(f"正文含「{term}」")
    if search.technical_field is not None:
        reasons.append(f"技术领域：{_field_label(search.technical_field)}")
    if search.region is not None:
        code = str(fields.get("region_code") or search.region)
        found = region_of(code)
        reasons.append(f"地区：{found.name if found is not None else code}")
    if search.trl_min is not None or search.trl_max is not None:
        trl = fields.get("trl" if search.kind == "achievement" else "desired_trl")
        reasons.append(f"技术就绪水平：{trl} 级")
    if search.amount_min_fen is not None or search.amount_max_fen is not None:
        money = fields.get("price" if search.kind == "achievement" else "budget")
        label = _money_label(money)
        if label is not None:
            reasons.append(f"{'报价' if search.kind == 'achievement' else '预算'}：{label}")
    if search.ip_type is not None:
        reasons.append(f"知识产权类型：{labels_zh([search.ip_type], IpType)}")
    if search.mode is not None:
        table = TransferMode if search.kind == "achievement" else CooperationMode
        reasons.append(
            f"{'转化方式' if search.kind == 'achievement' else '合作方式'}：{labels_zh([search.mode], table)}"
        )
    return reasons


# -- the standing search of open demands -----------------------------------------------------------------------------


async def _demand_alerts(
    session: AsyncSession, job: MatchAlertJob, *, search: SearchClient, settings: MarketSettings, now: dt.datetime
) -> None:
    """Tell the owners of open demands an achievement matches (score ≥ ``demand_match_min_score``), once each."""
    achievement = await MatchingRepository(session, Achievement).get(job.listing_id)
    if achievement is None:
        return
    result = await search.similar(
        plural="demands",
        body={
            "text": query_text(achievement),
            "limit": MAX_DEPTH,
            "offset": 0,
            "exclude_owner_org": str(job.owner_org_id),
            "exclude_ids": [str(job.listing_id)],
        },
    )
    if not result.hits:
        return
    candidates = await MatchingRepository(session, Demand).suggestible(
        [hit.id for hit in result.hits],
        columns=COLUMNS["demand"],
        summary_chars=SUMMARY_CHARS,
        status=SUGGESTIBLE_STATUS,
        expiry_field="deadline",
        today=today_in_china(),
        not_owner_org_id=job.owner_org_id,
        not_id=job.listing_id,
    )
    repository = DemandAlertRepository(session)
    alerting = await repository.demands_alerting([row.id for row in candidates])
    rows = {row.id: row for row in candidates if row.id in alerting}
    offer = side_of("achievement", achievement)
    chosen: dict[uuid.UUID, tuple[Any, Any, Any]] = {}
    for hit in result.hits:
        demand = rows.pop(hit.id, None)
        if demand is None:
            continue
        assessed = assess(offer=offer, want=side_of("demand", demand), hit=hit)
        if assessed.score >= settings.demand_match_min_score:
            chosen[demand.id] = (demand, hit, assessed)
    new = await repository.insert_demand_alerts(
        [
            {"demand_id": demand_id, "achievement_id": achievement.id, "score": assessed.score, "created_at": now}
            for demand_id, (_d, _h, assessed) in chosen.items()
        ]
    )
    for demand_id in sorted(new):
        demand, hit, assessed = chosen[demand_id]
        await notifications_service.notify(
            session=session,
            type="demand.match",
            title=f"新成果匹配您的需求「{demand.title}」：{achievement.title}"[:300],
            subject_type="achievement",
            subject_id=achievement.id,
            data={
                "demand_id": str(demand.id),
                "demand_title": demand.title,
                "listing_kind": "achievement",
                "listing_id": str(achievement.id),
                "title": achievement.title,
                "snippet": hit.snippet,
                "matched_terms": list(hit.matched_terms),
                "score": assessed.score,
                "reasons": [reason.label for reason in assessed.reasons()],
            },
            orgs=[(demand.owner_org_id, None)],
        )


# -- the daily digest ------------------------------------------------------------------------------------------------


def digest_cutoff(now: dt.datetime) -> dt.datetime:
    """The latest 09:00 Asia/Shanghai at or before ``now`` (UTC): a digest covers the hits recorded before it."""
    local = now.astimezone(CHINA_TZ)
    cutoff = local.replace(hour=DIGEST_HOUR, minute=0, second=0, microsecond=0)
    if local < cutoff:
        cutoff -= dt.timedelta(days=1)
    return cutoff.astimezone(dt.UTC)


async def send_digests(*, session: AsyncSession, now: dt.datetime) -> int:
    """One ``saved_search.digest`` per active daily search with unsent hits recorded before the latest 09:00
    Asia/Shanghai (count + up to DIGEST_ITEMS items), then those hits are sent. Run at any time, any number of
    times: each hit goes out once, in the first digest after it was recorded. Returns how many digests."""
    cutoff = digest_cutoff(now)
    repository = SavedSearchRepository(session)
    sent = 0
    while True:
        searches = await repository.searches_with_unsent_hits(before=cutoff, limit=DIGEST_BATCH)
        for found in searches:
            await _digest(session, found, cutoff=cutoff, now=now)
        sent += len(searches)
        if len(searches) < DIGEST_BATCH:
            return sent


async def _digest(session: AsyncSession, found: SavedSearch, *, cutoff: dt.datetime, now: dt.datetime) -> None:
    repository = SavedSearchRepository(session)
    hits = await repository.unsent_hits(found.id, before=cutoff)
    if hits:
        await _notify(
            session,
            found,
            type="saved_search.digest",
            title=f"保存的搜索「{found.name}」有 {len(hits)} 条新匹配",
            subject_type="saved_search",
            subject_id=found.id,
            data={
                "saved_search_id": str(found.id),
                "saved_search_name": found.name,
                "count": len(hits),
                "items": [_item(hit) for hit in hits[:DIGEST_ITEMS]],
            },
        )
        await repository.mark_hits_sent([hit.id for hit in hits], now)
        await repository.count_alerts({found.id: len(hits)}, now)
