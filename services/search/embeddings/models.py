"""The stored document vectors, and the short leases that keep two embedding jobs off the same documents."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Column, Integer, LargeBinary, String
from sqlmodel import Field

from services.search.base import SearchTable
from shared.db import UTCDateTime

__all__ = ["DocumentEmbedding", "EmbeddingClaim"]


class DocumentEmbedding(SearchTable, table=True):
    """The vector of one document's embedding text, made by ``model``; ``text_hash`` says which text it was.

    ``vector`` holds ``dimensions`` float32 numbers, little-endian (4 bytes each), of unit length.
    """

    __tablename__ = "search_embeddings"

    kind: str = Field(sa_column=Column(String(16), primary_key=True))
    id: uuid.UUID = Field(primary_key=True)
    model: str = Field(sa_column=Column(String(200), nullable=False))
    text_hash: str = Field(sa_column=Column(String(64), nullable=False))
    vector: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    dimensions: int = Field(sa_column=Column(Integer, nullable=False))
    updated_at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class EmbeddingClaim(SearchTable, table=True):
    """A document an embedding job is working on until ``claimed_until`` (then another job may take it)."""

    __tablename__ = "search_embedding_claims"

    kind: str = Field(sa_column=Column(String(16), primary_key=True))
    id: uuid.UUID = Field(primary_key=True)
    claimed_until: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
