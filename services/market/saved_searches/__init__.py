"""Saved searches: a user's q + search filters that alert on new matching listings, and the
standing search of every open published demand.

Interface::

    POST/GET /market/saved-searches, GET/PATCH/DELETE /market/saved-searches/{id}     the caller's own searches

    service.listing_changed(session=session, kind=…, listing_id=…, version=…, owner_org_id=…, action=…,
                            changed_fields=…, searchable=…, document=…)   called by listings next to their outbox
                                                                           event: enqueues an alert job (flush only)

The alert jobs are run by :mod:`services.market.match_alerts` (worker only), which also holds the demands'
standing alerts. Dependencies run one way: listings → saved_searches (imports nothing of listings);
match_alerts → saved_searches, matching (similarity, scoring) → listings, notifications.
"""
