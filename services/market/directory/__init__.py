"""The organization directory: market's read model of auth's organizations (名录), fed by auth's outbox relay.

Auth owns organizations; market keeps the public facts it needs — name, kind, credit code, region, place in the
1+4+N tree, status — to name listing owners, route contracts to offices and prefill contract drafts. Changes
arrive as versioned documents (POST /market/directory/organizations, at least once, in order per organization);
an older version never overwrites a newer one, so replays and reordering change nothing.

Interface::

    from services.market.directory import service as directory
    await directory.get(session=session, org_id=org_id) -> OrganizationCard | None
    await directory.get_many(session=session, ids=ids) -> dict[UUID, OrganizationCard]
    await directory.apply(session=session, cards=cards) -> list[Applied]
        upsert-if-newer; only the changes that took effect
"""
