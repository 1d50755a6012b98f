"""FastAPI dependencies of the search service: the engine and the segmenter opened by the lifespan."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.search.engines.base import SearchEngine
from services.search.segment import Segmenter

__all__ = ["EngineDep", "SegmenterDep"]


def _engine(request: Request) -> SearchEngine:
    engine: SearchEngine = request.app.state.search_engine
    return engine


def _segmenter(request: Request) -> Segmenter:
    segmenter: Segmenter = request.app.state.segmenter
    return segmenter


EngineDep = Annotated[SearchEngine, Depends(_engine)]
SegmenterDep = Annotated[Segmenter, Depends(_segmenter)]
