"""Tables of technology contracts: the contract, its signed statistical deltas, numbering counters, imports.

A contract's history is not a table of its own: it is the market audit trail (``market_audit_events``, entity kind
``AUDIT_ENTITY_KIND``), shared with listings, proposals and offices.

A registered contract is never edited in place: registration, amendments (补充协议) and revocation each append a
row to ``contract_deltas`` (count, contract amount, technology amount; signed; dated by the day it takes effect),
and the statistics are exactly the sum of those rows. The parties are stored as submitted.

The delta log is the statistics' input: services.market.stats reads it (with the contract's dimensions) and folds
it into its rollup; contracts know nothing of the statistics. ``delta_row`` and ``effective_period`` are the one
definition of a delta's shape every writer uses (a request, the PostgreSQL registration statement, the import).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlmodel import JSON, Column, Field

from services.market.base import MarketTable
from shared.db import UTCDateTime

# The entity kind of a contract's rows in the market audit trail.
AUDIT_ENTITY_KIND = "contract"

__all__ = [
    "AUDIT_ENTITY_KIND",
    "Contract",
    "ContractDelta",
    "ContractImport",
    "RegistrationCounter",
    "contracts_table",
    "counters_table",
    "delta_row",
    "deltas_table",
    "effective_period",
    "imports_table",
]


def _money(description: str) -> Any:
    return Field(sa_column=Column(sa.BigInteger, nullable=False), description=description)


class Contract(MarketTable, table=True):
    """A technology contract as submitted, and its registration."""

    __tablename__ = "contracts"
    __table_args__ = (
        sa.Index("ix_contracts_office_status", "office_id", "status", "id"),
        sa.Index("ix_contracts_seller_org", "seller_org_id"),
        sa.Index("ix_contracts_buyer_org", "buyer_org_id"),
        sa.Index("ix_contracts_broker_org", "broker_org_id"),
        sa.Index("ix_contracts_submitter_org", "submitter_org_id"),
        sa.Index("ix_contracts_proposal", "proposal_id"),
    )

    id: uuid.UUID = Field(primary_key=True)
    status: str = Field(max_length=20, index=True)
    rules_version: str = Field(max_length=10)
    kind: str = Field(max_length=60)
    subkind: str = Field(max_length=60)
    technical_field: str = Field(max_length=60)
    title: str = Field(max_length=300)
    contract_no: str = Field(max_length=100)
    signed_on: dt.date
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None
    contract_amount_fen: int = _money("合同成交额 as submitted (or as imported).")
    claimed_technology_amount_fen: int = _money("技术交易额 claimed by the submitter.")
    technology_amount_fen: int | None = Field(
        default=None,
        sa_column=Column(sa.BigInteger, nullable=True),
        description="技术交易额 confirmed at registration.",
    )

    seller_name: str = Field(max_length=200)
    seller_credit_code: str | None = Field(default=None, max_length=18)
    seller_region_code: str = Field(max_length=6)
    seller_entity_type: str = Field(max_length=40)
    seller_ownership: str | None = Field(default=None, max_length=40)
    seller_org_id: uuid.UUID | None = None
    seller_verification: str = Field(
        default="unverified",
        max_length=12,
        sa_column_kwargs={"server_default": "unverified"},
        description="How the seller was verified: self, directory, unverified or registrar (see docs/contracts.md).",
    )
    buyer_name: str = Field(max_length=200)
    buyer_credit_code: str | None = Field(default=None, max_length=18)
    buyer_region_code: str = Field(max_length=6)
    buyer_entity_type: str = Field(max_length=40)
    buyer_ownership: str | None = Field(default=None, max_length=40)
    buyer_org_id: uuid.UUID | None = None
    buyer_verification: str = Field(
        default="unverified",
        max_length=12,
        sa_column_kwargs={"server_default": "unverified"},
        description="How the buyer was verified: self, directory, unverified or registrar.",
    )
    flow: str = Field(max_length=20, description="local, to_chongqing, to_sichuan, other_province or abroad.")
    broker_org_id: uuid.UUID | None = None
    broker_org_path: str | None = Field(default=None, max_length=400)
    achievement_id: uuid.UUID | None = None
    demand_id: uuid.UUID | None = None
    proposal_id: uuid.UUID | None = Field(
        default=None, description="The agreed proposal (撮合) the contract concludes."
    )
    attachments: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))

    office_id: uuid.UUID = Field(foreign_key="registration_offices.id")
    submitter_subject: str = Field(max_length=200)
    submitter_org_id: uuid.UUID | None = None
    submitted_at: dt.datetime = Field(sa_type=UTCDateTime, description="Last (re)submission; drives the overdue flag.")
    dedupe_key: str = Field(max_length=500, unique=True)

    registration_no: str | None = Field(default=None, max_length=16, unique=True)
    registered_on: dt.date | None = None
    registered_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    registrar_subject: str | None = Field(default=None, max_length=200)
    rejection_reason: str | None = Field(default=None, max_length=2000)
    import_id: uuid.UUID | None = None

    version: int = Field(default=1, description="Bumped on every change; the ETag.")
    created_at: dt.datetime = Field(sa_type=UTCDateTime)
    updated_at: dt.datetime = Field(sa_type=UTCDateTime)


class ContractDelta(MarketTable, table=True):
    """A signed statistical delta of a contract: registration (+1), amendment (0) or revocation (-1)."""

    __tablename__ = "contract_deltas"
    __table_args__ = (
        sa.Index("ix_contract_deltas_effective", "effective_on"),
        sa.Index("ix_contract_deltas_contract", "contract_id", "id"),
        sa.Index("ix_contract_deltas_import", "import_id"),
        # The deltas still waiting to be folded into the rollup: few at any time, found without a scan. Each
        # predicate is written as SQLAlchemy renders the queries' condition, so the planners match it.
        sa.Index(
            "ix_contract_deltas_unfolded",
            "id",
            postgresql_where=sa.text("NOT folded"),
            sqlite_where=sa.text("folded = 0"),
        ),
    )

    id: uuid.UUID = Field(primary_key=True)
    contract_id: uuid.UUID = Field(foreign_key="contracts.id")
    action: str = Field(max_length=20, description="register, amend, revoke or import.")
    effective_on: dt.date
    effective_period: int = Field(description="yyyymm of effective_on, for grouping identically on every backend.")
    count_delta: int
    contract_amount_delta_fen: int = _money("Signed change of 合同成交额.")
    technology_amount_delta_fen: int = _money("Signed change of 技术交易额.")
    reason: str | None = Field(default=None, max_length=2000)
    actor_subject: str = Field(max_length=200)
    import_id: uuid.UUID | None = None
    created_at: dt.datetime = Field(sa_type=UTCDateTime)
    folded: bool = Field(
        default=True,
        sa_column=Column(sa.Boolean, nullable=False, server_default=sa.true()),
        description="Whether the rollup cells include this delta yet (see services.market.stats).",
    )


class RegistrationCounter(MarketTable, table=True):
    """The last serial given by an office in a year; incremented under a row lock in the registering transaction."""

    __tablename__ = "contract_registration_counters"

    office_id: uuid.UUID = Field(primary_key=True)
    year: int = Field(primary_key=True)
    last_serial: int = Field(default=0)


class ContractImport(MarketTable, table=True):
    """One bulk import of historical registrations."""

    __tablename__ = "contract_imports"

    id: uuid.UUID = Field(primary_key=True)
    actor_subject: str = Field(max_length=200)
    office_id: uuid.UUID | None = None
    media_type: str = Field(max_length=100)
    total_rows: int = 0
    imported: int = 0
    duplicates: int = 0
    failed: int = 0
    created_at: dt.datetime = Field(sa_type=UTCDateTime)


contracts_table: sa.Table = Contract.__table__  # type: ignore[attr-defined]
deltas_table: sa.Table = ContractDelta.__table__  # type: ignore[attr-defined]
counters_table: sa.Table = RegistrationCounter.__table__  # type: ignore[attr-defined]
imports_table: sa.Table = ContractImport.__table__  # type: ignore[attr-defined]


def effective_period(day: dt.date) -> int:
    """yyyymm of a delta's effective day: the month the statistics group it in."""
    return day.year * 100 + day.month


def delta_row(
    *,
    id: uuid.UUID,
    contract_id: uuid.UUID,
    action: str,
    effective_on: dt.date,
    count: int,
    contract_amount_fen: int,
    technology_amount_fen: int,
    reason: str | None,
    actor_subject: str,
    created_at: dt.datetime,
    import_id: uuid.UUID | None = None,
    folded: bool = False,
) -> dict[str, Any]:
    """A ``contract_deltas`` row. A request's delta is unfolded: the statistics count it at once (queries add the
    unfolded tail) and their fold moves it into the rollup later, off the request path."""
    return {
        "id": id,
        "contract_id": contract_id,
        "action": action,
        "effective_on": effective_on,
        "effective_period": effective_period(effective_on),
        "count_delta": count,
        "contract_amount_delta_fen": contract_amount_fen,
        "technology_amount_delta_fen": technology_amount_fen,
        "reason": reason,
        "actor_subject": actor_subject,
        "import_id": import_id,
        "created_at": created_at,
        "folded": folded,
    }
