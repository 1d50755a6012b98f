"""Public search: GET /achievements and GET /demands with filters, facets, sort and highlighted snippets."""
