"""The transactional outbox and its relay, shared by every service that publishes changes to another.

A service declares its own outbox table from :class:`shared.outbox.models.OutboxEventFields` (market:
``market_outbox``, delivered to search; auth: ``auth_outbox``, delivered to market) and hands that model class
and a ``document_of(event)`` callable to the one relay implementation here.

Interface::

    from shared.outbox import service as outbox
    await outbox.enqueue(session=session, model=Model, entity_kind=..., entity_id=..., version=3, event_type="x.updated",
                         op="upsert", fields={...public fields...})
        one row in the caller's transaction (flush only): the event exists iff the change committed.

    Relay(model=Model, document_of=..., sessionmaker=..., client=httpx.AsyncClient, target_url=..., tokens=...)
        .run_once() -> RelayRound          claim a batch, POST it, mark delivered (or schedule a retry)
        .drain(max_rounds) -> int          run rounds until nothing is due; returns events delivered
        .run_forever(interval, stop)       the loop of the background task / the relay process
    build_relay(settings, ...), build_token_provider(settings, transport)
                                           the same from a service's RelaySettings
    ingestion_document(event)              ``{op, kind, id, version, fields}``: the base document shape
    TokenSource                            protocol: ``async headers() -> dict``, ``invalidate()``;
                                           shared.service_token.ServiceTokenProvider is the real one

Delivery: POST {target_url} with ``{"documents": [document_of(event), ...]}`` and a bearer token. At least once:
a batch is marked delivered only after a 2xx; a failure retries with exponential backoff (base · 2^(attempts-1),
capped). Version order per entity: a relay only sends an entity's events that have no earlier undelivered event
outside its own batch, so replicas never overtake each other. Claims use ``FOR UPDATE SKIP LOCKED`` on PostgreSQL
plus a lease (``next_attempt_at``) so the HTTP call runs outside any transaction; SQLite serializes writers by
itself.
"""
