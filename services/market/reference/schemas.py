"""Response schemas of the reference endpoints."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

__all__ = ["ReferenceTablePublic", "ReferenceTableSummary", "ReferenceTables"]


class ReferenceTableSummary(BaseModel):
    """A table's name and what it holds."""

    name: str = Field(description="Use it in GET /market/reference/{name}.")
    description: str
    version: str | None = Field(description="Edition of the table, when the source is versioned.")
    count: int = Field(description="Number of rows.")


class ReferenceTables(BaseModel):
    """Every reference table."""

    items: list[ReferenceTableSummary]


class ReferenceTablePublic(BaseModel):
    """One reference table: rows with at least `code` and `label_zh`."""

    name: str
    description: str
    version: str | None
    rows: list[dict[str, Any]] = Field(description="Each row: code, label_zh, and table-specific columns.")
