"""Brokerage: a broker's proposal (撮合) or an enterprise's direct interest, two-sided consent, contact reveal, and
the contract draft of an agreed deal.

Interface (for other market domains)::

    from services.market.proposals import service as proposals_service
    await proposals_service.deal_for_contract(session=session, principal=..., proposal_id=..., submitted_as="seller")
        -> Deal     the agreed deal a contract submission names (422 naming proposal_id if the submitter is not its
                    seller side or broker, 409 unless agreed): parties' org ids and directory cards, listing ids,
                    the broker organization and its 1+4+N path (the directory's)
    await proposals_service.deal_of(session=session, proposal_id=...) -> Deal | None the same without authorization

Maintenance jobs (services.market.worker): ``expire_due(session=…)`` and ``notify_expiring(session=…, now=None)`` (the
``proposal.expiring`` notices, 3 days before expires_at, once per proposal and expiry instant).

Endpoints: /market/proposals…, POST /market/achievements/{id}/interest (see router.py and docs/brokerage.md).
"""
