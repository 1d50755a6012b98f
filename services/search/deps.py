"""FastAPI dependencies of the search service: the engine, the segmenter and the embedder opened by the lifespan."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.search.embeddings.embedders import Embedder
from services.search.engines.base import SearchEngine
from services.search.segment import Segmenter

__all__ = ["EmbedderDep", "EngineDep", "SegmenterDep"]


def _engine(request: Request) -> SearchEngine:
    engine: SearchEngine = request.app.state.search_engine
    return engine


def _segmenter(request: Request) -> Segmenter:
    segmenter: Segmenter = request.app.state.segmenter
    return segmenter


def _embedder(request: Request) -> Embedder | None:
    embedder: Embedder | None = getattr(request.app.state, "embedder", None)
    return embedder


EngineDep = Annotated[SearchEngine, Depends(_engine)]
SegmenterDep = Annotated[Segmenter, Depends(_segmenter)]
# The embedder of semantic search, or None when search is lexical only.
EmbedderDep = Annotated[Embedder | None, Depends(_embedder)]
