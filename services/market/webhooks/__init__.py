"""Webhooks: an organization's endpoints receive its events as signed HTTP POSTs (Standard Webhooks).

Interface (one way: webhooks imports nothing of notifications or the other domains; they call it)::

    from services.market.webhooks import service as webhooks_service

    await webhooks_service.enqueue(
        session=session, org_ids=[org_id, ...], event_type="proposal.received", data={...},  # public data only
    ) -> int        # deliveries written (one per enabled endpoint of those orgs subscribed to the type);
                    # flush only: they commit with the caller's event (outbox, at least once)

    from services.market.webhooks import delivery
    report = await delivery.run_round(sessionmaker, client=client, config=config, now=None, resolver=None)
    report.disabled  # endpoints disabled this round after 24 h of failures: the worker tells their org admins

Event types: schemas.EVENT_TYPES. Signatures: signing.py. URL rules (SSRF): ssrf.py. See docs/webhooks.md.
"""
