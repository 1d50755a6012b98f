"""Request and response bodies of OAuth2 clients."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from shared.text import RequiredShortText

__all__ = [
    "CLIENT_ID_PATTERN",
    "SCOPE_PATTERN",
    "ClientCreate",
    "ClientPublic",
    "ClientUpdate",
    "ClientWithSecretPublic",
]

CLIENT_ID_PATTERN = r"^[a-z0-9][a-z0-9._-]{2,63}$"
# RFC 6749 scope tokens, narrowed to what our scopes look like: "search:ingest", "market:read".
SCOPE_PATTERN = re.compile(r"^[a-z][a-z0-9_.-]*(:[a-z0-9_.*-]+)*$")


def _scopes(value: list[str]) -> list[str]:
    for scope in value:
        if len(scope) > 64 or not SCOPE_PATTERN.match(scope):
            raise ValueError(f"{scope!r} is not a scope (e.g. market:read)")
    return sorted(set(value))


# A scope list, checked and sorted without repeats.
Scopes = Annotated[list[str], AfterValidator(_scopes)]


class ClientCreate(BaseModel):
    """POST /auth/clients."""

    model_config = ConfigDict(extra="forbid")

    client_id: str | None = Field(
        default=None, pattern=CLIENT_ID_PATTERN, description="Wanted client id; generated when absent."
    )
    name: RequiredShortText = Field(
        min_length=1, max_length=200, description="What the client is, e.g. 四川大学 TTO system."
    )
    scopes: Scopes = Field(default_factory=list, max_length=32, description="Scopes its tokens may carry.")
    organization_id: uuid.UUID | None = Field(
        default=None,
        description="The organization it acts for (its tokens carry that org's claims); org admins may only "
        "name their own, which is also the default for them.",
    )


class ClientUpdate(BaseModel):
    """PATCH /auth/clients/{client_id}: fields left out stay."""

    model_config = ConfigDict(extra="forbid")

    name: RequiredShortText | None = Field(default=None, min_length=1, max_length=200)
    scopes: Scopes | None = Field(default=None, max_length=32, description="The complete new scope list.")


class ClientPublic(BaseModel):
    """A client, without its secret."""

    client_id: str
    name: str
    scopes: list[str]
    organization_id: uuid.UUID | None
    created_at: dt.datetime
    disabled_at: dt.datetime | None


class ClientWithSecretPublic(ClientPublic):
    """A new client with its secret: shown once, stored only as a hash."""

    client_secret: str = Field(description="Shown only in this response.")
