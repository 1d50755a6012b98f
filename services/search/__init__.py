"""The search service.

Chinese full-text search over published achievements and demands, with filters, facets and highlights.
"""
