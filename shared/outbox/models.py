"""The columns every outbox table has. Each service declares its own table from them: a class inheriting
``OutboxEventFields`` and the service's table base, with ``table=True``, its ``__tablename__`` and
``__table_args__ = outbox_indexes(<table name>)`` (see services/market/outbox/models.py).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Text, Uuid, text
from sqlmodel import Field, SQLModel

from shared.db import UTCDateTime
from shared.ids import new_id

__all__ = ["OutboxEventFields", "outbox_indexes"]

# SQLite only autoincrements an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
_SEQ_TYPE = BigInteger().with_variant(Integer(), "sqlite")


class OutboxEventFields(SQLModel):
    """One change to deliver: what changed (kind, id, version), how (event type, op) and its public fields.

    Columns are declared by type (not as shared ``Column`` objects), so every table built from this gets its own.
    """

    seq: int | None = Field(default=None, primary_key=True, sa_type=_SEQ_TYPE, sa_column_kwargs={"autoincrement": True})
    event_id: uuid.UUID = Field(default_factory=new_id, sa_type=Uuid, nullable=False, unique=True)
    event_type: str = Field(sa_type=String(64), nullable=False)
    entity_kind: str = Field(sa_type=String(32), nullable=False)
    entity_id: uuid.UUID = Field(sa_type=Uuid, nullable=False)
    version: int = Field(sa_type=Integer, nullable=False)
    op: str = Field(sa_type=String(16), nullable=False)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSON, nullable=False)
    created_at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)
    next_attempt_at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)
    attempts: int = Field(default=0, sa_type=Integer, nullable=False, sa_column_kwargs={"default": 0})
    delivered_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    last_error: str | None = Field(default=None, sa_type=Text, nullable=True)


def outbox_indexes(table: str) -> tuple[Index, Index]:
    """The two indexes the relay's queries need: undelivered events in seq order, and an entity's events in seq order.

    ``ix_<table>_pending`` is partial (``WHERE delivered_at IS NULL``, on SQLite and PostgreSQL alike): it holds only
    the backlog, in ``seq`` order, so the claim reads its first due rows without sorting, and delivered rows (the
    bulk of the table) cost it nothing. It replaced ``ix_<table>_due (delivered_at, next_attempt_at, seq)``, whose
    order forced a sort of every due row per claim (docs/benchmarks.md "Outbox relay").
    """
    pending = text("delivered_at IS NULL")
    return (
        Index(f"ix_{table}_pending", "seq", sqlite_where=pending, postgresql_where=pending),
        Index(f"ix_{table}_entity", "entity_kind", "entity_id", "seq"),
    )
