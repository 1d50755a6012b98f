"""Audit trail of every state change of a market entity, written in the request's transaction.

One table, ``market_audit_events``, for the whole market service: listings (achievement, demand), proposals,
contracts (entity kind ``contract``; its registration on PostgreSQL writes the row inside its one statement, see
contracts.repository), registration offices, statistics targets and saved searches.

Interface (domain-neutral)::

    from services.market.audit import service as audit_service

    await audit_service.record(session=session, entity_kind="achievement", entity_id=..., action="published",
        from_status="draft", to_status="published", actor=principal,      # or actor=None for the system
        details={"fields": [...]},                                         # optional, JSON-able
        flush=True,                                                        # False: batch writers flush later
    ) -> AuditEvent
        appends one row (flush only; the request commits it together with the change itself). The request id
        comes from shared.requestid; the time from shared.clock.utcnow().
    await audit_service.history(session=session, entity_kind=..., entity_id=..., limit=50, cursor=None)
        -> Page[AuditEventPublic]    oldest first, keyset-paginated; authorization is the caller domain's job
    await audit_service.history_as(session=session, entity_kind=..., entity_id=..., limit=..., after=..., view=...)
        -> Page[T]    the same page, each row shown by ``view`` (contracts keep their own event schema)
    AuditEventPublic                 the response schema of GET /market/{kind}/{id}/history

Rows are never updated or deleted. Actor ``system`` (no org) marks changes made by the platform itself, such as
expiry.
"""
