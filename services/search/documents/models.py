"""The per-document version table: the last version seen of every document, tombstones included."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, String
from sqlmodel import Field

from services.search.base import SearchTable
from shared.db import UTCDateTime

__all__ = ["IndexedDocument"]


class IndexedDocument(SearchTable, table=True):
    """The newest version seen of one document; ``fields`` holds its whitelisted (public) fields only."""

    __tablename__ = "search_documents"

    kind: str = Field(sa_column=Column(String(16), primary_key=True))
    id: uuid.UUID = Field(primary_key=True)
    version: int = Field(sa_column=Column(BigInteger, nullable=False))
    deleted: bool = Field(default=False, nullable=False)
    searchable: bool = Field(default=False, nullable=False)
    fields: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    # sha256 of this version's embedding text (services.search.embeddings.service.embedding_text): the embedding
    # job compares it with the stored vectors' to find what to (re-)embed. NULL on tombstones.
    text_hash: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    updated_at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False, index=True))
