"""Request and response models of registration offices."""

from __future__ import annotations

import datetime as dt
import unicodedata
import uuid
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool

from shared.text import normalize_text

__all__ = ["OfficeCreate", "OfficeName", "OfficePublic", "OfficeUpdate"]


def _office_name(value: str) -> str:
    # Until the kernel has one text rule for every service (issue 13, shared/text.py), office names refuse what
    # that rule refuses in short text: control characters (C0, DEL, C1) and lone surrogates.
    for ch in value:
        if unicodedata.category(ch) in ("Cc", "Cs"):
            raise ValueError(f"must not contain control characters or lone surrogates (U+{ord(ch):04X})")
    value = normalize_text(value)
    if not value:
        raise ValueError("must not be blank")
    return value


OfficeName = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_office_name)]


class OfficeCreate(BaseModel):
    """An office registered by a platform admin: a verified registration_office organization of the directory."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: uuid.UUID = Field(
        description="The office's organization id: a verified `registration_office` organization in market's "
        "organization directory."
    )
    region_code: str | None = Field(
        default=None,
        description="GB/T 2260 code of the region served; must be the organization's region in the directory "
        "(its default).",
    )
    name: OfficeName | None = Field(default=None, description="Default: the organization's name in the directory.")


class OfficeUpdate(BaseModel):
    """Changes to an office (platform admin); only the fields given change."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    region_code: str | None = Field(
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
