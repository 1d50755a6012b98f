"""Transactional outbox of the market service and its relay to the search service.

Interface::

    from services.market.outbox import service as outbox_service
    await outbox_service.enqueue(session, entity_kind="achievement", entity_id=..., version=3,
                                 event_type="achievement.published", op="upsert", fields={...public fields...})
        one row in the caller's transaction (flush only): the event exists iff the change committed.

    Relay(sessionmaker=..., client=httpx.AsyncClient, target_url=".../search/documents", tokens=TokenSource, ...)
        .run_once() -> RelayRound          claim a batch, POST it, mark delivered (or schedule a retry)
        .drain(max_rounds) -> int          run rounds until nothing is due; returns events delivered
        .run_forever(interval, stop)       the loop of the background task / the relay process
    TokenSource                            protocol: ``async headers() -> dict``, ``invalidate()``;
                                           shared.service_token.ServiceTokenProvider is the real one

Delivery: POST {target_url} with ``{"documents": [{"op": "upsert"|"delete", "kind", "id", "version", "fields"}]}``
and a bearer token (client ``market-relay``, scope ``search:ingest``). At least once: a batch is marked delivered
only after a 2xx; a failure retries with exponential backoff (base · 2^(attempts-1), capped). Version order per
entity: a relay only sends an entity's events that have no earlier undelivered event outside its own batch, so
replicas never overtake each other. Claims use ``FOR UPDATE SKIP LOCKED`` on PostgreSQL plus a lease
(``next_attempt_at``) so the HTTP call runs outside any transaction; SQLite serializes writers by itself.
"""
