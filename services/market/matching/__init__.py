"""Matching (撮合): suggested counterparts of a listing, ranked, each with the reasons behind it.

Interface::

    GET /market/demands/{id}/suggestions?limit=&cursor=       published achievements for a demand
    GET /market/achievements/{id}/suggestions?limit=&cursor=  published demands for an achievement

    service.suggestions(session=…, search=SearchClient, kind=…, principal=…, listing_id=…, limit=…, cursor=…)
    scoring.assess(offer=Side, want=Side, hit=SimilarHit) -> Assessment     reasons and score, no I/O
    client.open_search_client(settings, transport=…, tokens=…)                entered by the market lifespan
    SearchClient.percolate(kind, document, queries) -> list[PercolateMatch]    which saved searches a listing
        matches (POST {search_url}/{kind}/percolate with the relay's service token, chunks of 1000; any failure
        is SearchUnavailable)

Candidates come from the search service (POST {search_url}/{kind}/similar); the structured fields and the
published / not expired / other organization checks come from market's own tables. Formula and weights:
docs/market.md, section Suggestions.
"""
