"""The planner's plan of a SQLAlchemy statement, on SQLite (EXPLAIN QUERY PLAN) or PostgreSQL (EXPLAIN).

The statement is compiled by the dialect with its own bind parameters (no literal rendering), so the plan is the
one the application's query gets.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import ClauseElement, Executable
from sqlalchemy.sql.compiler import SQLCompiler

__all__ = ["Explain", "plan_of"]


class Explain(Executable, ClauseElement):
    """``EXPLAIN [QUERY PLAN] <statement>``."""

    inherit_cache = False

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement


@compiles(Explain)
def _compile_explain(element: Explain, compiler: SQLCompiler, **kw: Any) -> str:
    prefix = "EXPLAIN QUERY PLAN " if compiler.dialect.name == "sqlite" else "EXPLAIN "
    return prefix + compiler.process(element.statement, **kw)


async def plan_of(connection: AsyncConnection, statement: ClauseElement) -> list[str]:
    """The plan's lines: SQLite's ``detail`` column, or PostgreSQL's text plan lines."""
    rows = (await connection.execute(Explain(statement))).all()
    if connection.dialect.name == "sqlite":
        return [str(row[3]) for row in rows]
    return [str(row[0]) for row in rows]
