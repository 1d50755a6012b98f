"""Request and response models of registration offices."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict, Field

from shared.text import ShortText

__all__ = ["OfficeCreate", "OfficePublic", "OfficeUpdate"]


class OfficeCreate(BaseModel):
    """An office registered by a platform admin: the auth organization id and the region it serves."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: uuid.UUID = Field(
        description="The office's organization id in the auth service (org_kind registration_office)."
    )
    region_code: ShortText = Field(description="GB/T 2260 code of the region served: a province, city or county.")
    name: ShortText = Field(min_length=1, max_length=200)


class OfficeUpdate(BaseModel):
    """Changes to an office (platform admin); only the fields given change."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    region_code: ShortText | None = None
    name: ShortText | None = Field(default=None, min_length=1, max_length=200)
    active: bool | None = None


class OfficePublic(BaseModel):
    """A registration office and the region it serves."""

    id: uuid.UUID
    region_code: str
    name: str
    active: bool
    created_at: dt.datetime
