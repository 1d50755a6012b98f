"""Request and response models of registration offices."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from shared.reference.codes import REGION_CODE_PATTERN, documented_pattern
from shared.text import ShortText

__all__ = ["OfficeCreate", "OfficeName", "OfficePublic", "OfficeUpdate"]

# The kernel's text rule (no control characters, no lone surrogates), trimmed; blank is too short.
OfficeName = Annotated[ShortText, Field(min_length=1, max_length=200)]
# Checked against the directory (it must be the organization's region); the pattern states its shape.
OfficeRegion = Annotated[ShortText, Field(json_schema_extra=documented_pattern(REGION_CODE_PATTERN))]


class OfficeCreate(BaseModel):
    """An office registered by a platform admin: a verified registration_office organization of the directory."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: uuid.UUID = Field(
        description="The office's organization id: a verified `registration_office` organization in market's "
        "organization directory."
    )
    region_code: OfficeRegion | None = Field(
        default=None,
        description="GB/T 2260 code of the region served; must be the organization's region in the directory "
        "(its default).",
    )
    name: OfficeName | None = Field(default=None, description="Default: the organization's name in the directory.")


class OfficeUpdate(BaseModel):
    """Changes to an office (platform admin); only the fields given change."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    region_code: OfficeRegion | None = Field(
        default=None, description="Only the organization's region in the directory (a repair, never a re-regioning)."
    )
    name: OfficeName | None = None
    active: StrictBool | None = Field(default=None, description="false: new submissions route elsewhere.")


class OfficePublic(BaseModel):
    """A registration office and the region it serves."""

    id: uuid.UUID
    region_code: str
    name: str
    active: bool
    created_at: dt.datetime
