"""Transactional outbox of the market service, delivered to the search service by the shared relay.

Interface::

    from services.market.outbox import service as outbox_service
    await outbox_service.enqueue(session=session, entity_kind="achievement", entity_id=..., version=3,
                                 event_type="achievement.published", op="upsert", fields={...public fields...})
        one row in the caller's transaction (flush only): the event exists iff the change committed.

The table is ``market_outbox`` (models.OutboxEvent); the relay is shared.outbox.relay.Relay, built in
services.market.worker. Delivery: POST {MARKET_SEARCH_URL}/documents with
``{"documents": [{"op": "upsert"|"delete", "kind", "id", "version", "fields"}]}`` (shared.outbox.relay.
ingestion_document: exactly these keys, search refuses others) and a bearer token (client ``market-relay``, scope
``search:ingest``). At least once, in version order per entity, with lease and backoff: see shared.outbox.
"""
