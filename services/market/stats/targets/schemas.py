"""Request and response schemas of /market/stats/targets, and the progress toward a target."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints

from shared.clock import IsoDate
from shared.text import ShortText

__all__ = [
    "AMOUNT_METRICS",
    "METRICS",
    "ORG_METRICS",
    "Metric",
    "Status",
    "TargetCreate",
    "TargetProgress",
    "TargetPublic",
    "TargetUpdate",
]

Metric = Literal[
    "contract_amount", "technology_amount", "contract_count", "demonstration_institutions", "certified_brokers"
]
METRICS: tuple[str, ...] = get_args(Metric)
AMOUNT_METRICS = frozenset({"contract_amount", "technology_amount"})
CONTRACT_METRICS = frozenset({*AMOUNT_METRICS, "contract_count"})
ORG_METRICS = frozenset({"demonstration_institutions", "certified_brokers"})
Status = Literal["not_started", "running", "ended"]
SICHUAN_CHONGQING = "川渝"

Name = Annotated[ShortText, StringConstraints(min_length=1, max_length=200)]
Source = Annotated[ShortText, StringConstraints(min_length=1, max_length=500)]
Region = Annotated[ShortText, StringConstraints(min_length=1, max_length=6)]
Value = Annotated[StrictInt, Field(gt=0, le=10**18)]

_NAME = "The target's name (Chinese text, up to 200 characters)."
_METRIC = (
    "What is counted: contract_amount / technology_amount (fen, 合同成交额 / 技术交易额), contract_count, "
    "demonstration_institutions (示范机构), certified_brokers (持证技术经纪人)."
)
_FROM = "First day of the period (Beijing date, inclusive)."
_TO = "Last day of the period (Beijing date, inclusive); not before period_from (else 422 naming period_to)."
_REGION = (
    "Seller region the target counts: a GB/T 2260 province, city or county code, or 川渝 (510000 and 500000); "
    "null = everywhere."
)
_ORG = "An organization of market's directory: the target counts its 1+4+N subtree (brokered contracts); null = all."
_VALUE = "What to reach: fen for contract_amount and technology_amount, a count otherwise (positive)."
_SOURCE = "Where the target comes from: the document and its article."


class TargetCreate(BaseModel):
    """A new target."""

    model_config = ConfigDict(extra="forbid")

    name: Name = Field(description=_NAME)
    metric: Metric = Field(description=_METRIC)
    period_from: IsoDate = Field(description=_FROM)
    period_to: IsoDate = Field(description=_TO)
    region: Region | None = Field(default=None, description=_REGION)
    organization_id: uuid.UUID | None = Field(default=None, description=_ORG)
    value: Value = Field(description=_VALUE)
    source: Source = Field(description=_SOURCE)


class TargetUpdate(BaseModel):
    """A partial update: only the fields sent change (region and organization_id may be set to null)."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = Field(default=None, description=_NAME)
    metric: Metric | None = Field(default=None, description=_METRIC)
    period_from: IsoDate | None = Field(default=None, description=_FROM)
    period_to: IsoDate | None = Field(default=None, description=_TO)
    region: Region | None = Field(default=None, description=_REGION)
    organization_id: uuid.UUID | None = Field(default=None, description=_ORG)
    value: Value | None = Field(default=None, description=_VALUE)
    source: Source | None = Field(default=None, description=_SOURCE)


class TargetPublic(BaseModel):
    """A target as stored."""

    id: uuid.UUID = Field(description="Target id.")
    name: str = Field(description=_NAME)
    metric: Metric = Field(description=_METRIC)
    period_from: dt.date = Field(description=_FROM)
    period_to: dt.date = Field(description="Last day of the period (Beijing date, inclusive).")
    region: str | None = Field(description=_REGION)
    organization_id: uuid.UUID | None = Field(description=_ORG)
    value: int = Field(description=_VALUE)
    value_display: str = Field(description="The value for people: 6000亿元, 50万元, 100.")
    source: str = Field(description=_SOURCE)
    created_at: dt.datetime = Field(description="When it was created (UTC).")
    created_by: str = Field(description="Who created it (user id; `system` for the seed).")
    updated_at: dt.datetime = Field(description="When it last changed (UTC).")
    updated_by: str = Field(description="Who last changed it (user id; `system` for the seed).")
    version: int = Field(description="Grows by one on every change; the ETag is built from it.")


class TargetProgress(BaseModel):
    """How far a target is reached today (Beijing)."""

    id: uuid.UUID = Field(description="Target id.")
    name: str = Field(description=_NAME)
    metric: Metric = Field(description=_METRIC)
    region: str | None = Field(description=_REGION)
    organization_id: uuid.UUID | None = Field(description=_ORG)
    period_from: dt.date = Field(description=_FROM)
    period_to: dt.date = Field(description="Last day of the period (Beijing date, inclusive).")
    value: int = Field(description=_VALUE)
    value_display: str = Field(description="The value for people: 6000亿元, 50万元, 100.")
    achieved: int = Field(
        description="Reached so far, in the unit of value: contract metrics sum the registered contracts (deltas "
        "by their effective dates) of the scope from period_from to min(today, period_to), exact to the fen; "
        "organization metrics count on min(today, period_to). 0 before the period starts."
    )
    share: str = Field(description="achieved / value as a decimal fraction (6 places, truncated).")
    days_left: int = Field(
        description="Days from today to period_to, both counted; 0 when ended; the whole period before it starts."
    )
    status: Status = Field(description="not_started, running or ended (by today's Beijing date).")
    source: str = Field(description=_SOURCE)
