"""The inbox: notifications recorded by the domains in the transaction of the event that causes them.

Interface (one way: notifications imports nothing of proposals or contracts; they call it)::

    from services.market.notifications import service as notifications_service

    await notifications_service.notify(
        session=session, type="proposal.received", title="...", subject_type="proposal", subject_id=row.id,
        data={...},                                   # public fields only, never contacts
        users=[subject, ...],                         # user-addressed (token `sub`)
        orgs=[(org_id, None), (office_id, "registrar")],  # org-addressed: None = every member, else that role
        inbox=True,                                   # False: webhooks only, no inbox rows
        webhook_orgs=[org_id, ...],                   # more organizations whose webhooks get the event
    ) -> list[Notification]                           # flush only; the request commits it with the event

    # A notice due once per occasion (e.g. "expiring in 3 days", once per subject and expiry value): each Notice
    # carries notify's arguments and an occasion; a (type, subject, occasion) marker is inserted if absent in the
    # caller's transaction, and only the notices whose marker was new are recorded.
    await notifications_service.notify_once(
        session=session, type="proposal.expiring", notices=[Notice(occasion=..., title=..., subject_type=..., ...)], now=...
    ) -> int                                          # how many were recorded now
    await notifications_service.purge_markers(session=session, now=...) -> int  # markers older than 30 days

Recording also wakes the recipients' live streams (GET /market/notifications/stream, notifications.stream) once the
transaction commits, through the ``shared.broadcast.Broadcaster`` the market lifespan attaches to the app's sessions
(``broadcaster=`` overrides it).

The event also goes, in the same transaction, to the webhooks of the organizations in ``orgs`` and
``webhook_orgs`` (services.market.webhooks.service.enqueue; dependency one way: notifications → webhooks).

See docs/notifications.md.
"""
