"""Auth's organization feed into market: the documents auth's relay posts, the rebuild from auth's API, and what
each applied change does to the domains that follow organizations.

Interface::

    POST /market/directory/organizations                     auth's outbox relay (scope market:directory)
    service.apply_cards(session=…, cards=…) -> FeedReport the directory's upsert-if-newer and its consequences
    rebuild.run_directory_rebuild(settings)                   ``techmarket market directory-rebuild``

It sits above the directory's read model and the domains it drives (directory.service.apply, offices.service
.follow_directory, listings.service.follow_owner_changes); only its router and the rebuild import its service, and
nothing below imports it — so nothing the feed calls can call back into it.
"""
