"""Percolation: which of a batch of stored queries (market's saved searches) one listing matches.

Interface::

    POST /{kind}/percolate                         router.percolate (service token with scope search:ingest)
    service.percolate(segmenter=…, kind=…, document=…, queries=…) -> list[PercolateMatch]

A query matches iff GET /{kind} with the same q, filters and matching strategy would return the listing
(engines.embedded.DocumentMatcher applies the engine's own code to the listing alone).
"""
