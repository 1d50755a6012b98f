"""Response models of broker performance."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, Field

__all__ = ["SORT_KEYS", "BrokerCard", "InstitutionRow", "InstitutionTable", "Metrics", "MonthMetrics", "Performance"]


class Metrics(BaseModel):
    """What a broker achieved in a period. Each proposal event counts in the period (and month) it happened."""

    proposals_made: int = Field(description="Broker proposals made (创建).")
    agreed: int = Field(description="Proposals accepted by both sides (双方同意) in the period.")
    declined: int
    withdrawn: int
    expired: int
    median_days_to_agreement: float | None = Field(
        description="Median days from proposal to agreement over the agreements of the period (1 decimal); "
        "null without agreements."
    )
    contracts_submitted: int = Field(description="Contracts first submitted for registration from its deals.")
    registered_count: int = Field(
        description="Net registrations credited to the broker in the statistics (registrations minus revocations)."
    )
    contract_amount_fen: int = Field(
        description="合同成交额 credited, in fen: equal to the statistics' broker_org sum."
    )
    technology_amount_fen: int = Field(description="技术交易额 credited, in fen.")


class MonthMetrics(Metrics):
    """One month of a performance (Beijing calendar)."""

    month: str = Field(description="2026-11")


class BrokerCard(BaseModel):
    """The brokering organization as the directory knows it."""

    id: uuid.UUID
    name: str
    kind: str
    region_code: str | None


class Performance(BaseModel):
    """A broker organization's performance: itself and every organization below it in the 1+4+N tree."""

    organization: BrokerCard
    date_from: dt.date = Field(serialization_alias="from")
    date_to: dt.date = Field(serialization_alias="to")
    totals: Metrics
    monthly: list[MonthMetrics]


class InstitutionRow(BaseModel):
    """One transfer institution below a sub-center or the center, with its totals."""

    organization: BrokerCard
    totals: Metrics


class InstitutionTable(BaseModel):
    """Every transfer institution below a sub-center or the center, sorted."""

    organization: BrokerCard
    date_from: dt.date = Field(serialization_alias="from")
    date_to: dt.date = Field(serialization_alias="to")
    sort: str
    items: list[InstitutionRow]
    next_cursor: str | None = None


# Metrics a table can be sorted by (prefix "-" for descending).
SORT_KEYS = tuple(name for name in Metrics.model_fields)
