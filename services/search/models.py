"""Imports every table module of the search service so that its metadata is complete (for Alembic)."""

from services.search.documents.models import IndexedDocument
from services.search.embeddings.models import DocumentEmbedding, EmbeddingClaim

__all__ = ["DocumentEmbedding", "EmbeddingClaim", "IndexedDocument"]
