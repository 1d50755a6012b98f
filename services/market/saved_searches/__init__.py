"""Saved searches and match alerts: a user's q + search filters that alert on new matching listings, and the
standing search of every open published demand.

Interface::

    POST/GET /market/saved-searches, GET/PATCH/DELETE /market/saved-searches/{id}     the caller's own searches

    service.listing_changed(session, kind=…, listing_id=…, version=…, owner_org_id=…, action=…,
                            changed_fields=…, searchable=…, document=…)   called by listings next to their outbox
                                                                           event: enqueues an alert job (flush only)
    alerts.run_pending(sessionmaker, search=SearchClient, settings=…)      the worker's alert loop (worker.py)
    alerts.send_digests(session, now=…)                                    the 09:00 Asia/Shanghai daily digests

Dependencies run one way: listings → saved_searches.service (which imports nothing of listings but the demand
table it reads); saved_searches.alerts → matching (similarity, scoring) → listings, notifications — alerts is
imported only by the worker, so no module imports back into a listing write. See docs/notifications.md.
"""
